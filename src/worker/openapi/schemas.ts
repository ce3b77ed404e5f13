/**
 * Zod schemas for what the API answers (snapshots, events, lists, health, errors), used only to
 * describe responses in the OpenAPI document. Request bodies are described by the very schemas the
 * routes validate with (src/protocol), so those never need a copy here.
 *
 * The protocol declares its response shapes as TypeScript interfaces; the `Same<>` checks at the
 * bottom make any drift between those interfaces and these schemas a compile error.
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorBody } from '../../protocol/errors.ts';
import { STAGES } from '../../protocol/runner.ts';
import {
  inputSchema,
  type OutputInfo,
  STEP_STATUSES,
  type StepSnapshot,
  TASK_STATUSES,
  type TaskEvent,
  type TaskSnapshot,
} from '../../protocol/task.ts';
import { DELIVERY_STATES, WEBHOOK_EVENTS } from '../../protocol/webhook.ts';

export const errorBodySchema = z.object({
  code: z.enum(ERROR_CODES).describe('stable dotted code; never changes meaning'),
  message: z.string(),
  retryable: z.boolean().describe('whether trying the same thing again later may succeed'),
});

export const errorResponseSchema = z.object({ error: errorBodySchema });

const taskStatus = z.enum(TASK_STATUSES);
const stepStatus = z.enum(STEP_STATUSES);
const stage = z.enum(STAGES);

export const outputInfoSchema = z.object({
  name: z.string(),
  step: z.number().int(),
  size: z.number().int().describe('bytes'),
  contentType: z.string(),
  url: z.string().optional().describe('a fresh signed download link'),
});

export const stepSnapshotSchema = z.object({
  index: z.number().int(),
  op: z.string(),
  params: z.record(z.string(), z.unknown()).describe("the step's options as given"),
  status: stepStatus,
  progress: z.number().min(0).max(100).describe('0-100 for this step'),
  outputs: z.array(z.string()),
});

const span = { name: z.string(), startedAt: z.number(), endedAt: z.number().nullable() };

const timelineAttemptSchema = z.object({
  attempt: z.number().int(),
  waits: z.array(z.object(span)).describe('queued (for a slot) or retrying (a backoff) before it ran'),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  outcome: z.string().nullable(),
  steps: z.array(
    z.object({
      index: z.number().int(),
      op: z.string(),
      startedAt: z.number(),
      endedAt: z.number().nullable(),
      outcome: z.string().nullable(),
      stages: z.array(z.object(span)).describe('downloading, probing, transcoding, storing, ...'),
    }),
  ),
});

const webhookDeliverySchema = z.object({
  id: z.string().describe('the webhook-id header, the same on every attempt'),
  event: z.enum(WEBHOOK_EVENTS),
  url: z.string(),
  state: z.enum(DELIVERY_STATES),
  createdAt: z.number(),
  nextAttemptAt: z.number().nullable(),
  attempts: z.array(
    z.object({
      n: z.number().int(),
      at: z.number(),
      status: z.number().int().nullable().describe('null: no answer (timeout, unreachable)'),
      latencyMs: z.number(),
      error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }).nullable(),
    }),
  ),
});

export const taskSnapshotSchema = z.object({
  id: z.string(),
  status: taskStatus,
  stage: stage.nullable(),
  progress: z.number().min(0).max(100).describe('0-100 for the whole task, steps weighted; never decreasing'),
  message: z.string(),
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  nextRetryAt: z.number().nullable().describe('ms since the epoch, while retrying'),
  input: inputSchema,
  label: z.string().nullable(),
  steps: z.array(stepSnapshotSchema),
  outputs: z.array(outputInfoSchema),
  error: errorBodySchema.nullable(),
  seq: z.number().int().describe('the seq of the newest event in the log'),
  createdAt: z.number(),
  updatedAt: z.number(),
  timeline: z.array(timelineAttemptSchema).optional().describe('what each attempt, step and stage did, and when'),
  request: z.unknown().optional().describe('the request body as the API accepted it (defaults filled in)'),
  webhooks: z
    .array(webhookDeliverySchema)
    .optional()
    .describe('webhook deliveries and their attempts, when the task has a webhook'),
});

const eventBase = { seq: z.number().int().describe('per task, gap-free, from 1'), at: z.number().describe('ms') };

export const taskEventSchema = z.discriminatedUnion('kind', [
  z.object({
    ...eventBase,
    kind: z.literal('status'),
    status: taskStatus,
    message: z.string(),
    attempt: z.number().int(),
    error: errorBodySchema.optional(),
    nextRetryAt: z.number().optional(),
  }),
  z.object({ ...eventBase, kind: z.literal('step'), step: z.number().int(), status: stepStatus, op: z.string() }),
  z.object({
    ...eventBase,
    kind: z.literal('progress'),
    step: z.number().int(),
    stage,
    progress: z.number(),
    stepProgress: z.number(),
    message: z.string(),
    bytes: z.number().optional(),
    totalBytes: z.number().optional(),
    bytesPerSecond: z
      .number()
      .optional()
      .describe('while bytes move (downloading, receiving, storing): bytes per second'),
    realtime: z.number().optional().describe("while encoding: ffmpeg's speed factor (1.0 = realtime)"),
    eta: z.number().optional().describe('seconds left'),
  }),
  z.object({ ...eventBase, kind: z.literal('output'), step: z.number().int(), output: outputInfoSchema }),
  z.object({
    ...eventBase,
    kind: z.literal('log'),
    step: z.number().int().nullable(),
    level: z.enum(['info', 'warn']),
    message: z.string(),
  }),
]);

export const wireMessageSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('snapshot'), snapshot: taskSnapshotSchema }),
    z.object({ type: z.literal('event'), event: taskEventSchema }),
  ])
  .describe('one WebSocket message (or SSE event) on /api/tasks/{id}/events');

export const createdTaskSchema = z.object({
  id: z.string(),
  status: taskStatus,
  created: z.boolean().describe('false when an Idempotency-Key matched an existing task'),
  links: z.object({ self: z.string(), events: z.string(), web: z.string() }),
  task: taskSnapshotSchema,
});

export const taskListSchema = z.object({
  tasks: z.array(
    z.object({
      id: z.string(),
      status: taskStatus,
      label: z.string().nullable(),
      source: z.string(),
      ops: z.string(),
      progress: z.number(),
      message: z.string(),
      attempt: z.number().int(),
      seq: z.number().int(),
      createdAt: z.number(),
      updatedAt: z.number(),
    }),
  ),
  cursor: z.string().nullable().describe('pass as ?cursor= for the next page; null on the last'),
});

export const uploadSchema = z.object({
  id: z.string(),
  size: z.number().int(),
  filename: z.string(),
  input: z.object({ upload: z.string() }).describe('ready to use as a task input'),
});

export const healthSchema = z.object({
  ok: z.boolean(),
  components: z.object({
    storage: z.object({ ok: z.boolean(), error: z.string().optional() }),
    runner: z.object({
      ok: z.boolean(),
      reachable: z
        .boolean()
        .nullable()
        .describe('null in container mode: no container is asked (that would start one); see state'),
      mode: z.enum(['http', 'container']),
      state: z
        .enum(['ok', 'idle', 'unknown', 'failing'])
        .optional()
        .describe('container mode: judged from the last contact and recent runner failures'),
      lastContactAt: z.string().nullable().optional().describe('container mode: when a task last reached a runner'),
      recentFailures: z
        .array(z.object({ at: z.string(), code: z.string(), message: z.string() }))
        .optional()
        .describe('container mode: runner failures of the last hour, newest first'),
      version: z.string().nullable(),
      ffmpeg: z.string().nullable(),
      ytDlp: z.string().nullable(),
      activeJobs: z.number().nullable(),
      capacity: z.number().nullable(),
      transcriber: z
        .object({
          engine: z.string(),
          model: z.string().optional(),
          available: z.boolean(),
          detail: z.string().optional(),
        })
        .nullable()
        .describe(
          'the speech-to-text engine `transcribe` uses (pocketsphinx offline, or workers-ai-whisper) and its model',
        ),
      error: z.string().optional(),
    }),
  }),
  queue: z.record(z.string(), z.number()).nullable().describe("the caller's task counts by status, and stalled"),
  tookMs: z.number(),
});

// Drift checks: each schema's type and the protocol's interface must be the same type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same: [
  Same<z.infer<typeof errorBodySchema>, ErrorBody>,
  Same<z.infer<typeof outputInfoSchema>, OutputInfo>,
  Same<z.infer<typeof stepSnapshotSchema>, StepSnapshot>,
  Same<z.infer<typeof taskSnapshotSchema>, TaskSnapshot>,
  Same<z.infer<typeof taskEventSchema>, TaskEvent>,
] = [true, true, true, true, true];
void same;
