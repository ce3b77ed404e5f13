/**
 * The typed clipyard client (`import { Clipyard } from 'clipyard/client'`): create tasks, watch them
 * live over the WebSocket (reconnecting with `after`), wait with progress callbacks, download
 * outputs, cancel, retry, delete, upload inputs, and batches of tasks (batches.ts). Used by the CLI
 * (src/cli) and by anyone's code; runs in Node 22+, browsers and Workers (standard fetch and WebSocket).
 *
 * Request and response types come from src/protocol, the same ones the server is built on.
 */
import type { z } from 'zod';
import type {
  createTaskSchema,
  TaskEvent,
  TaskListEntry,
  TaskSnapshot,
  TaskStatus,
  WireMessage,
} from '../protocol/task.ts';
import { isTerminalStatus, parseWireMessage } from '../protocol/task.ts';
import { Batches } from './batches.ts';
import { apiError, ClipyardConnectionError } from './errors.ts';
import type { SubscribeOptions } from './subscribe.ts';
import {
  initialState,
  progressOf,
  sameProgress,
  stateWithEvent,
  stateWithSnapshot,
  type TaskProgress,
  type TaskState,
} from './task-state.ts';
import { combine, enc, Transport, untilFinished } from './transport.ts';
import { type Upload, type UploadOptions, uploadFile } from './uploads.ts';

export type { BatchChild, BatchEvent, BatchSnapshot, BatchStatus, BatchWireMessage } from '../protocol/batch.ts';
export type { ErrorBody, ErrorCode } from '../protocol/errors.ts';
export type { Step } from '../protocol/ops.ts';
export type {
  OutputInfo,
  TaskEvent,
  TaskInput,
  TaskListEntry,
  TaskSnapshot,
  TaskStatus,
  WireMessage,
} from '../protocol/task.ts';
export { applyBatchEvent, isBatchFinished } from './batch-state.ts';
export type { BatchWaitOptions, CreatedBatch } from './batches.ts';
export { ClipyardApiError, ClipyardConnectionError } from './errors.ts';
export { type ConnectionChange, SubscriptionControl } from './subscribe.ts';
export {
  applyEvent,
  initialState,
  type LiveNumbers,
  liveAfter,
  progressOf,
  sameProgress,
  stateWithEvent,
  stateWithSnapshot,
  type TaskProgress,
  type TaskState,
} from './task-state.ts';
export { MULTIPART_THRESHOLD_BYTES, type Upload, type UploadOptions } from './uploads.ts';

/** The body of POST /api/tasks, as a caller writes it (options with defaults may be left out). */
export type TaskRequest = z.input<typeof createTaskSchema>;

export interface CreatedTask {
  id: string;
  status: TaskStatus;
  /** false when an Idempotency-Key matched a task created earlier */
  created: boolean;
  links: { self: string; events: string; web: string };
  task: TaskSnapshot;
}

export interface ClipyardOptions {
  /** the server, e.g. `https://clipyard.example.com` (default http://127.0.0.1:8787) */
  url?: string;
  /** one of the server's API_KEYS, when it has them */
  apiKey?: string;
  fetch?: typeof fetch;
  /** a WebSocket implementation; passing one makes live events use it */
  WebSocket?: typeof WebSocket;
  /**
   * How live events travel: 'websocket', or 'sse' (Server-Sent Events over fetch). Default: 'sse' in
   * Node, so a script exits the moment it has its result, and 'websocket' elsewhere (or when a
   * WebSocket is passed).
   */
  events?: 'websocket' | 'sse';
}

export interface WatchOptions extends Omit<SubscribeOptions, 'WebSocket' | 'beforeReconnect'> {}

export interface WaitOptions extends WatchOptions {
  /** called with the task's state after every snapshot and event */
  onProgress?: (progress: TaskProgress) => void;
  /** called with every event, once, in order */
  onEvent?: (event: TaskEvent) => void;
  /** give up (throwing a TimeoutError) after this long */
  timeoutMs?: number;
}

export const DEFAULT_URL = 'http://127.0.0.1:8787';

