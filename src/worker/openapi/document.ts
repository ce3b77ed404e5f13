/**
 * The OpenAPI 3.1 document for the public API, generated from zod: request bodies from the schemas
 * the routes validate with (src/protocol), responses from ./schemas.ts. Served at /api/openapi.json
 * and rendered as /docs; test/unit/openapi.test.ts checks it validates and covers every Hono route.
 *
 * Pure: imports no bindings, so the docs page, the test and any script can build it.
 */
import { z } from 'zod';
import { stepSchema } from '../../protocol/ops.ts';
import { createTaskSchema, inputSchema, TASK_STATUSES } from '../../protocol/task.ts';
import { batchPaths } from './batch-paths.ts';
import {
  createdTaskSchema,
  errorBodySchema,
  errorResponseSchema,
  healthSchema,
  outputInfoSchema,
  stepSnapshotSchema,
  taskEventSchema,
  taskListSchema,
  taskSnapshotSchema,
  uploadSchema,
  wireMessageSchema,
} from './schemas.ts';
import { uploadPaths } from './upload-paths.ts';
import { webhookPaths } from './webhook-paths.ts';

export const API_VERSION = '1.0.0';

type Json = Record<string, unknown>;
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/** Named request schemas, converted as the client sends them (defaults make fields optional). */
function requestComponents(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  registry.add(createTaskSchema, { id: 'CreateTask' });
  registry.add(inputSchema, { id: 'TaskInput' });
  registry.add(stepSchema, { id: 'Step' });
  return convert(registry, 'input');
}

/** Named response schemas, converted as the server sends them. */
function responseComponents(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  const named: [z.ZodType, string][] = [
    [errorBodySchema, 'ErrorBody'],
    [errorResponseSchema, 'Error'],
    [outputInfoSchema, 'OutputInfo'],
    [stepSnapshotSchema, 'StepSnapshot'],
    [taskSnapshotSchema, 'TaskSnapshot'],
    [taskEventSchema, 'TaskEvent'],
    [wireMessageSchema, 'WireMessage'],
    [createdTaskSchema, 'CreatedTask'],
    [taskListSchema, 'TaskList'],
    [uploadSchema, 'Upload'],
    [healthSchema, 'Health'],
  ];
  for (const [schema, id] of named) registry.add(schema, { id });
  return convert(registry, 'output');
}

function convert(registry: z.core.$ZodRegistry<{ id: string }>, io: 'input' | 'output'): Record<string, Json> {
  const out = z.toJSONSchema(registry, {
    io,
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  }) as { schemas: Record<string, Json> };
  // OpenAPI 3.1 names the dialect once for the whole document; each schema need not repeat it.
  for (const schema of Object.values(out.schemas)) {
    delete schema.$schema;
    delete schema.$id;
    dropSafeIntegerBounds(schema);
  }
  return out.schemas;
}

/** zod writes Number.MIN/MAX_SAFE_INTEGER as the bounds of every `.int()`: noise for a reader. */
function dropSafeIntegerBounds(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) dropSafeIntegerBounds(item);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as Json;
  if (n.minimum === Number.MIN_SAFE_INTEGER) delete n.minimum;
  if (n.maximum === Number.MAX_SAFE_INTEGER) delete n.maximum;
  for (const value of Object.values(n)) dropSafeIntegerBounds(value);
}

const json = (schema: Json, description: string): Json => ({
  description,
  content: { 'application/json': { schema } },
});

const taskId: Json = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'task id (20 base32 characters)',
  schema: { type: 'string', pattern: '^[a-z2-7]{20}$' },
};

const errors = (...statuses: number[]): Record<string, Json> =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid request; the error code names the field (step.unknown_option, input.url.private, ...)',
  401: 'auth.required: a valid API key is needed',
  403: 'link.invalid or link.expired',
  404: 'task.not_found, output.not_found or route.not_found',
  409: 'task.illegal_transition or task.exists',
  411: 'upload.length_required',
  413: 'upload.too_large',
  426: 'subscribe with a WebSocket upgrade or Accept: text/event-stream',
  429: 'rate.limited, quota.tasks or quota.output_bytes; wait the Retry-After seconds',
  503: 'tenant.unavailable or storage.failed: nothing was created; retry (with the same Idempotency-Key)',
};

/** Every /api route sits behind the per-IP rate limit (and the per-key one with API keys). */
function withRateLimits(all: Record<string, Record<string, unknown>>): Record<string, Record<string, unknown>> {
  for (const [path, item] of Object.entries(all)) {
    if (!path.startsWith('/api/') || path === '/api/openapi.json') continue;
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters') continue;
      const responses = (op as { responses: Record<string, unknown> }).responses;
      responses['429'] ??= { $ref: '#/components/responses/E429' };
    }
  }
  return all;
}

