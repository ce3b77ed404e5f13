/**
 * The real system under fault: wrangler dev + the media runner + a media server, on free ports, in
 * processes this test file owns so it can kill -9, SIGSTOP and restart them. The Worker keeps its
 * state in a directory of its own, so a restart of wrangler dev finds the tasks where they were.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error plain ESM helper shared with `npm start`
import { freePort, startRunner, startWorker, stopProcess } from '../../scripts/system.mjs';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { makeTestClip } from '../fixtures.ts';
import { type ChaosMediaServer, startChaosMediaServer } from './media-server.ts';

/** Short timeouts so faults show within seconds (production defaults are 30 s and 2/5/10 s). */
export const CHAOS_VARS = {
  STALL_TIMEOUT_MS: '3000',
  RETRY_DELAYS_MS: '300,1500,2000',
  MAX_ATTEMPTS: '10',
  MAX_CONCURRENT_TASKS: '8',
};

/** clip.mp4: 10 s 720p (downloads, audio); short.mp4: 4 s 360p, slow to upscale to 1080p high. */
function makeMedia(dir: string): void {
  makeTestClip(path.join(dir, 'clip.mp4'), '1280x720', 10);
  makeTestClip(path.join(dir, 'short.mp4'), '640x360', 4);
}

const verbose = process.env.CLIPYARD_CHAOS_VERBOSE ? (s: string) => process.stderr.write(s) : undefined;

export class ChaosSystem {
  readonly dir: string;
  media!: ChaosMediaServer;
  runner!: ChildProcess;
  worker!: ChildProcess;
  port = 0;
  runnerPort = 0;

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-chaos-'));
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  mediaUrl(name: string): string {
    return `${this.media.base}/${name}`;
  }

  async start(): Promise<void> {
    makeMedia(this.dir);
    this.media = await startChaosMediaServer(this.dir);
    [this.port, this.runnerPort] = [await freePort(), await freePort()];
    // If this test process dies without its teardown, take wrangler dev (its own process group) along.
    process.once('exit', () => {
      for (const p of [this.worker, this.runner]) {
        try {
          if (p?.pid) process.kill(-p.pid, 'SIGKILL');
        } catch {
          /* not a group leader, or gone */
        }
      }
    });
    const started = await Promise.allSettled([this.startRunner(), this.startWorker()]);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
  }

  async startRunner(): Promise<void> {
    this.runner = await startRunner({
      port: this.runnerPort,
      allowHosts: '127.0.0.1',
      // a busy machine can take long to start Node and look up the tools' versions
      readyMs: 60_000,
      // A jobs directory of our own: the runner empties it when it starts.
      env: { JOBS_DIR: path.join(this.dir, 'jobs'), KILL_GRACE_MS: '1500', RUNNER_CAPACITY: '4' },
      log: verbose,
    });
  }

  /** Start wrangler dev (again, after a stop: same port, same state); `vars` override CHAOS_VARS. */
  async startWorker(vars: Record<string, string> = {}): Promise<void> {
    this.worker = await startWorker({
      port: this.port,
      runnerUrl: `http://127.0.0.1:${this.runnerPort}`,
      allowHosts: '127.0.0.1',
      persistTo: path.join(this.dir, 'state'),
      vars: { ...CHAOS_VARS, ...vars },
      log: verbose,
    });
  }

  /** kill -9 the runner: no shutdown handler runs, its children are orphaned like in a crash. */
  killRunner(): number[] {
    const orphans = childrenOf(this.runner.pid!);
    process.kill(this.runner.pid!, 'SIGKILL');
    return orphans;
  }

  async stopWorker(): Promise<void> {
    await stopProcess(this.worker);
  }

  async stop(): Promise<void> {
    await stopProcess(this.worker);
    if (this.runner?.pid) {
      try {
        process.kill(this.runner.pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
    await stopProcess(this.runner);
    await this.media?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async api(pathname: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.baseUrl}${pathname}`, { redirect: 'manual', ...init });
  }

  async create(body: unknown, headers: Record<string, string> = {}): Promise<string> {
    const res = await this.api('/api/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    if (res.status !== 202 && res.status !== 200) throw new Error(`create answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  }

  async snapshot(id: string): Promise<TaskSnapshot> {
    const res = await this.api(`/api/tasks/${id}`);
    if (!res.ok) throw new Error(`snapshot answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as TaskSnapshot;
  }

  /** Poll the snapshot until `pred` holds. */
  async until(id: string, pred: (s: TaskSnapshot) => boolean, timeoutMs = 60_000): Promise<TaskSnapshot> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.snapshot(id);
      if (pred(s)) return s;
      if (Date.now() > deadline) {
        throw new Error(`task ${id}: condition not met in ${timeoutMs} ms; now ${s.status} (${s.message})`);
      }
      await sleep(100);
    }
  }

  /** The files in one of the runner's job directories. */
  jobFiles(dir: string): string[] {
    try {
      return readdirSync(path.join(this.dir, 'jobs', dir));
    } catch {
      return [];
    }
  }

  /** The job directories the runner still holds on disk. */
  jobDirs(): string[] {
    try {
      return readdirSync(path.join(this.dir, 'jobs'));
    } catch {
      return [];
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Direct children of a process, from the process table (/proc). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces, so read after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** The command name of a process, or null when it is gone (or a zombie). */
export function commandOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return null;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return null;
  }
}

/** Media tools among a process's children (yt-dlp runs as python, so match the command line). */
export function mediaChildren(pid: number): { pid: number; cmd: string }[] {
  return childrenOf(pid)
    .map((p) => ({ pid: p, cmd: commandOf(p) ?? '' }))
    .filter((p) => /ffmpeg|ffprobe|yt-dlp/.test(p.cmd));
}