/** A wrong argument, named for an error message: `an object ({"name":…})`, `undefined`, `a number (3)`. */
function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'string') return v === '' ? 'an empty string' : `a string (${JSON.stringify(v.slice(0, 40))})`;
  if (typeof v === 'object') {
    let json = '';
    try {
      json = JSON.stringify(v)?.slice(0, 60) ?? '';
    } catch {
      /* circular */
    }
    const name = v.constructor?.name;
    return `${name && name !== 'Object' ? `a ${name}` : 'an object'}${json ? ` (${json})` : ''}`;
  }
  return `a ${typeof v} (${String(v)})`;
}

export class Clipyard {
  readonly url: string;
  /** Many tasks at once: create, get, watch, wait, archive. */
  readonly batches: Batches<TaskRequest>;
  private readonly t: Transport;

  constructor(options: ClipyardOptions = {}) {
    this.t = new Transport(
      options.url ?? DEFAULT_URL,
      options.apiKey,
      options.fetch ?? ((...args) => fetch(...args)),
      options.WebSocket,
      options.events,
    );
    this.url = this.t.url;
    this.batches = new Batches(this.t);
  }

  /** Create a task; answers at once (202; 200 with `created: false` for an Idempotency-Key replay). */
  async create(body: TaskRequest, opts: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<CreatedTask> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
    return this.t.json<CreatedTask>('POST', '/api/tasks', {
      body: JSON.stringify(body),
      headers,
      signal: opts.signal,
    });
  }

  /** The task's snapshot: status, stage, progress, steps, outputs with fresh signed links, error. */
  get(id: string, opts: { signal?: AbortSignal } = {}): Promise<TaskSnapshot> {
    return this.t.json('GET', `/api/tasks/${enc(id)}`, opts);
  }