function paths(): Json {
  return {
    '/api/tasks': {
      post: {
        operationId: 'createTask',
        tags: ['tasks'],
        summary: 'Create a task',
        description:
          'Answers at once with the task id; the work runs in the background. Each step reads the previous ' +
          "step's output (probe and thumbnail are side products: the next step reads their input).",
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description: 'the same key (per API key) returns the same task instead of creating another',
            schema: { type: 'string', minLength: 1, maxLength: 200 },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: ref('CreateTask'),
              example: {
                input: { url: 'https://example.com/clip.mp4' },
                steps: [{ op: 'audio', format: 'mp3', bitrate: '192k' }],
              },
            },
          },
        },
        responses: {
          '202': json(ref('CreatedTask'), 'created: running when a concurrency slot was free, else queued'),
          '200': json(ref('CreatedTask'), 'an existing task with the same Idempotency-Key'),
          ...errors(400, 401, 409, 503),
        },
      },
      get: {
        operationId: 'listTasks',
        tags: ['tasks'],
        summary: "This tenant's tasks, newest first",
        parameters: [
          { name: 'status', in: 'query', schema: { type: 'string', enum: [...TASK_STATUSES] } },
          { name: 'q', in: 'query', description: 'text in the source or label', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
          { name: 'cursor', in: 'query', description: 'from the previous page', schema: { type: 'string' } },
        ],
        responses: { '200': json(ref('TaskList'), 'one page of tasks'), ...errors(400, 401) },
      },
    },
    '/api/tasks/{id}': {
      parameters: [taskId],
      get: {
        operationId: 'getTask',
        tags: ['tasks'],
        summary: 'Snapshot of a task',
        description: 'Status, stage, progress, message, attempt, steps, outputs with fresh signed links, error, seq.',
        responses: { '200': json(ref('TaskSnapshot'), 'the snapshot'), ...errors(401, 404) },
      },
      delete: {
        operationId: 'deleteTask',
        tags: ['tasks'],
        summary: 'Delete a task',
        description: 'Stops any work, deletes its outputs (revoking their links) and forgets the task.',
        responses: { '204': { description: 'deleted' }, ...errors(401, 404) },
      },
    },
    '/api/tasks/{id}/events': {
      parameters: [taskId],
      get: {
        operationId: 'taskEvents',
        tags: ['tasks'],
        summary: 'Live events (WebSocket or SSE)',
        description:
          'A WebSocket (`Upgrade: websocket`) or Server-Sent Events (`Accept: text/event-stream`). First a ' +
          '`snapshot` message, then one `event` message per event after `after`, live. The server closes ' +
          'with code 1000 once the task has ended. Reconnect with `after=<last seq>` to get exactly what was ' +
          'missed. Every message is a WireMessage.',
        parameters: [
          {
            name: 'after',
            in: 'query',
            description: 'send only events with a larger seq',
            schema: { type: 'integer', minimum: 0, default: 0 },
          },
          {
            name: 'key',
            in: 'query',
            description: 'the API key, for WebSocket clients that cannot set headers',
            schema: { type: 'string' },
          },
        ],
        responses: {
          '101': { description: 'WebSocket: each text message is a WireMessage (JSON)' },
          '200': {
            description: 'SSE: `event: snapshot|event`, `id: <seq>`, `data: <WireMessage JSON>`',
            content: { 'text/event-stream': { schema: ref('WireMessage') } },
          },
          ...errors(401, 404, 426),
        },
      },
    },
    '/api/tasks/{id}/cancel': {
      parameters: [taskId],
      post: {
        operationId: 'cancelTask',
        tags: ['tasks'],
        summary: 'Cancel a task',
        description: "Stops the runner's processes; the task ends `canceled`.",
        responses: { '200': json(ref('TaskSnapshot'), 'the snapshot after canceling'), ...errors(401, 404, 409) },
      },
    },
    '/api/tasks/{id}/retry': {
      parameters: [taskId],
      post: {
        operationId: 'retryTask',
        tags: ['tasks'],
        summary: 'Retry a failed or canceled task',
        description: 'Runs again from the first unfinished step.',
        responses: { '202': json(ref('TaskSnapshot'), 'the snapshot, queued again'), ...errors(401, 404, 409) },
      },
    },
    '/api/tasks/{id}/outputs/{name}': {
      parameters: [taskId, { name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        operationId: 'getOutput',
        tags: ['tasks'],
        summary: 'Download an output',
        description:
          'Redirects to a fresh signed, expiring link: the /files link below, or a presigned R2 URL when R2 S3 credentials are configured.',
        responses: {
          '302': {
            description: 'to the signed link',
            headers: { Location: { schema: { type: 'string' }, description: 'the signed link' } },
          },
          ...errors(401, 404),
        },
      },
    },
    ...batchPaths(),
    ...uploadPaths(),
    ...webhookPaths(),
    '/api/health': {
      get: {
        operationId: 'health',
        tags: ['system'],
        summary: 'Health of storage and the media runner',
        security: [{}, { bearerAuth: [] }],
        description: "With an API key, also the caller's queue counts.",
        responses: {
          '200': json(ref('Health'), 'healthy'),
          '503': json(ref('Health'), 'a component is down'),
        },
      },
    },
    '/api/openapi.json': {
      get: {
        operationId: 'openapi',
        tags: ['system'],
        summary: 'This document',
        security: [],
        responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: {} } } } },
      },
    },
    '/docs': {
      get: {
        operationId: 'docs',
        tags: ['system'],
        summary: 'This document as a readable page',
        security: [],
        responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    '/files/{key}': {
      parameters: [
        { name: 'key', in: 'path', required: true, description: 'the object key', schema: { type: 'string' } },
        { name: 'exp', in: 'query', required: true, description: 'expiry, unix seconds', schema: { type: 'integer' } },
        { name: 'sig', in: 'query', required: true, description: 'HMAC-SHA256 signature', schema: { type: 'string' } },
      ],
      get: {
        operationId: 'downloadFile',
        tags: ['files'],
        summary: 'Signed download',
        description:
          'Range requests, ETag and a safe Content-Disposition. Links come from the API, never built by hand. An HLS playlist (`.m3u8`) comes back with every URI in it rewritten to its own signed link.',
        security: [],
        responses: {
          '200': { description: 'the file', content: { 'application/octet-stream': { schema: { type: 'string' } } } },
          '206': { description: 'the requested range' },
          '304': { description: 'not modified (If-None-Match)' },
          '416': { description: 'range not satisfiable' },
          ...errors(403, 404),
        },
      },
      head: {
        operationId: 'headFile',
        tags: ['files'],
        summary: 'Signed download, headers only',
        security: [],
        responses: {
          '200': { description: 'the headers' },
          '206': { description: 'the range headers' },
          ...errors(403, 404),
        },
      },
      options: {
        operationId: 'fileCors',
        tags: ['files'],
        summary: 'CORS preflight, so players on other sites can send Range',
        security: [],
        responses: { '204': { description: 'the CORS headers' } },
      },
    },
  };
}

