/**
 * The public batch model: the request body of POST /api/batches, the batch snapshot, its event log
 * entries and its wire messages, plus the report a child task sends to its batch.
 *
 * Shared by the Worker, the batch object, the task object (which reports to its batch) and tests.
 * A batch's wire messages have the same shape as a task's ({type: 'snapshot'} then {type: 'event'}),
 * so one subscription helper serves both.
 */
import { z } from 'zod';
import type { ErrorBody } from './errors.ts';
import type { TaskStatus } from './task.ts';
import { type WebhookDelivery, webhookSchema } from './webhook.ts';
import { parseSubscriptionMessage, type SubscriptionMessage } from './wire.ts';

export const MAX_BATCH_TASKS = 100;
/** A batch body may be larger than a task's: up to 100 task bodies. */
export const MAX_BATCH_BODY_BYTES = 1024 * 1024;

/**
 * The envelope only: each element of `tasks` is validated as a task body on its own, so an error
 * names the task (`tasks[3].steps[0].op`) and keeps the code a single task would get.
 */
export const createBatchSchema = z.strictObject({
  /** the task bodies; or instead `playlist` with `steps` (see playlist.ts) */
  tasks: z.array(z.unknown()).optional(),
  /** a playlist or channel URL: one task per entry, each with `steps` */
  playlist: z.unknown().optional(),
  steps: z.array(z.unknown()).optional(),
  /** a free-form label shown in lists and used as the archive's name */
  label: z.string().max(200).optional(),
  /** where to POST a signed `batch.finished` event (default: the tenant's default webhook) */
  webhook: webhookSchema.optional(),
});

export type CreateBatchEnvelope = z.infer<typeof createBatchSchema>;

/**
 * running: some child is not finished. Once every child is: succeeded (all did), partial (some
 * succeeded, some failed or were canceled), failed (none succeeded, at least one failed) or canceled
 * (all were canceled). A child retried later brings the batch back to running.
 */
export const BATCH_STATUSES = ['running', 'succeeded', 'partial', 'failed', 'canceled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

export type StatusCounts = Record<TaskStatus, number>;

export interface BatchOutput {
  name: string;
  size: number;
  contentType: string;
}

export interface BatchChild {
  /** position in the request's `tasks` array */
  index: number;
  /** the task id: GET /api/tasks/:id has the full task */
  id: string;
  status: TaskStatus;
  /** 0-100 */
  progress: number;
  message: string;
  error: ErrorBody | null;
  outputs: BatchOutput[];
}

export interface BatchSnapshot {
  id: string;
  status: BatchStatus;
  label: string | null;
  /** 0-100: the mean of the children's progress, a finished child counting 100 */
  progress: number;
  total: number;
  counts: StatusCounts;
  children: BatchChild[];
  /** the seq of the newest event in the batch's log */
  seq: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  /** webhook deliveries and each of their attempts (present when the batch has a webhook) */
  webhooks?: WebhookDelivery[];
}

export type BatchEvent =
  | { seq: number; at: number; kind: 'status'; status: BatchStatus; message: string; counts: StatusCounts }
  | {
      seq: number;
      at: number;
      kind: 'child';
      index: number;
      id: string;
      status: TaskStatus;
      progress: number;
      message: string;
      error?: ErrorBody;
    }
  | { seq: number; at: number; kind: 'progress'; progress: number; counts: StatusCounts };

export type BatchEventKind = BatchEvent['kind'];

export type BatchWireMessage = SubscriptionMessage<BatchSnapshot, BatchEvent>;

/** Parse a batch stream message; null on anything that is not one. */
export function parseBatchWireMessage(data: unknown): BatchWireMessage | null {
  return parseSubscriptionMessage<BatchSnapshot, BatchEvent>(data);
}

/** An output as the batch keeps it: with its R2 key, which never leaves the Worker and the objects. */
export interface ChildOutput extends BatchOutput {
  key: string;
}

/**
 * What a task tells its batch (and answers when the batch asks): where it stands. `seq` is the task's
 * event seq, so a report that arrives late never overwrites a newer one.
 */
export interface ChildReport {
  taskId: string;
  status: TaskStatus;
  progress: number;
  message: string;
  error: ErrorBody | null;
  seq: number;
  outputs: ChildOutput[];
}
