/**
 * Batches in the typed client (`clipyard.batches`): create up to 100 tasks at once, watch and wait
 * for them with aggregate progress, cancel them, and fetch one zip of all their outputs.
 */
import {
  type BatchEvent,
  type BatchSnapshot,
  type BatchStatus,
  type BatchWireMessage,
  parseBatchWireMessage,
} from '../protocol/batch.ts';
import type { Step } from '../protocol/ops.ts';
import type { PlaylistRequest } from '../protocol/playlist.ts';
import type { WebhookTarget } from '../protocol/webhook.ts';
import { applyBatchEvent, isBatchFinished } from './batch-state.ts';
import { apiError } from './errors.ts';
import type { SubscribeOptions } from './subscribe.ts';
import { combine, enc, type Transport, untilFinished } from './transport.ts';

export interface CreatedBatch {
  id: string;
  status: BatchStatus;
  /** false when an Idempotency-Key matched a batch created earlier */
  created: boolean;
  /** the children's task ids, in the order of the request's `tasks` */
  taskIds: string[];
  links: Record<string, string>;
  batch: BatchSnapshot;
}

export interface BatchWaitOptions extends Omit<SubscribeOptions, 'WebSocket' | 'beforeReconnect'> {
  /** called with the batch's state after every snapshot and event */
  onProgress?: (batch: BatchSnapshot) => void;
  /** called with every event, once, in order */
  onEvent?: (event: BatchEvent) => void;
  timeoutMs?: number;
}

export class Batches<TaskBody> {
  private readonly t: Transport;

  constructor(transport: Transport) {
    this.t = transport;
  }

  /**
   * Create the tasks; each is validated first, and one failing task does not fail the others. With
   * `playlist` (and `steps`) instead of `tasks`, every entry of a playlist or channel becomes a task.
   */
  create(
    body:
      | { tasks: TaskBody[]; label?: string; webhook?: WebhookTarget }
      | { playlist: PlaylistRequest; steps: Step[]; label?: string; webhook?: WebhookTarget },
    opts: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<CreatedBatch> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
    return this.t.json('POST', '/api/batches', { body: JSON.stringify(body), headers, signal: opts.signal });
  }

  /** Status, aggregate progress, counts, and each child's state and outputs. */
  get(id: string, opts: { signal?: AbortSignal } = {}): Promise<BatchSnapshot> {
    return this.t.json('GET', `/api/batches/${enc(id)}`, opts);
  }

  /** Cancel every unfinished task of the batch. */
  cancel(id: string): Promise<BatchSnapshot> {
    return this.t.json('POST', `/api/batches/${enc(id)}/cancel`);
  }

  /** Every wire message, reconnecting with `after`; ends once every child has finished. */
  watch(
    id: string,
    opts: Omit<SubscribeOptions, 'WebSocket' | 'beforeReconnect'> = {},
  ): AsyncGenerator<BatchWireMessage> {
    const messages = this.t.subscribe(
      `/api/batches/${enc(id)}/events`,
      parseBatchWireMessage,
      () => this.get(id, { signal: opts.signal }),
      opts,
    );
    return untilFinished(messages, opts.after ?? 0, (m) => {
      if (m.type === 'snapshot') return isBatchFinished(m.snapshot.status) ? m.snapshot.seq : null;
      if (m.event.kind === 'status') return isBatchFinished(m.event.status) ? m.event.seq : null;
      return undefined;
    });
  }

  /** Wait until every child has finished; resolves with the final snapshot. */
  async wait(id: string, opts: BatchWaitOptions = {}): Promise<BatchSnapshot> {
    const signal = combine(opts.signal, opts.timeoutMs);
    let state: BatchSnapshot | null = null;
    let after = opts.after ?? 0;
    for (;;) {
      for await (const m of this.watch(id, { ...opts, after, signal })) {
        if (m.type === 'snapshot') {
          if (!state || m.snapshot.seq >= state.seq) state = m.snapshot;
        } else {
          after = m.event.seq;
          opts.onEvent?.(m.event);
          if (state) state = applyBatchEvent(state, m.event);
        }
        if (state) opts.onProgress?.(state);
      }
      const final = await this.get(id, { signal });
      if (isBatchFinished(final.status)) return final;
      state = final;
    }
  }

  /** A zip of every child's outputs plus a manifest; answers 409 while children are unfinished. */
  async archive(id: string, opts: { signal?: AbortSignal } = {}): Promise<Response> {
    const res = await this.t.request('GET', `/api/batches/${enc(id)}/archive`, { signal: opts.signal });
    if (!res.ok) throw await apiError(res, 'GET /api/batches/:id/archive');
    return res;
  }
}
