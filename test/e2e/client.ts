/**
 * What a user's script would do against clipyard: HTTP calls, a WebSocket that collects a task's
 * events, and ffprobe on downloaded bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import type { TaskEvent, TaskSnapshot, WireMessage } from '../../src/protocol/task.ts';

export const baseUrl = (): string => inject('baseUrl');
export const mediaUrl = (name: string): string => `${inject('mediaBase')}/${name}`;

export async function api(pathname: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${baseUrl()}${pathname}`, { redirect: 'manual', ...init });
}

export async function createTask(
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ id: string; status: string }> {
  const res = await api('/api/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (res.status !== 202 && res.status !== 200) throw new Error(`create answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { id: string; status: string };
}

export async function snapshot(id: string): Promise<TaskSnapshot> {
  const res = await api(`/api/tasks/${id}`);
  if (!res.ok) throw new Error(`snapshot answered ${res.status}`);
  return (await res.json()) as TaskSnapshot;
}

export interface Watch {
  snapshots: TaskSnapshot[];
  events: TaskEvent[];
  /** Resolves when the socket closes (the server closes it after the task ends). */
  closed: Promise<{ code: number }>;
  /**
   * Resolves at the terminal status event (or the close, whichever comes first). Under wrangler dev
   * the close itself reaches a client 10-15 s after the last event, so most tests wait for this.
   */
  ended: Promise<void>;
  socket: WebSocket;
}

/** Subscribe over a real WebSocket and collect everything the server sends. */
export function watch(id: string, after = 0): Watch {
  const ws = new WebSocket(`${baseUrl().replace(/^http/, 'ws')}/api/tasks/${id}/events?after=${after}`);
  let end: () => void = () => {};
  const w: Watch = {
    snapshots: [],
    events: [],
    socket: ws,
    closed: Promise.resolve({ code: 0 }),
    ended: new Promise<void>((r) => {
      end = r;
    }),
  };
  w.closed = new Promise((resolve) => {
    ws.addEventListener('message', (m) => {
      const msg = JSON.parse(String(m.data)) as WireMessage;
      if (msg.type === 'snapshot') {
        w.snapshots.push(msg.snapshot);
        if (['succeeded', 'failed', 'canceled'].includes(msg.snapshot.status) && msg.snapshot.seq <= after) end();
      } else {
        w.events.push(msg.event);
        const e = msg.event;
        if (e.kind === 'status' && ['succeeded', 'failed', 'canceled'].includes(e.status)) end();
      }
    });
    ws.addEventListener('close', () => end());
    ws.addEventListener('close', (e) => resolve({ code: e.code }));
    ws.addEventListener('error', () => resolve({ code: -1 }));
  });
  return w;
}

/** Wait until the task reaches one of `statuses` (polling the snapshot). */
export async function waitForStatus(id: string, statuses: string[], timeoutMs = 60_000): Promise<TaskSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await snapshot(id);
    if (statuses.includes(s.status)) return s;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${s.status} (${s.message}) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function waitFor<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Probe {
  format: { duration?: string; format_name?: string };
  streams: { codec_type: string; codec_name: string; width?: number; height?: number }[];
}

export function ffprobeBytes(bytes: Uint8Array, ext: string): Probe {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-probe-'));
  try {
    const file = path.join(dir, `file.${ext}`);
    writeFileSync(file, bytes);
    const out = execFileSync('ffprobe', [
      '-v',
      'error',
      '-print_format',
      'json',
      '-show_format',
      '-show_streams',
      file,
    ]);
    return JSON.parse(out.toString()) as Probe;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Download an output the way a user would: follow the API's redirect to the signed link. */
export async function downloadOutput(
  id: string,
  name: string,
): Promise<{ res: Response; bytes: Uint8Array; link: string }> {
  const redirect = await api(`/api/tasks/${id}/outputs/${encodeURIComponent(name)}`);
  if (redirect.status !== 302) throw new Error(`output link answered ${redirect.status}: ${await redirect.text()}`);
  const link = redirect.headers.get('location')!;
  const res = await fetch(link);
  return { res, bytes: new Uint8Array(await res.arrayBuffer()), link };
}

/** The local link secret, to forge links a test needs (an expired one with a valid signature). */
export function devLinkSecret(): string {
  const text = readFileSync(path.resolve(import.meta.dirname, '../../.dev.vars'), 'utf8');
  return /^LINK_SECRET=(.+)$/m.exec(text)![1]!.trim();
}

/** Assert helpers for event streams. */
export function seqs(events: readonly TaskEvent[]): number[] {
  return events.map((e) => e.seq);
}
