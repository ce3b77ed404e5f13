/**
 * One step of a task as one runner job: start it (or re-attach to it), read its NDJSON event stream
 * and hand each event to the task object, and move each announced output from the runner into R2.
 *
 * Used only by TaskObject. It never writes task state itself: the object's callbacks do, after
 * checking that this job is still the one the task is running (cancel or a stall may have replaced it).
 */
import { ClipyardError, type ErrorBody, isErrorCode } from '../protocol/errors.ts';
import type { Step } from '../protocol/ops.ts';
import {
  type ExtraInput,
  encodeJobHeader,
  JOB_HEADER,
  type JobLimits,
  type JobSpec,
  parseRunnerEvent,
  type RunnerEvent,
} from '../protocol/runner.ts';
import type { Runner } from './runner.ts';

/** Where a step's input comes from. */
export type StepInput = { kind: 'url'; url: string } | { kind: 'r2'; key: string; filename: string };

/**
 * A further input a step needs (render's slides and subtitles), under the name the runner's op knows.
 * `label` names it in errors (`steps[2].images[1]`).
 */
export type StepExtra =
  | { name: string; label: string; kind: 'url'; url: string }
  | { name: string; label: string; kind: 'r2'; key: string; filename: string };

export type StepOutcome = { kind: 'done' } | { kind: 'error'; error: ErrorBody } | { kind: 'aborted' };

export interface StepJobHooks {
  /** Called for every event with seq > the last one handled; resolves once it is recorded. */
  onEvent(event: Exclude<RunnerEvent, { type: 'heartbeat' }>): Promise<void> | void;
  /** Any line from the runner, heartbeats included: proof of life for the watchdog. */
  onContact(): void;
}

export interface StepJobOptions {
  runner: Runner;
  bucket: R2Bucket;
  jobId: string;
  step: Step;
  input: StepInput;
  extras?: readonly StepExtra[];
  /** Media limits the runner enforces for this job. */
  limits?: JobLimits;
  /** True when the job was already started (re-attach instead of POST). */
  started: boolean;
  /** The last runner seq already handled. */
  after: number;
  signal: AbortSignal;
  /** Called once the runner has accepted the job, before reading events. */
  onStarted(): void;
}

function errorFrom(err: unknown, fallback: ErrorBody): ErrorBody {
  if (err instanceof ClipyardError) return err.toBody();
  return fallback;
}

async function errorFromResponse(res: Response): Promise<ErrorBody> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const e = (body as { error?: Partial<ErrorBody> } | null)?.error;
  if (e && isErrorCode(e.code)) {
    return { code: e.code, message: String(e.message ?? e.code), retryable: Boolean(e.retryable) };
  }
  const retryable = res.status >= 500 || res.status === 429;
  return { code: retryable ? 'runner.crashed' : 'internal', message: `runner answered ${res.status}`, retryable };
}

/**
 * Start a job whose R2 inputs are several files: the main input (when in R2) and each R2 extra go
 * back to back in one streamed body, each declared with its size (see src/protocol/runner.ts). The
 * objects are opened one at a time while the body streams.
 */
async function startMultiInputJob(o: StepJobOptions, extras: readonly StepExtra[]): Promise<Response | ErrorBody> {
  const parts: { key: string; label: string }[] = [];
  let input: JobSpec['input'];
  if (o.input.kind === 'r2') {
    const head = await o.bucket.head(o.input.key);
    if (!head)
      return { code: 'input.missing', message: `input ${o.input.filename} is no longer stored`, retryable: false };
    input = { kind: 'body', filename: o.input.filename, size: head.size };
    parts.push({ key: o.input.key, label: o.input.filename });
  } else input = { kind: 'url', url: o.input.url };
  const extraInputs: ExtraInput[] = [];
  let total = input.kind === 'body' ? (input.size ?? 0) : 0;
  for (const e of extras) {
    if (e.kind === 'url') {
      extraInputs.push({ name: e.name, kind: 'url', url: e.url });
      continue;
    }
    const head = await o.bucket.head(e.key);
    if (!head) return { code: 'input.missing', message: `${e.label}: ${e.filename} is not stored`, retryable: false };
    extraInputs.push({ name: e.name, kind: 'body', filename: e.filename, size: head.size });
    parts.push({ key: e.key, label: e.label });
    total += head.size;
  }
  const spec: JobSpec = { jobId: o.jobId, step: o.step, input, extraInputs, ...(o.limits ? { limits: o.limits } : {}) };
  const { readable, writable } = new FixedLengthStream(total);
  const pump = async () => {
    for (const p of parts) {
      const object = await o.bucket.get(p.key);
      if (!object) throw new Error(`${p.label} vanished from storage`);
      await object.body.pipeTo(writable, { preventClose: true });
    }
    await writable.close();
  };
  const pumping = pump().catch((err: unknown) => writable.abort(err).catch(() => {}));
  let res: Response;
  try {
    res = await o.runner.fetch('/jobs', {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(total),
        [JOB_HEADER]: encodeJobHeader(spec),
      },
      body: readable,
      signal: o.signal,
    });
  } catch (err) {
    // Nobody reads the body any more: stop the pump so it does not wait forever.
    await writable.abort(err).catch(() => {});
    throw err;
  }
  // The runner answers 202 only after the whole body arrived; any other answer may leave it unread.
  if (res.ok) await pumping;
  else await writable.abort(new Error(`runner answered ${res.status}`)).catch(() => {});
  return res;
}