  /** This tenant's tasks, newest first; pass the returned cursor for the next page. */
  list(
    query: { status?: TaskStatus; q?: string; limit?: number; cursor?: string } = {},
  ): Promise<{ tasks: TaskListEntry[]; cursor: string | null }> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.size ? `?${params}` : '';
    return this.t.json('GET', `/api/tasks${qs}`);
  }

  /** Stop the runner's processes; the task ends `canceled`. */
  cancel(id: string): Promise<TaskSnapshot> {
    return this.t.json('POST', `/api/tasks/${enc(id)}/cancel`);
  }

  /** Run a failed or canceled task again from its first unfinished step. */
  retry(id: string): Promise<TaskSnapshot> {
    return this.t.json('POST', `/api/tasks/${enc(id)}/retry`);
  }

  /** Delete the task, its outputs and their links. */
  async delete(id: string): Promise<void> {
    const res = await this.t.request('DELETE', `/api/tasks/${enc(id)}`);
    if (!res.ok) throw await apiError(res, 'DELETE /api/tasks/:id');
  }

  /**
   * Upload an input file; use the answer's `input` as a task input:
   * `const { input } = await cy.upload(await fs.openAsBlob('talk.mov'), 'talk.mov')`.
   * `file` is a Blob (a browser File, Node's `fs.openAsBlob`), a Uint8Array/Buffer or an
   * ArrayBuffer; `filename` names it (its extension helps, the content is sniffed). Large files (over
   * 32 MiB) go in parts through the multipart protocol; `onProgress` reports the bytes sent.
   * Throws a TypeError for anything else, before sending a byte.
   */
  upload(file: Blob | Uint8Array | ArrayBuffer, filename: string, opts: UploadOptions = {}): Promise<Upload> {
    const isBytes = file instanceof Blob || file instanceof Uint8Array || file instanceof ArrayBuffer;
    if (!isBytes) {
      return Promise.reject(
        new TypeError(`upload(file, filename): file must be a Blob, Uint8Array or ArrayBuffer, not ${describe(file)}`),
      );
    }
    if (typeof filename !== 'string' || filename.trim() === '') {
      return Promise.reject(
        new TypeError(`upload(file, filename): filename must be a non-empty string, not ${describe(filename)}`),
      );
    }
    if (opts === null || typeof opts !== 'object') {
      return Promise.reject(new TypeError(`upload(file, filename, options): options must be an object`));
    }
    const blob = file instanceof Blob ? file : new Blob([file instanceof Uint8Array ? file : new Uint8Array(file)]);
    return uploadFile(this.t, blob, filename, opts);
  }

  /** A fresh signed link to an output (valid for the server's LINK_TTL_SECONDS). */
  async outputUrl(id: string, name: string): Promise<string> {
    const res = await this.t.request('GET', `/api/tasks/${enc(id)}/outputs/${enc(name)}`, { redirect: 'manual' });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) return new URL(location, this.url).href;
    throw await apiError(res, 'GET /api/tasks/:id/outputs/:name');
  }

  /** Download an output: the Response of its signed link (stream `body`, or `arrayBuffer()`). */
  async download(id: string, name: string, opts: { signal?: AbortSignal; range?: string } = {}): Promise<Response> {
    const link = await this.outputUrl(id, name);
    let res: Response;
    try {
      res = await this.t.fetchImpl(link, {
        signal: opts.signal,
        ...(opts.range ? { headers: { range: opts.range } } : {}),
      });
    } catch (err) {
      throw new ClipyardConnectionError(link, err);
    }
    if (!res.ok) throw await apiError(res, 'GET /files');
    return res;
  }

  /** Server health: storage and runner status, with the caller's queue counts. */
  async health(): Promise<{ ok: boolean; components: Record<string, unknown>; queue: Record<string, number> | null }> {
    const res = await this.t.request('GET', '/api/health');
    if (res.status !== 200 && res.status !== 503) throw await apiError(res, 'GET /api/health');
    return (await res.json()) as {
      ok: boolean;
      components: Record<string, unknown>;
      queue: Record<string, number> | null;
    };
  }

  /**
   * Every wire message of a task: a snapshot on each (re)connect, then each event once, in order.
   * Reconnects with `after` when the connection drops; ends once the task has ended.
   */
  watch(id: string, opts: WatchOptions = {}): AsyncGenerator<WireMessage> {
    const messages = this.t.subscribe(
      `/api/tasks/${enc(id)}/events`,
      parseWireMessage,
      () => this.get(id, { signal: opts.signal }),
      opts,
    );
    return untilFinished(messages, opts.after ?? 0, (m) => {
      if (m.type === 'snapshot') return isTerminalStatus(m.snapshot.status) ? m.snapshot.seq : null;
      if (m.event.kind === 'status') return isTerminalStatus(m.event.status) ? m.event.seq : null;
      return undefined;
    });
  }

  /**
   * Wait until the task ends, reporting progress on the way; resolves with its final snapshot
   * (status `succeeded`, `failed` or `canceled`; a failed task's snapshot carries its `error`).
   */
  async wait(id: string, opts: WaitOptions = {}): Promise<TaskSnapshot> {
    const signal = combine(opts.signal, opts.timeoutMs);
    let state: TaskState | null = null;
    let last: TaskProgress | null = null;
    const report = () => {
      if (!state || !opts.onProgress) return;
      const p = progressOf(state.snap, state.live);
      // Replays and bursts often change nothing a user sees: identical consecutive updates are one call.
      if (sameProgress(last, p)) return;
      last = p;
      opts.onProgress(p);
    };
    let after = opts.after ?? 0;
    for (;;) {
      for await (const m of this.watch(id, { ...opts, after, signal })) {
        if (m.type === 'snapshot') {
          // The snapshot is the state as of its seq; replayed events up to that seq are already in it.
          state = state ? stateWithSnapshot(state, m.snapshot) : initialState(m.snapshot);
        } else {
          after = m.event.seq;
          opts.onEvent?.(m.event);
          if (state) state = stateWithEvent(state, m.event);
        }
        report();
      }
      // The task ended (or was deleted, which get() reports as 404).
      const final = await this.get(id, { signal });
      state = state ? stateWithSnapshot(state, final) : initialState(final);
      if (isTerminalStatus(final.status)) {
        report();
        return final;
      }
    }
  }

  /** Create a task and wait for it: the final snapshot. */
  async run(body: TaskRequest, opts: WaitOptions & { idempotencyKey?: string } = {}): Promise<TaskSnapshot> {
    const created = await this.create(body, opts);
    return this.wait(created.id, opts);
  }
}
