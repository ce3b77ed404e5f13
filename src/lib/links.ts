/**
 * Signed, expiring download links: `/files/<key>?exp=<unix s>&sig=<hmac>`.
 *
 * HMAC-SHA256 over "<key>\n<exp>" with the link secret, base64url, compared in constant time.
 * Pure (WebCrypto only), so it runs in the Worker, in objects and in Node tests alike.
 */

const encoder = new TextEncoder();

async function hmac(secret: string, message: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message)));
}

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Constant-time comparison of two strings of any length. */
export function timingSafeEqual(a: string, b: string): boolean {
  const ab = encoder.encode(a);
  const bb = encoder.encode(b);
  let diff = ab.length ^ bb.length;
  const n = Math.max(ab.length, bb.length);
  for (let i = 0; i < n; i++) diff |= (ab[i % ab.length] ?? 0) ^ (bb[i % bb.length] ?? 0);
  return diff === 0;
}

/**
 * A key as storage sees it: lone surrogates (which UTF-8 cannot carry, and encodeURIComponent
 * refuses) become U+FFFD, as they do when the key is written to R2.
 */
export function wellFormedKey(key: string): string {
  return key.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Encode an object key for the path: each segment percent-encoded, slashes kept. */
export function keyToPath(key: string): string {
  return wellFormedKey(key).split('/').map(encodeURIComponent).join('/');
}

export async function signLink(
  secret: string,
  key: string,
  ttlSeconds: number,
  nowMs: number = Date.now(),
): Promise<{ path: string; exp: number }> {
  const exp = Math.floor(nowMs / 1000) + Math.max(1, Math.floor(ttlSeconds));
  const sig = base64url(await hmac(secret, `${wellFormedKey(key)}\n${exp}`));
  return { path: `/files/${keyToPath(key)}?exp=${exp}&sig=${sig}`, exp };
}

export type LinkCheck = { ok: true } | { ok: false; code: 'link.invalid' | 'link.expired' };

/**
 * Verify a link against one or more secrets (the current one first, then any being rotated out).
 * An expired link is reported as expired only when its signature is valid, so a forged link learns
 * nothing about expiry.
 */
export async function verifyLink(
  secrets: readonly string[],
  key: string,
  exp: string | null,
  sig: string | null,
  nowMs: number = Date.now(),
): Promise<LinkCheck> {
  if (!exp || !sig || !/^\d{1,12}$/.test(exp) || sig.length > 100) return { ok: false, code: 'link.invalid' };
  let valid = false;
  for (const secret of secrets) {
    if (!secret) continue;
    const expected = base64url(await hmac(secret, `${key}\n${exp}`));
    if (timingSafeEqual(expected, sig)) valid = true;
  }
  if (!valid) return { ok: false, code: 'link.invalid' };
  if (Number(exp) * 1000 < nowMs) return { ok: false, code: 'link.expired' };
  return { ok: true };
}

/**
 * A signed token carrying a small JSON payload (`<base64url json>.<hmac>`), for state a client
 * hands back later, such as a multipart upload's id and declared size. `context` (for example the
 * object key, which names the tenant) is signed too, so a token is useless anywhere else.
 */
export async function signToken(secret: string, context: string, payload: unknown): Promise<string> {
  const body = base64url(encoder.encode(JSON.stringify(payload)));
  return `${body}.${base64url(await hmac(secret, `${context}\n${body}`))}`;
}

/** The payload of a token signed by any of `secrets` for `context`, or null. */
export async function verifyToken(secrets: readonly string[], context: string, token: string): Promise<unknown> {
  const m = /^([\w-]{1,2000})\.([\w-]{43})$/.exec(token);
  if (!m) return null;
  let valid = false;
  for (const secret of secrets) {
    if (secret && timingSafeEqual(base64url(await hmac(secret, `${context}\n${m[1]}`)), m[2]!)) valid = true;
  }
  if (!valid) return null;
  try {
    const bin = atob(m[1]!.replaceAll('-', '+').replaceAll('_', '/'));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}
