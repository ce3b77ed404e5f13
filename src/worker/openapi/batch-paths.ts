/**
 * The /api/batches part of the OpenAPI document (document.ts spreads it into its paths): routes,
 * and JSON schemas for the batch snapshot, its events and the create response (src/protocol/batch.ts).
 *
 * Pure, like document.ts.
 */
import { BATCH_STATUSES, MAX_BATCH_TASKS } from '../../protocol/batch.ts';
import { TASK_STATUSES } from '../../protocol/task.ts';

type Json = Record<string, unknown>;

const schemaRef = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const errors = (...statuses: number[]): Record<string, Json> =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const json = (schema: Json, description: string): Json => ({
  description,
  content: { 'application/json': { schema } },
});

const batchId: Json = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'batch id (20 base32 characters)',
  schema: { type: 'string', pattern: '^[a-z2-7]{20}$' },
};

const counts: Json = {
  type: 'object',
  description: 'children by status',
  properties: Object.fromEntries(TASK_STATUSES.map((s) => [s, { type: 'integer', minimum: 0 }])),
  required: [...TASK_STATUSES],
};

const child: Json = {
  type: 'object',
  properties: {
    index: { type: 'integer', description: "position in the request's tasks" },
    id: { type: 'string', description: 'the task id (GET /api/tasks/{id})' },
    status: { type: 'string', enum: [...TASK_STATUSES] },
    progress: { type: 'number', minimum: 0, maximum: 100 },
    message: { type: 'string' },
    error: { anyOf: [schemaRef('ErrorBody'), { type: 'null' }] },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, size: { type: 'integer' }, contentType: { type: 'string' } },
        required: ['name', 'size', 'contentType'],
      },
    },
  },
  required: ['index', 'id', 'status', 'progress', 'message', 'error', 'outputs'],
};

const snapshot: Json = {
  type: 'object',
  description:
    'running until every child has finished; then succeeded (all did), partial, failed (none succeeded) or ' +
    'canceled. progress is the mean of the children, a finished child counting 100.',
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: [...BATCH_STATUSES] },
    label: { type: ['string', 'null'] },
    progress: { type: 'number', minimum: 0, maximum: 100 },
    total: { type: 'integer' },
    counts,
    children: { type: 'array', items: child },
    seq: { type: 'integer', description: 'the newest event in the batch log' },
    createdAt: { type: 'integer' },
    updatedAt: { type: 'integer' },
    finishedAt: { type: ['integer', 'null'] },
  },
  required: ['id', 'status', 'label', 'progress', 'total', 'counts', 'children', 'seq', 'createdAt', 'updatedAt'],
};

const event: Json = {
  type: 'object',
  description:
    '`status` (the batch, with counts), `child` (a child changed status, with its error when it failed) ' +
    'or `progress` (aggregate progress and counts, at most a few per second).',
  properties: {
    seq: { type: 'integer' },
    at: { type: 'integer' },
    kind: { type: 'string', enum: ['status', 'child', 'progress'] },
  },
  required: ['seq', 'at', 'kind'],
};

const wireMessage: Json = {
  oneOf: [
    {
      type: 'object',
      properties: { type: { const: 'snapshot' }, snapshot },
      required: ['type', 'snapshot'],
    },
    { type: 'object', properties: { type: { const: 'event' }, event }, required: ['type', 'event'] },
  ],
};

