/**
 * Task ids: 20 characters of lower-case base32, random or derived from an idempotency key.
 *
 * Deriving the id from (tenant, Idempotency-Key) sends every submission with the same key to the same
 * Durable Object, which serializes them: concurrent duplicates cannot create two tasks.
 */

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
export const TASK_ID_PATTERN = /^[a-z2-7]{20}$/;

function encode(bytes: Uint8Array, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! & 31];
  return out;
}

export function newTaskId(): string {
  return encode(crypto.getRandomValues(new Uint8Array(20)), 20);
}

export async function idFromIdempotencyKey(tenant: string, key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${tenant}\n${key}`));
  return encode(new Uint8Array(digest), 20);
}

export function isTaskId(value: string): boolean {
  return TASK_ID_PATTERN.test(value);
}
