/**
 * The rows of a task object's SQLite tables as typed values, and how a row is read. Used by
 * TaskStore (the only module that reads or writes those tables) and the modules that take its rows.
 */
import type { TaskPatch } from '../lib/task-lifecycle.ts';
import type { ErrorBody } from '../protocol/errors.ts';
import type { Op, Step } from '../protocol/ops.ts';
import type { Stage } from '../protocol/runner.ts';
import type { StepStatus, TaskInput, TaskStatus } from '../protocol/task.ts';

export type Row = Record<string, SqlStorageValue>;

export interface TaskRow {
  id: string;
  tenant: string;
  status: TaskStatus;
  stage: Stage | null;
  progress: number;
  message: string;
  attempt: number;
  maxAttempts: number;
  /** attempts one run may use: the task's own maxAttempts as created (a manual retry grants as many again) */
  attemptsPerRun: number;
  runAt: number | null;
  lastError: ErrorBody | null;
  input: TaskInput;
  /** R2 key of the input when it is an upload or another task's output */
  inputKey: string | null;
  label: string | null;
  bodyHash: string;
  /** the batch this task was created in, which it reports its progress to */
  batchId: string | null;
  currentStep: number;
  jobId: string | null;
  jobSeq: number;
  seq: number;
  /** the highest seq handed out ahead of the log may reach (see pending-progress.ts) */
  seqReserved: number;
  createdAt: number;
  updatedAt: number;
}

export interface StepRow {
  index: number;
  op: Op;
  params: Step;
  status: StepStatus;
  progress: number;
}

export interface OutputRow {
  name: string;
  step: number;
  key: string;
  size: number;
  contentType: string;
  createdAt: number;
  expiresAt: number;
}

export const PATCH_COLUMNS: Record<keyof TaskPatch, string> = {
  stage: 'stage',
  progress: 'progress',
  message: 'message',
  attempt: 'attempt',
  runAt: 'run_at',
  lastError: 'last_error',
  currentStep: 'current_step',
  jobId: 'job_id',
  jobSeq: 'job_seq',
  maxAttempts: 'max_attempts',
};

export function toTask(r: Row): TaskRow {
  return {
    id: String(r.id),
    tenant: String(r.tenant),
    status: r.status as TaskStatus,
    stage: (r.stage as Stage | null) ?? null,
    progress: Number(r.progress),
    message: String(r.message ?? ''),
    attempt: Number(r.attempt),
    maxAttempts: Number(r.max_attempts),
    attemptsPerRun: Number(r.attempts_per_run) || Number(r.max_attempts),
    runAt: r.run_at == null ? null : Number(r.run_at),
    lastError: r.last_error ? (JSON.parse(String(r.last_error)) as ErrorBody) : null,
    input: JSON.parse(String(r.input)) as TaskInput,
    inputKey: r.input_key == null ? null : String(r.input_key),
    label: r.label == null ? null : String(r.label),
    bodyHash: String(r.body_hash),
    batchId: r.batch_id == null ? null : String(r.batch_id),
    currentStep: Number(r.current_step),
    jobId: r.job_id == null ? null : String(r.job_id),
    jobSeq: Number(r.job_seq),
    seq: Number(r.seq),
    seqReserved: Number(r.seq_reserved ?? 0),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
