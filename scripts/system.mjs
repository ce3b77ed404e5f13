// Starts the whole local system: the media runner (a Node process using this machine's ffmpeg)
// and the Worker with its Durable Objects and a local R2 (on Miniflare by default, or wrangler dev),
// wired together by RUNNER_URL.
// Used by `npm start` and by the end-to-end tests, so both run exactly the same thing.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWorkerFilter } from './dev-output.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'node_modules', '.bin');
const NODE = existsSync(path.join(BIN, 'node')) ? path.join(BIN, 'node') : process.execPath;

/** A TCP port on 127.0.0.1 that was free a moment ago (for tests that start their own system). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Keep the local link-signing secret in .dev.vars (git-ignored) so links survive a restart. */
export function ensureDevVars() {
  const file = path.join(ROOT, '.dev.vars');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (/^LINK_SECRET=.+$/m.test(text)) return;
  writeFileSync(
    file,
    `${text}${text && !text.endsWith('\n') ? '\n' : ''}LINK_SECRET=${randomBytes(32).toString('hex')}\n`,
  );
}

function baseEnv(extra = {}) {
  return {
    ...process.env,
    PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_LOG_PATH: path.join(ROOT, '.wrangler', 'logs'),
    ...extra,
  };
}

async function waitFor(url, ms, proc, name) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with code ${proc.exitCode} while starting`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  throw new Error(`${name} did not answer at ${url} within ${ms} ms`);
}

function pipeOutput(proc, name, log) {
  if (!log) {
    proc.stdout?.resume();
    proc.stderr?.resume();
    return;
  }
  // The Worker's lines go through the terminal filter (dev-output.mjs): no cron notice, one line per request.
  const filter = name === 'worker' ? createWorkerFilter({ color: Boolean(process.stdout.isTTY) }) : (l) => l;
  const prefix = (chunk) =>
    chunk
      .toString()
      .split('\n')
      .map(filter)
      .filter(Boolean)
      .map((l) => `[${name}] ${l}\n`)
      .join('');
  proc.stdout?.on('data', (c) => log(prefix(c)));
  proc.stderr?.on('data', (c) => log(prefix(c)));
}

/** Start the media runner; resolves once /health answers. */
export async function startRunner({ port = 8788, allowHosts = '', env = {}, log, readyMs = 15_000 } = {}) {
  const proc = spawn(NODE, [path.join(ROOT, 'containers/ffmpeg/src/main.ts')], {
    cwd: ROOT,
    env: baseEnv({ PORT: String(port), HOST: '127.0.0.1', CLIPYARD_ALLOW_HOSTS: allowHosts, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeOutput(proc, 'runner', log);
  await waitFor(`http://127.0.0.1:${port}/health`, readyMs, proc, 'runner').catch(async (err) => {
    await stopProcess(proc);
    throw err;
  });
  return proc;
}

/**
 * Secrets for wrangler dev without putting them on its command line: .dev.vars plus `secrets`, in a
 * private file under .wrangler/ given as `--env-file` (wrangler then reads that instead of .dev.vars).
 */
