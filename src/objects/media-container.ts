/**
 * MediaContainer: the Cloudflare Containers binding for the media runner (containers/ffmpeg), one
 * instance per task (runner.ts names it by the task id).
 *
 * The Container base class owns this object's alarm, which is why the task's watchdog lives in
 * TaskObject instead. What this class adds is keeping a busy runner awake and saying why it stopped:
 *  - The task object renews the activity timeout on every watchdog tick while a job runs. As a second
 *    guard, when the timeout expires anyway, the runner is asked whether it still has jobs and is
 *    kept awake if so: long ffmpeg runs have been stopped mid-job by inactivity timeouts.
 *  - A stop mid-job (a crash, an out-of-memory kill, a redeploy's SIGTERM) breaks the task object's
 *    event stream, which its retry policy records as a retryable `runner.crashed`. The stop is logged
 *    here with the exit code so the cause can be found.
 */
import { Container, type StopParams } from '@cloudflare/containers';
import type { RunnerHealth } from '../protocol/runner.ts';
import { recordRunnerFailure } from './runner.ts';

export const RUNNER_PORT = 8080;
/** How long an idle runner stays up; renewed while a job runs. */
export const SLEEP_AFTER = '5m';
const HEALTH_TIMEOUT_MS = 3_000;

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
  console[level === 'info' ? 'log' : level](JSON.stringify({ level, msg, component: 'media-container', ...fields }));
}

/** Worker vars the runner reads too (see containers/ffmpeg/src/config.ts), passed through when set. */
export const RUNNER_VARS = [
  'CLIPYARD_ALLOW_HOSTS',
  'MAX_INPUT_BYTES',
  'MAX_OUTPUT_BYTES',
  'JOB_TIMEOUT_MS',
  'RUNNER_CAPACITY',
  // The transcription engine: pocketsphinx (default, offline) or workers-ai with its account and token.
  'TRANSCRIBE_ENGINE',
  'CF_ACCOUNT_ID',
  'CF_AI_TOKEN',
] as const;

/** The runner's environment: where to listen, and the limits and host allowance the Worker has. */
export function runnerEnvVars(env: Partial<Record<(typeof RUNNER_VARS)[number], string>>): Record<string, string> {
  const vars: Record<string, string> = { HOST: '0.0.0.0', PORT: String(RUNNER_PORT) };
  for (const name of RUNNER_VARS) {
    const value = env[name];
    if (typeof value === 'string' && value !== '') vars[name] = value;
  }
  return vars;
}

export class MediaContainer extends Container<Env> {
  override defaultPort = RUNNER_PORT;
  override sleepAfter = SLEEP_AFTER;
  override envVars: Record<string, string>;

  constructor(ctx: ConstructorParameters<typeof Container>[0], env: Env) {
    super(ctx, env);
    this.envVars = runnerEnvVars(env as unknown as Record<string, string | undefined>);
  }

  private get task(): string {
    return this.ctx.id.name ?? this.ctx.id.toString();
  }

  override onStart(): void {
    log('info', 'runner container started', { task: this.task });
  }

  override onStop(params: StopParams): void {
    const clean = params.exitCode === 0 && params.reason === 'exit';
    if (!clean) {
      void recordRunnerFailure(
        this.env.BUCKET,
        'runner.crashed',
        `a runner container stopped (${params.reason}, exit ${params.exitCode})`,
      );
    }
    log(clean ? 'info' : 'warn', 'runner container stopped', {
      task: this.task,
      exitCode: params.exitCode,
      reason: params.reason,
    });
  }

  override onError(error: unknown): unknown {
    log('error', 'runner container error', { task: this.task, error: String(error) });
    throw error;
  }

  /** Sleep only when the runner has no job in flight; otherwise renew and look again later. */
  override async onActivityExpired(): Promise<void> {
    // Asking a stopped container for its health would start it again.
    if (!this.ctx.container?.running) return;
    let active: number | null = null;
    try {
      const res = await this.containerFetch(
        new Request('http://runner/health', { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) }),
      );
      if (res.ok) active = ((await res.json()) as RunnerHealth).activeJobs;
    } catch {
      active = null;
    }
    if (active && active > 0) {
      log('info', 'runner busy at its idle timeout; kept awake', { task: this.task, activeJobs: active });
      this.renewActivityTimeout();
      return;
    }
    await this.stop();
  }
}
