/**
 * Webhooks on the wire: the `webhook` option of a task or batch body (and of the tenant's default),
 * the event names, and what a snapshot says about each delivery and its attempts.
 *
 * A delivery is one event to one URL: a POST whose body is `{type, timestamp, data}` (data is the
 * snapshot the API returns), signed per Standard Webhooks; every retry of it keeps its `webhook-id`.
 */
import { z } from 'zod';
import type { ErrorCode } from './errors.ts';

export const WEBHOOK_EVENTS = ['task.succeeded', 'task.failed', 'task.canceled', 'batch.finished'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export const webhookSchema = z.strictObject({
  url: z.string().min(1).max(2048),
  /** which events to deliver (default: all) */
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length).optional(),
});
export type WebhookTarget = z.infer<typeof webhookSchema>;

/** PUT /api/webhooks/default: a default target, or `{"webhook": null}` to have none. */
export const webhookDefaultSchema = z.strictObject({ webhook: webhookSchema.nullable() });

export const DELIVERY_STATES = ['pending', 'delivered', 'failed', 'gone'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface WebhookAttempt {
  /** 1-based */
  n: number;
  /** when it was sent (ms) */
  at: number;
  /** the receiver's HTTP status, or null when none came (timeout, refused, unreachable) */
  status: number | null;
  latencyMs: number;
  /** why it did not count as delivered, when it did not */
  error: { code: ErrorCode; message: string } | null;
}

export interface WebhookDelivery {
  /** the `webhook-id` header, the same on every attempt */
  id: string;
  event: WebhookEvent;
  url: string;
  state: DeliveryState;
  createdAt: number;
  /** when the next attempt goes (pending only) */
  nextAttemptAt: number | null;
  attempts: WebhookAttempt[];
}

/** The body of a delivery. */
export interface WebhookPayload<T> {
  type: WebhookEvent;
  /** ISO 8601, when the event happened */
  timestamp: string;
  data: T;
}
