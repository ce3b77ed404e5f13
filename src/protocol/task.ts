/**
 * The public task model: the request body of POST /api/tasks, the snapshot, the event log entries and
 * the WebSocket wire messages.
 *
 * Shared by the Worker, the task object, the web page and tests. The wire parser returns null on junk
 * so a client never crashes on a message it does not understand.
 */
import { z } from 'zod';
import type { ErrorBody } from './errors.ts';
import { stepSchema } from './ops.ts';
import type { Stage } from './runner.ts';
import { parseSubscriptionMessage, type SubscriptionMessage } from './wire.ts';

export const MAX_STEPS = 10;

export const inputSchema = z.union([
  z.strictObject({ url: z.string().min(1).max(4096) }),
  z.strictObject({ upload: z.string().min(1).max(200) }),
  z.strictObject({ task: z.string().min(1).max(200), output: z.string().min(1).max(200) }),
]);

export const createTaskSchema = z.strictObject({
  input: inputSchema,
  steps: z.array(stepSchema).min(1).max(MAX_STEPS),
  /** attempts in all, including the first */
  maxAttempts: z.number().int().min(1).max(10).optional(),
  /** a free-form label shown in lists */
  label: z.string().max(200).optional(),
});

export type TaskInput = z.infer<typeof inputSchema>;
export type CreateTaskBody = z.infer<typeof createTaskSchema>;

export const TASK_STATUSES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'canceled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const STEP_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface OutputInfo {
  name: string;
  step: number;
  size: number;
  contentType: string;
  /** a fresh signed download link (absolute when the request's origin is known) */
  url?: string;
}

export interface StepSnapshot {
  index: number;
  op: string;
  /** the step's options as given (render's images and thumbnail's sheet are nested) */
  params: Record<string, unknown>;
  status: StepStatus;
  /** 0-100 for this step */
  progress: number;
  outputs: string[];
}

export interface TaskSnapshot {
  id: string;
  status: TaskStatus;
  stage: Stage | null;
  /** 0-100 for the whole task, steps weighted; never decreasing within an attempt */
  progress: number;
  message: string;
  attempt: number;
  maxAttempts: number;
  nextRetryAt: number | null;
  input: TaskInput;
  label: string | null;
  steps: StepSnapshot[];
  outputs: OutputInfo[];
  error: ErrorBody | null;
  /** the seq of the newest event in the log */
  seq: number;
  createdAt: number;
  updatedAt: number;
}

export type TaskEvent =
  | {
      seq: number;
      at: number;
      kind: 'status';
      status: TaskStatus;
      message: string;
      attempt: number;
      error?: ErrorBody;
      nextRetryAt?: number;
      /** the task's overall progress after this move (a new attempt starts from what is done) */
      progress?: number;
    }
  | { seq: number; at: number; kind: 'step'; step: number; status: StepStatus; op: string }
  | {
      seq: number;
      at: number;
      kind: 'progress';
      step: number;
      stage: Stage;
      progress: number;
      stepProgress: number;
      message: string;
      bytes?: number;
      totalBytes?: number;
      speed?: number;
      eta?: number;
    }
  | { seq: number; at: number; kind: 'output'; step: number; output: OutputInfo }
  | { seq: number; at: number; kind: 'log'; step: number | null; level: 'info' | 'warn'; message: string };

export type TaskEventKind = TaskEvent['kind'];

/**
 * One task as GET /api/tasks lists it: the tenant's index entry (it may lag the task by one report).
 */
export interface TaskListEntry {
  id: string;
  status: TaskStatus;
  label: string | null;
  source: string;
  ops: string;
  progress: number;
  message: string;
  attempt: number;
  seq: number;
  createdAt: number;
  updatedAt: number;
}

/** Messages the task object sends on a WebSocket (and as SSE `event:` names). */
export const WIRE_TYPES = ['snapshot', 'event'] as const;
export type WireMessage = SubscriptionMessage<TaskSnapshot, TaskEvent>;

export function isTerminalStatus(status: TaskStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'canceled';
}

/** Parse a task stream message; null on anything that is not one. */
export function parseWireMessage(data: unknown): WireMessage | null {
  return parseSubscriptionMessage<TaskSnapshot, TaskEvent>(data);
}
