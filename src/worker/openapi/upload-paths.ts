/**
 * The /api/uploads (single and multipart) and /api/usage parts of the OpenAPI document; document.ts
 * spreads them into its paths. Pure, like document.ts.
 */
type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const errors = (...statuses: number[]): Record<string, Json> =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const json = (schema: Json, description: string): Json => ({
  description,
  content: { 'application/json': { schema } },
});
const bytes: Json = { type: 'string', contentMediaType: 'application/octet-stream' };

const uploadId: Json = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'the upload id from the start call',
  schema: { type: 'string', pattern: '^[a-z2-7]{20}$' },
};
const token: Json = {
  name: 'token',
  in: 'query',
  required: true,
  description: 'the token from the start call (or the X-Upload-Token header)',
  schema: { type: 'string' },
};

export function uploadPaths(): Json {
  return {
    '/api/uploads': {
      post: {
        operationId: 'createUpload',
        tags: ['uploads'],
        summary: 'Upload an input file',
        description:
          'The raw body (with Content-Length, up to MAX_UPLOAD_BYTES) becomes an input for a task: ' +
          '`{"upload": id}`. Large files go in parts: POST /api/uploads/multipart.',
        parameters: [{ name: 'filename', in: 'query', description: 'hints the extension', schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/octet-stream': { schema: bytes } } },
        responses: { '201': json(ref('Upload'), 'stored'), ...errors(400, 401, 411, 413) },
      },
    },
    '/api/uploads/multipart': {
      post: {
        operationId: 'startMultipartUpload',
        tags: ['uploads'],
        summary: 'Start a multipart upload',
        description:
          'Declare the total size; every part but the last is exactly `partSize` bytes. Send the parts, then ' +
          'complete with their etags.',
        parameters: [
          {
            name: 'size',
            in: 'query',
            required: true,
            description: 'total bytes',
            schema: { type: 'integer', minimum: 1 },
          },
          { name: 'filename', in: 'query', description: 'hints the extension', schema: { type: 'string' } },
        ],
        responses: {
          '201': json(
            {
              type: 'object',
              properties: {
                id: { type: 'string' },
                token: { type: 'string' },
                size: { type: 'integer' },
                partSize: { type: 'integer' },
                parts: { type: 'integer' },
                filename: { type: 'string' },
              },
              required: ['id', 'token', 'size', 'partSize', 'parts', 'filename'],
            },
            'started',
          ),
          ...errors(401, 411, 413),
        },
      },
    },
    '/api/uploads/multipart/{id}/parts/{n}': {
      parameters: [
        uploadId,
        {
          name: 'n',
          in: 'path',
          required: true,
          description: 'part number, from 1',
          schema: { type: 'integer', minimum: 1 },
        },
        token,
      ],
      put: {
        operationId: 'uploadPart',
        tags: ['uploads'],
        summary: 'Send one part',
        requestBody: { required: true, content: { 'application/octet-stream': { schema: bytes } } },
        responses: {
          '200': json(
            {
              type: 'object',
              properties: { partNumber: { type: 'integer' }, etag: { type: 'string' } },
              required: ['partNumber', 'etag'],
            },
            'stored; keep the etag for completing',
          ),
          ...errors(400, 401, 404, 411),
        },
      },
    },
    '/api/uploads/multipart/{id}/complete': {
      parameters: [uploadId, token],
      post: {
        operationId: 'completeMultipartUpload',
        tags: ['uploads'],
        summary: 'Finish a multipart upload',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  parts: {
                    type: 'array',
                    description: 'every part, in order',
                    items: {
                      type: 'object',
                      properties: { partNumber: { type: 'integer' }, etag: { type: 'string' } },
                      required: ['partNumber', 'etag'],
                    },
                  },
                },
                required: ['parts'],
              },
            },
          },
        },
        responses: { '201': json(ref('Upload'), 'the whole file, ready as a task input'), ...errors(400, 401, 404) },
      },
    },
    '/api/uploads/multipart/{id}': {
      parameters: [uploadId, token],
      delete: {
        operationId: 'abortMultipartUpload',
        tags: ['uploads'],
        summary: 'Abandon a multipart upload',
        responses: { '204': { description: 'abandoned' }, ...errors(401, 404) },
      },
    },
    '/api/usage': {
      get: {
        operationId: 'usage',
        tags: ['system'],
        summary: "Today's usage against the daily quotas",
        description: 'So a client can see a 429 coming. A null limit means no quota.',
        responses: {
          '200': json(
            {
              type: 'object',
              properties: {
                day: { type: 'string' },
                tasks: {
                  type: 'object',
                  properties: { used: { type: 'integer' }, limit: { type: ['integer', 'null'] } },
                  required: ['used', 'limit'],
                },
                outputBytes: {
                  type: 'object',
                  properties: { used: { type: 'integer' }, limit: { type: ['integer', 'null'] } },
                  required: ['used', 'limit'],
                },
                resetsInSeconds: { type: 'integer' },
              },
              required: ['day', 'tasks', 'outputBytes', 'resetsInSeconds'],
            },
            'the day so far',
          ),
          ...errors(401),
        },
      },
    },
  };
}