export type OpenApiDocument = Json & { openapi: string; paths: Record<string, Record<string, unknown>> };

let components: Json | null = null;

/** The document; `serverUrl` (the request's origin) becomes its one server. */
export function openApiDocument(serverUrl?: string): OpenApiDocument {
  components ??= {
    schemas: { ...responseComponents(), ...requestComponents() },
    responses: Object.fromEntries(
      Object.entries(ERROR_TEXT).map(([status, text]) => [`E${status}`, json(ref('Error'), text)]),
    ),
    securitySchemes: {
      bearerAuth: {
        type: 'http',
        scheme: 'bearer',
        description: 'one of the API_KEYS, when the server has them configured (without them, no auth)',
      },
      queryKey: { type: 'apiKey', in: 'query', name: 'key', description: 'the same key, for WebSockets' },
    },
  };
  return {
    openapi: '3.1.1',
    info: {
      title: 'clipyard',
      version: API_VERSION,
      summary: 'Media jobs at the edge: download, extract audio, transcode, thumbnail, with live progress.',
      description:
        'Errors are `{"error": {"code", "message", "retryable"}}` with a stable dotted code. With API keys ' +
        'configured every /api route needs `Authorization: Bearer <key>` and a tenant sees only its own tasks.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{}, { bearerAuth: [] }, { queryKey: [] }],
    tags: [
      { name: 'tasks', description: 'create, watch, cancel, retry, delete tasks and fetch their outputs' },
      { name: 'batches', description: 'many tasks at once: aggregate progress, events and one zip of outputs' },
      { name: 'uploads', description: 'input files' },
      { name: 'files', description: 'signed downloads' },
      { name: 'system', description: 'health and this document' },
    ],
    paths: withRateLimits(paths() as OpenApiDocument['paths']),
    components,
  };
}