export function batchPaths(): Json {
  return {
    '/api/batches': {
      post: {
        operationId: 'createBatch',
        tags: ['batches'],
        summary: 'Create many tasks at once',
        description:
          `Up to ${MAX_BATCH_TASKS} task bodies, each validated like POST /api/tasks before anything is ` +
          'created (an error names the task: `tasks[3].steps[0].op`; more than the limit is batch.too_many). ' +
          'Answers with the batch id and the task ids; one failing task does not fail the others.',
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description: 'the same key (per API key) returns the same batch and tasks',
            schema: { type: 'string', minLength: 1, maxLength: 200 },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                description:
                  'Either `tasks`, or `playlist` with `steps`: a playlist or channel URL whose entries (listed by ' +
                  'the runner with yt-dlp, up to `limit`, default 50) each become a task with those steps, labelled ' +
                  "with the entry's title; the batch is labelled with the playlist's title.",
                properties: {
                  tasks: { type: 'array', items: schemaRef('CreateTask'), minItems: 1, maxItems: MAX_BATCH_TASKS },
                  playlist: {
                    type: 'object',
                    properties: {
                      url: { type: 'string' },
                      limit: { type: 'integer', minimum: 1, maximum: MAX_BATCH_TASKS },
                      items: { type: 'string', description: 'yt-dlp --playlist-items, e.g. "1-3,7"' },
                    },
                    required: ['url'],
                    additionalProperties: false,
                  },
                  steps: { type: 'array', items: schemaRef('Step'), minItems: 1 },
                  label: { type: 'string', maxLength: 200 },
                  webhook: {
                    type: 'object',
                    description: 'where `batch.finished` is POSTed, signed (default: the tenant default webhook)',
                    properties: { url: { type: 'string' }, events: { type: 'array', items: { type: 'string' } } },
                    required: ['url'],
                  },
                },
                additionalProperties: false,
              },
            },
          },
        },
        responses: {
          '202': json(
            {
              type: 'object',
              properties: {
                id: { type: 'string' },
                status: { type: 'string', enum: [...BATCH_STATUSES] },
                created: { type: 'boolean' },
                taskIds: { type: 'array', items: { type: 'string' } },
                links: {
                  type: 'object',
                  properties: { self: { type: 'string' }, events: { type: 'string' }, archive: { type: 'string' } },
                },
                batch: snapshot,
              },
              required: ['id', 'status', 'created', 'taskIds', 'links', 'batch'],
            },
            'created; the tasks are queued',
          ),
          '200': { description: 'an existing batch with the same Idempotency-Key (same body as 202)' },
          ...errors(400, 401, 409),
        },
      },
    },
    '/api/batches/{id}': {
      parameters: [batchId],
      get: {
        operationId: 'getBatch',
        tags: ['batches'],
        summary: 'Snapshot of a batch',
        description: 'Status, aggregate progress, counts by status, and every child with its status and error.',
        responses: { '200': json(snapshot, 'the snapshot'), ...errors(401, 404) },
      },
    },
    '/api/batches/{id}/cancel': {
      parameters: [batchId],
      post: {
        operationId: 'cancelBatch',
        tags: ['batches'],
        summary: 'Cancel every unfinished task of a batch',
        description: 'Finished tasks keep their outcome; the batch ends once every task has.',
        responses: { '200': json(snapshot, 'the snapshot after canceling'), ...errors(401, 404) },
      },
    },
    '/api/batches/{id}/events': {
      parameters: [batchId],
      get: {
        operationId: 'batchEvents',
        tags: ['batches'],
        summary: 'Live batch events (WebSocket or SSE)',
        description:
          "Like a task's events: a `snapshot` message, then every event after `after`, live; closed with " +
          '1000 once the batch has finished.',
        parameters: [
          {
            name: 'after',
            in: 'query',
            description: 'send only events with a larger seq',
            schema: { type: 'integer', minimum: 0, default: 0 },
          },
        ],
        responses: {
          '101': { description: 'WebSocket: each text message is a batch wire message (JSON)' },
          '200': {
            description: 'SSE: `event: snapshot|event`, `id: <seq>`, `data: <message JSON>`',
            content: { 'text/event-stream': { schema: wireMessage } },
          },
          ...errors(401, 404, 426),
        },
      },
    },
    '/api/batches/{id}/archive': {
      parameters: [batchId],
      get: {
        operationId: 'batchArchive',
        tags: ['batches'],
        summary: 'All outputs as one zip',
        description:
          'Streamed as it is read: `001-<label or task id>/<output>` per task, then `manifest.json` (how each ' +
          'task ended, which files are in, which had expired). 409 batch.not_finished while tasks still run.',
        responses: {
          '200': {
            description: 'the zip (stored entries)',
            content: { 'application/zip': { schema: { type: 'string', contentMediaType: 'application/zip' } } },
          },
          ...errors(401, 404, 409),
        },
      },
    },
  };
}
