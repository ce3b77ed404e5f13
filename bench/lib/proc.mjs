// Starting and stopping the processes of a system under test: free ports, spawn with logs kept in
// bench/.work/logs, wait for readiness, and stop by process group.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(BENCH, '..');
export const WORK = path.join(BENCH, '.work');
export const LOGS = path.join(WORK, 'logs');
/** No single request of the bench waits longer than this (a wedged system fails the scenario, not the run). */
export const REQUEST_TIMEOUT_MS = 60_000;

/** A port that was free a moment ago on loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Spawn a long-running process in its own process group; stdout/stderr go to a log file. */
export function start(name, cmd, args, opts = {}) {
  mkdirSync(LOGS, { recursive: true });
  const log = createWriteStream(path.join(LOGS, `${name}.log`), { flags: 'a' });
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  proc.benchName = name;
  return proc;
}

/** Poll `check()` until it resolves truthy, the process exits, or `ms` pass. */
export async function waitUntil(check, ms, proc, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${what} exited (${proc.exitCode}); see bench/.work/logs`);
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what} was not ready within ${ms} ms; see bench/.work/logs`);
}

export async function httpReady(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  await res.body?.cancel();
  return res.status < 500;
}

/** SIGTERM the process group, SIGKILL after 5 s; resolves when it has exited. */
export async function stop(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  const kill = (sig) => {
    try {
      process.kill(-proc.pid, sig);
    } catch {
      try {
        proc.kill(sig);
      } catch {
        /* gone */
      }
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Start a private redis-server on loopback (no persistence). */
export async function startRedis(name) {
  const port = await freePort();
  const proc = start(name, 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'yes',
    '--maxmemory-policy',
    'noeviction',
  ]);
  const { Socket } = await import('node:net');
  await waitUntil(
    () =>
      new Promise((resolve) => {
        const s = new Socket();
        s.once('error', () => resolve(false));
        s.connect(port, '127.0.0.1', () => {
          s.write('PING\r\n');
          s.once('data', (d) => {
            s.destroy();
            resolve(d.toString().includes('PONG'));
          });
        });
      }),
    10_000,
    proc,
    'redis-server',
  );
  return { proc, port, url: `redis://127.0.0.1:${port}` };
}
