/**
 * The local engine's lean host (scripts/local-engine.mjs): workerd runs under a Node process that
 * never loads Miniflare. That process stays small, a crashed workerd is started again with the same
 * configuration and state (as Miniflare restarts it), and a stop leaves neither workerd nor the
 * engine's bundle directory behind. An engine of its own, beside the suite's.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM helper shared with `npm start`
import { freePort, startWorker, stopProcess } from '../../scripts/system.mjs';

const lean =
  process.env.CLIPYARD_ENGINE !== 'wrangler' &&
  process.env.CLIPYARD_ENGINE_FRONT !== 'entry' &&
  process.env.CLIPYARD_ENGINE_HOST !== 'miniflare';

/** Child pids of `pid` whose command is `comm`. */
function children(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (Number(after[1]) === pid && name === comm) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

async function until<T>(f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.runIf(lean)('the local engine without Miniflare in its Node process', () => {
  let dir: string;
  let port: number;
  let engine: { pid: number };
  const base = () => `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-engine-'));
    port = await freePort();
    // a runner that is not there: the task waits for one, which is all this needs
    engine = await startWorker({ port, runnerUrl: `http://127.0.0.1:${await freePort()}`, persistTo: dir });
  });

  afterAll(async () => {
    await stopProcess(engine);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs one workerd under a Node process far smaller than one hosting Miniflare', async () => {
    expect(children(engine.pid, 'workerd')).toHaveLength(1);
    // with Miniflare loaded it held 130-150 MB; without, ~65 MB
    expect(rssMb(engine.pid)).toBeLessThan(100);
  });

  it('starts a crashed workerd again, with its state', async () => {
    const created = await fetch(`${base()}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { url: 'https://example.com/clip.mp4' }, steps: [{ op: 'probe' }] }),
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    const [first] = children(engine.pid, 'workerd');
    process.kill(first!, 'SIGKILL');
    const status = await until(async () => {
      const [next] = children(engine.pid, 'workerd');
      if (next === undefined || next === first) return undefined;
      const r = await fetch(`${base()}/api/tasks/${id}`);
      await r.body?.cancel();
      return r.status;
    }, 60_000);
    expect(status).toBe(200);
  });

  it('leaves neither workerd nor its bundle directory behind when stopped', async () => {
    const [running] = children(engine.pid, 'workerd');
    const bundles = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', '.wrangler', 'engine');
    const own = readdirSync(bundles).filter((d) => d.endsWith(`-${engine.pid}`));
    expect(own).toHaveLength(1);
    await stopProcess(engine);
    // killed at the engine's exit: gone once the kernel has torn it down and its new parent reaped it
    const gone = await until(async () => (existsSync(`/proc/${running}`) ? undefined : true), 5_000).catch(() => false);
    expect(gone).toBe(true);
    expect(existsSync(path.join(bundles, own[0]!))).toBe(false);
  });

  it('stops when workerd alone is told to stop, instead of starting it again', async () => {
    const other = (await startWorker({
      port: await freePort(),
      runnerUrl: `http://127.0.0.1:${await freePort()}`,
      persistTo: dir,
    })) as { pid: number; exitCode: number | null; once: (e: string, f: () => void) => void };
    const exited = new Promise<void>((r) => other.once('exit', r));
    const [w] = children(other.pid, 'workerd');
    process.kill(w!, 'SIGTERM');
    try {
      await Promise.race([exited, new Promise((_, no) => setTimeout(() => no(new Error('still running')), 20_000))]);
    } finally {
      await stopProcess(other);
    }
    expect(other.exitCode).toBe(0);
    expect(children(other.pid, 'workerd')).toEqual([]);
  });
});