async function startJob(o: StepJobOptions): Promise<ErrorBody | null> {
  const extras = o.extras ?? [];
  if (extras.some((e) => e.kind === 'r2')) {
    const res = await startMultiInputJob(o, extras);
    if (!(res instanceof Response)) return res;
    if (res.ok) {
      await res.body?.cancel();
      return null;
    }
    return errorFromResponse(res);
  }
  const urlExtras: ExtraInput[] = extras.flatMap((e) =>
    e.kind === 'url' ? [{ name: e.name, kind: 'url', url: e.url }] : [],
  );
  const spec: JobSpec = {
    jobId: o.jobId,
    step: o.step,
    input: o.input.kind === 'url' ? { kind: 'url', url: o.input.url } : { kind: 'body', filename: o.input.filename },
    ...(urlExtras.length ? { extraInputs: urlExtras } : {}),
    ...(o.limits ? { limits: o.limits } : {}),
  };
  let res: Response;
  if (o.input.kind === 'url') {
    res = await o.runner.fetch('/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(spec),
      signal: o.signal,
    });
  } else {
    const object = await o.bucket.get(o.input.key);
    if (!object)
      return { code: 'input.missing', message: `input ${o.input.filename} is no longer stored`, retryable: false };
    spec.input = { kind: 'body', filename: o.input.filename, size: object.size };
    res = await o.runner.fetch('/jobs', {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(object.size),
        [JOB_HEADER]: encodeJobHeader(spec),
      },
      body: object.body,
      signal: o.signal,
    });
  }
  if (res.ok) {
    await res.body?.cancel();
    return null;
  }
  return errorFromResponse(res);
}

/**
 * Run (or re-attach to) the job until it ends, the stream breaks, or `signal` aborts.
 * A broken stream or a runner that forgot the job is a retryable failure of this attempt.
 */
export async function runStepJob(o: StepJobOptions, hooks: StepJobHooks): Promise<StepOutcome> {
  try {
    if (!o.started) {
      const err = await startJob(o);
      if (err) return { kind: 'error', error: err };
      // The runner accepted the job: that answer is contact. A re-attach has heard nothing yet.
      hooks.onContact();
    }
    o.onStarted();

    const res = await o.runner.fetch(`/jobs/${encodeURIComponent(o.jobId)}/events?after=${o.after}`, {
      signal: o.signal,
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return {
        kind: 'error',
        error: {
          code: 'runner.job_lost',
          message: 'the media runner no longer knows this job (it restarted?)',
          retryable: true,
        },
      };
    }
    if (!res.ok || !res.body) return { kind: 'error', error: await errorFromResponse(res) };

    let last = o.after;
    let buffer = '';
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
        if (!line) continue;
        const event = parseRunnerEvent(line);
        hooks.onContact();
        if (!event || event.type === 'heartbeat' || event.seq <= last) continue;
        last = event.seq;
        await hooks.onEvent(event);
        if (o.signal.aborted) return { kind: 'aborted' };
        if (event.type === 'done') {
          await reader.cancel().catch(() => {});
          return { kind: 'done' };
        }
        if (event.type === 'error') {
          await reader.cancel().catch(() => {});
          return { kind: 'error', error: { code: event.code, message: event.message, retryable: event.retryable } };
        }
      }
    }
    return {
      kind: 'error',
      error: { code: 'runner.crashed', message: 'the media runner stopped mid-job', retryable: true },
    };
  } catch (err) {
    if (o.signal.aborted) return { kind: 'aborted' };
    return {
      kind: 'error',
      error: errorFrom(err, {
        code: 'runner.crashed',
        message: `lost the media runner: ${String(err)}`,
        retryable: true,
      }),
    };
  }
}

/**
 * Copy one output file from the runner into R2. Streams; never buffers the file. `onBytes` is called
 * as each chunk arrives: while a large output moves, the job's event stream is not being read, so
 * the bytes themselves are the runner's proof of life for the stall watchdog.
 */
export async function storeOutput(
  runner: Runner,
  bucket: R2Bucket,
  jobId: string,
  runnerName: string,
  key: string,
  contentType: string,
  signal: AbortSignal,
  onBytes: () => void = () => {},
): Promise<number> {
  const res = await runner.fetch(`/jobs/${encodeURIComponent(jobId)}/outputs/${encodeURIComponent(runnerName)}`, {
    signal,
  });
  if (!res.ok || !res.body) {
    throw new ClipyardError('runner.crashed', `could not fetch output ${runnerName} (${res.status})`, {
      retryable: true,
    });
  }
  const size = Number(res.headers.get('content-length'));
  if (!Number.isFinite(size) || size < 0) {
    throw new ClipyardError('runner.crashed', `output ${runnerName} has no length`, { retryable: true });
  }
  onBytes();
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      onBytes();
      controller.enqueue(chunk);
    },
  });
  const body = res.body.pipeThrough(counted).pipeThrough(new FixedLengthStream(size));
  try {
    await bucket.put(key, body, { httpMetadata: { contentType } });
  } catch (err) {
    throw new ClipyardError('storage.failed', `could not store ${runnerName}: ${String(err)}`, { retryable: true });
  }
  return size;
}