function secretsFile(port, secrets) {
  const devVars = path.join(ROOT, '.dev.vars');
  const text = existsSync(devVars) ? readFileSync(devVars, 'utf8') : '';
  const extra = Object.entries(secrets)
    .map(([k, v]) => `${k}=${JSON.stringify(String(v))}`)
    .join('\n');
  const file = path.join(ROOT, '.wrangler', `dev-secrets-${port}.env`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${text}${text && !text.endsWith('\n') ? '\n' : ''}${extra}\n`, { mode: 0o600 });
  return file;
}

/**
 * The engines that can run the Worker locally: `miniflare` (scripts/local-engine.mjs: the deploy bundle
 * on Miniflare's API, no watcher or dev proxy) and `wrangler` (wrangler dev: rebuilds and reloads on
 * every edit). CLIPYARD_ENGINE picks one for every caller that does not name it.
 */
export const ENGINES = ['miniflare', 'wrangler'];
export const DEFAULT_ENGINE = ENGINES.includes(process.env.CLIPYARD_ENGINE) ? process.env.CLIPYARD_ENGINE : 'miniflare';

/**
 * Start the Worker on the chosen engine; resolves once it answers. `inspectorPort` (Miniflare engine
 * only; 0 = any free port) opens workerd's V8 inspector, announced as "inspector on <ws url>".
 * `secrets` never go on a command line: wrangler dev reads them from a private env file, the local
 * engine from its own environment.
 */
export async function startWorker({
  port = 8787,
  runnerUrl,
  allowHosts = '',
  vars = {},
  secrets = {},
  persistTo,
  log,
  config,
  engine = DEFAULT_ENGINE,
  inspectorPort,
} = {}) {
  ensureDevVars();
  // REQUEST_LOG: in a terminal only failed and slow requests are worth a line (see request-log.ts).
  // IDLE_RELEASE_MS: workerd keeps every idle object 10 s; an idle task leaves after this instead
  // (src/objects/idle-release.ts; bench/NOTES.md "Idle release" has what it saves).
  const allVars = {
    RUNNER_URL: runnerUrl,
    CLIPYARD_ALLOW_HOSTS: allowHosts,
    REQUEST_LOG: 'errors',
    IDLE_RELEASE_MS: process.env.CLIPYARD_IDLE_RELEASE_MS ?? '1000',
    ...vars,
  };
  if (persistTo) mkdirSync(persistTo, { recursive: true });
  let cmd;
  let envFile = null;
  const env = baseEnv();
  if (engine === 'miniflare') {
    cmd = [
      // The engine's Node process only runs workerd (workerd does the work; this one idles at ~0 CPU):
      // V8's lite mode (no optimizing compiler, lazy feedback) keeps its RSS at ~63 MB instead of ~77
      // (with Miniflare loaded in it, CLIPYARD_ENGINE_HOST=miniflare: ~140 MB instead of ~250).
      '--lite-mode',
      path.join(ROOT, 'scripts', 'local-engine.mjs'),
      JSON.stringify({ port, vars: allVars, persistTo, config, inspectorPort }),
    ];
    // read and removed from its environment by local-engine.mjs (a process's environment is private to its user)
    if (Object.keys(secrets).length) env.CLIPYARD_WORKER_SECRETS = JSON.stringify(secrets);
  } else {
    cmd = [
      path.join(BIN, 'wrangler'),
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--inspector-port',
      '0',
      '--show-interactive-dev-session=false',
      '--enable-containers=false',
      '--log-level',
      'warn',
    ];
    for (const [k, v] of Object.entries(allVars)) cmd.push('--var', `${k}:${v}`);
    // another wrangler config beside wrangler.toml (the bench's metered entry); default wrangler.toml
    if (config) cmd.push('--config', config);
    if (persistTo) cmd.push('--persist-to', persistTo);
    envFile = Object.keys(secrets).length ? secretsFile(port, secrets) : null;
    if (envFile) cmd.push('--env-file', envFile);
  }
  const proc = spawn(NODE, cmd, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  pipeOutput(proc, 'worker', log);
  if (envFile) proc.once('exit', () => rmSync(envFile, { force: true }));
  const name = engine === 'miniflare' ? 'the local engine (Miniflare)' : 'wrangler dev';
  await waitFor(`http://127.0.0.1:${port}/api/health`, 90_000, proc, name).catch(async (err) => {
    // an engine that never answered must not outlive the caller's failure
    await stopProcess(proc);
    throw err;
  });
  return proc;
}

/** Stop a process (and, for wrangler, its workerd children) and wait for it to exit. */
export async function stopProcess(proc, signal = 'SIGTERM') {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    process.kill(-proc.pid, signal);
  } catch {
    try {
      proc.kill(signal);
    } catch {
      /* gone */
    }
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      proc.kill('SIGKILL');
    }
  }, 5_000);
  await exited;
  clearTimeout(timer);
}
