// Starting and stopping the processes of a system under test: free ports, spawn with logs kept in
// bench/.work/logs, wait for readiness, and stop by process group.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
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

/**
 * One command to a redis-server on loopback, answered as text (enough for PING and INFO; no client
 * library in the app's own dependencies for this).
 */
export function redisCommand(port, ...words) {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    let text = '';
    s.once('error', reject);
    s.setTimeout(5_000, () => {
      s.destroy();
      reject(new Error('redis did not answer'));
    });
    s.connect(port, '127.0.0.1', () => {
      s.write(`*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`);
    });
    s.on('data', (d) => {
      text += d.toString();
      // a simple string (+PONG) or a bulk string ($<len>\r\n<body>\r\n) complete
      const bulk = /^\$(\d+)\r\n/.exec(text);
      if ((text.startsWith('+') || text.startsWith('-')) && text.endsWith('\r\n')) {
        s.destroy();
        resolve(text);
      } else if (bulk && Buffer.byteLength(text) >= bulk[0].length + Number(bulk[1]) + 2) {
        s.destroy();
        resolve(text.slice(bulk[0].length));
      }
    });
  });
}

/**
 * Keys Redis has changed since start (INFO persistence `rdb_changes_since_last_save`, never reset
 * here because RDB snapshots are off): the peers' counterpart of SQLite rows written.
 */
export async function redisChanges(port) {
  const info = await redisCommand(port, 'INFO', 'persistence');
  return Number(/rdb_changes_since_last_save:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

/**
 * Start a private redis-server on loopback. Persistence off by default; `aof` turns on the append-only
 * file with `appendfsync everysec` (the common production setting) in a fresh directory.
 */
export async function startRedis(name, { aof = false } = {}) {
  const port = await freePort();
  const dir = path.join(WORK, `redis-${name}-${port}`);
  mkdirSync(dir, { recursive: true });
  const persistence = aof ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no'];
  const proc = start(name, 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    ...persistence,
    '--protected-mode',
    'yes',
    '--maxmemory-policy',
    'noeviction',
  ]);
  proc.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await waitUntil(async () => (await redisCommand(port, 'PING')).includes('PONG'), 10_000, proc, 'redis-server');
  return { proc, port, url: `redis://127.0.0.1:${port}` };
}

/** Pin every live process of the given trees (all their threads) to one CPU, with taskset. */
export function pinTrees(roots, cpu, tree) {
  for (const { pid } of roots) {
    if (!pid) continue;
    for (const p of tree(pid)) spawnSync('taskset', ['-a', '-c', '-p', String(cpu), String(p)], { stdio: 'ignore' });
  }
}
