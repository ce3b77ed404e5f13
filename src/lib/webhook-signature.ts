/**
 * Webhook signing per the Standard Webhooks specification (v1): an HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<body>` keyed with the base64 part of a `whsec_` secret, sent as
 * `webhook-signature: v1,<base64>`; during a secret rotation the old secret signs too, and the header
 * carries both signatures separated by a space, so receivers holding either secret verify.
 *
 * Pure (Web Crypto only): used by the task and batch objects' outbox and by plain unit tests.
 */

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Random bytes in a new secret (the specification asks for 24 to 64). */
const SECRET_BYTES = 32;

const encoder = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** A fresh `whsec_<base64>` secret. */
export function newWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/** Is this a well-formed `whsec_` secret? */
export function isWebhookSecret(secret: string): boolean {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return false;
  try {
    return fromBase64(secret.slice(WEBHOOK_SECRET_PREFIX.length)).length >= 24;
  } catch {
    return false;
  }
}

/** The base64 `v1` signature of one message with one secret. */
export async function signatureOf(secret: string, id: string, timestampSec: number, body: string): Promise<string> {
  const keyBytes = fromBase64(secret.slice(WEBHOOK_SECRET_PREFIX.length));
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, encoder.encode(`${id}.${timestampSec}.${body}`));
  return toBase64(new Uint8Array(mac));
}

/**
 * The three Standard Webhooks headers for one delivery attempt, signed with every secret given
 * (the current one first, then any still inside its rotation overlap).
 */
export async function webhookHeaders(
  secrets: readonly string[],
  id: string,
  timestampSec: number,
  body: string,
): Promise<Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string>> {
  const signatures = await Promise.all(secrets.map((s) => signatureOf(s, id, timestampSec, body)));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': signatures.map((sig) => `v1,${sig}`).join(' '),
  };
}

/** Does any `v1` signature in the header match this secret? (For tests and for receivers in JS.) */
export async function verifyWebhook(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
): Promise<boolean> {
  const expected = await signatureOf(secret, headers.id, Number(headers.timestamp), body);
  return headers.signature
    .split(' ')
    .map((part) => part.split(',', 2))
    .some(([version, sig]) => version === 'v1' && sig !== undefined && constantTimeEqual(sig, expected));
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
