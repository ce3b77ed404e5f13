/**
 * The /api/webhooks part of the OpenAPI document (document.ts spreads it into its paths): the
 * tenant's signing secret, its rotation and the default target. Pure, like document.ts.
 */
import { WEBHOOK_EVENTS } from '../../protocol/webhook.ts';

type Json = Record<string, unknown>;

const errors = (...statuses: number[]): Record<string, Json> =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const json = (schema: Json, description: string): Json => ({
  description,
  content: { 'application/json': { schema } },
});

const secret: Json = {
  type: 'object',
  properties: {
    secret: { type: 'string', pattern: '^whsec_', description: 'Standard Webhooks secret: verify deliveries with it' },
    createdAt: { type: 'integer' },
    previous: {
      type: 'array',
      description: 'rotated-out secrets that still sign alongside (a second v1 signature) until retiresAt',
      items: { type: 'object', properties: { retiresAt: { type: 'integer' } }, required: ['retiresAt'] },
    },
    overlapSeconds: { type: 'integer', description: 'how long a rotated-out secret keeps signing' },
  },
  required: ['secret', 'createdAt', 'previous', 'overlapSeconds'],
};

const target: Json = {
  anyOf: [
    {
      type: 'object',
      properties: {
        url: { type: 'string', description: 'http(s); the same network rules as input URLs' },
        events: { type: 'array', items: { type: 'string', enum: [...WEBHOOK_EVENTS] } },
      },
      required: ['url'],
      additionalProperties: false,
    },
    { type: 'null' },
  ],
};

const wrapped: Json = { type: 'object', properties: { webhook: target }, required: ['webhook'] };

export function webhookPaths(): Json {
  return {
    '/api/webhooks/secret': {
      get: {
        operationId: 'getWebhookSecret',
        tags: ['webhooks'],
        summary: "The tenant's webhook signing secret",
        description: 'Created on first use. Deliveries carry webhook-id, webhook-timestamp and webhook-signature.',
        responses: { '200': json(secret, 'the secret'), ...errors(401) },
      },
    },
    '/api/webhooks/secret/rotate': {
      post: {
        operationId: 'rotateWebhookSecret',
        tags: ['webhooks'],
        summary: 'Rotate the signing secret',
        description: 'The new secret signs at once; the old one keeps signing alongside it for overlapSeconds.',
        responses: { '200': json(secret, 'the new secret'), ...errors(401) },
      },
    },
    '/api/webhooks/default': {
      get: {
        operationId: 'getWebhookDefault',
        tags: ['webhooks'],
        summary: 'The default webhook',
        description: 'Used by tasks created on their own and by batches when their body names no webhook.',
        responses: { '200': json(wrapped, 'the default (or null)'), ...errors(401) },
      },
      put: {
        operationId: 'setWebhookDefault',
        tags: ['webhooks'],
        summary: 'Set (or clear, with null) the default webhook',
        requestBody: { required: true, content: { 'application/json': { schema: wrapped } } },
        responses: { '200': json(wrapped, 'the default as stored'), ...errors(400, 401) },
      },
    },
  };
}
