/**
 * Multipart uploads for large inputs, streamed part by part into an R2 multipart upload:
 *
 *   POST   /api/uploads/multipart?filename=x.mp4&size=<bytes>   start: {id, token, partSize, parts}
 *   PUT    /api/uploads/multipart/:id/parts/:n?token=...         one part, with Content-Length
 *   POST   /api/uploads/multipart/:id/complete?token=...         {"parts": [{partNumber, etag}]}
 *   DELETE /api/uploads/multipart/:id?token=...                  abandon it
 *
 * The total size is declared up front and checked against MAX_UPLOAD_BYTES before anything is
 * stored (413). Every part must be exactly its share of that size (all `partSize` but the last),
 * checked from Content-Length before reading and enforced while streaming, so no sequence of parts
 * can store more than was declared. The declared size travels in a signed token bound to the
 * tenant's object key: another tenant's token or id is simply not found. An upload never completed
 * is removed by R2 (incomplete multipart uploads expire), and a completed one that nobody uses is
 * swept with the other stale uploads.
 */
import { type Context, Hono } from 'hono';
import { sanitizeFilename } from '../../lib/filenames.ts';
import { newTaskId } from '../../lib/ids.ts';
import { signToken, verifyToken } from '../../lib/links.ts';
import { linkSecrets, maxUploadBytes } from '../../objects/config.ts';
import { ClipyardError } from '../../protocol/errors.ts';
import type { AppEnv } from '../auth.ts';

/** Size of every part but the last (R2 wants at least 5 MiB, all equal). */
export const PART_SIZE_BYTES = 8 * 1024 * 1024;
/** R2's limit on parts per upload. */
const MAX_PARTS = 10_000;
/** Longest part list accepted by complete (10 000 parts with their etags fit). */
const MAX_COMPLETE_BODY_BYTES = 1024 * 1024;

export const multipart = new Hono<AppEnv>();

interface UploadToken {
  u: string;
  s: number;
  f: string;
}

function keyOf(tenant: string, id: string): string {
  return `uploads/${tenant}/${id}`;
}

function notFound(): ClipyardError {
  return new ClipyardError('upload.not_found', 'no such upload in progress', { status: 404 });
}

function secret(env: Env): string {
  const s = linkSecrets(env)[0];
  if (!s) throw new ClipyardError('internal', 'uploads are not configured (LINK_SECRET)', { status: 500 });
  return s;
}

/** The upload this request names, from its id and token; 404 when either is not ours. */
async function resolve(c: Context<AppEnv>) {
  const id = c.req.param('id') ?? '';
  const token = c.req.query('token') ?? c.req.header('x-upload-token') ?? '';
  if (!/^[a-z2-7]{20}$/.test(id)) throw notFound();
  const key = keyOf(c.get('tenant'), id);
  const payload = (await verifyToken(linkSecrets(c.env), key, token)) as UploadToken | null;
  if (!payload || typeof payload.u !== 'string' || !Number.isSafeInteger(payload.s)) throw notFound();
  return { id, key, token: payload, upload: c.env.BUCKET.resumeMultipartUpload(key, payload.u) };
}

/** Bytes part `n` (1-based) must have, or null when there is no such part. */
export function partLength(total: number, n: number): number | null {
  const parts = Math.max(1, Math.ceil(total / PART_SIZE_BYTES));
  if (!Number.isInteger(n) || n < 1 || n > parts) return null;
  return n < parts ? PART_SIZE_BYTES : total - (parts - 1) * PART_SIZE_BYTES;
}

multipart.post('/', async (c) => {
  const max = maxUploadBytes(c.env);
  const sizeText = c.req.query('size') ?? '';
  if (!/^\d{1,15}$/.test(sizeText) || Number(sizeText) === 0) {
    throw new ClipyardError('upload.length_required', 'declare the total size: ?size=<bytes>', { status: 411 });
  }
  const size = Number(sizeText);
  if (size > max) {
    throw new ClipyardError('upload.too_large', `uploads are limited to ${max} bytes; this one is ${size}`, {
      status: 413,
    });
  }
  const parts = Math.ceil(size / PART_SIZE_BYTES);
  if (parts > MAX_PARTS) throw new ClipyardError('upload.too_large', 'too many parts', { status: 413 });
  const filename = sanitizeFilename(c.req.query('filename') ?? 'upload', 'upload');
  const id = newTaskId();
  const key = keyOf(c.get('tenant'), id);
  const upload = await c.env.BUCKET.createMultipartUpload(key, {
    httpMetadata: { contentType: 'application/octet-stream' },
    customMetadata: { filename },
  });
  const token = await signToken(secret(c.env), key, { u: upload.uploadId, s: size, f: filename } satisfies UploadToken);
  return c.json({ id, token, size, partSize: PART_SIZE_BYTES, parts, filename }, 201);
});

multipart.put('/:id/parts/:n', async (c) => {
  const { token, upload } = await resolve(c);
  const n = Number(c.req.param('n'));
  const expected = partLength(token.s, n);
  if (expected === null) {
    throw new ClipyardError('upload.bad_part', `part numbers run from 1 to ${Math.ceil(token.s / PART_SIZE_BYTES)}`, {
      status: 400,
    });
  }
  const lengthHeader = c.req.header('content-length');
  if (!lengthHeader || !/^\d{1,15}$/.test(lengthHeader)) {
    throw new ClipyardError('upload.length_required', 'send each part with a Content-Length header', { status: 411 });
  }
  if (Number(lengthHeader) !== expected || !c.req.raw.body) {
    const status = Number(lengthHeader) > expected ? 413 : 400;
    throw new ClipyardError('upload.bad_part', `part ${n} must be exactly ${expected} bytes, not ${lengthHeader}`, {
      status,
    });
  }
  try {
    const part = await upload.uploadPart(n, c.req.raw.body.pipeThrough(new FixedLengthStream(expected)));
    return c.json({ partNumber: part.partNumber, etag: part.etag });
  } catch (err) {
    if (/upload|not ?found|NoSuchUpload/i.test(String(err)) && !/length|stream|closed/i.test(String(err))) {
      throw notFound();
    }
    throw new ClipyardError('upload.incomplete', `part ${n} did not arrive whole`, { status: 400 });
  }
});

multipart.post('/:id/complete', async (c) => {
  const { id, key, token, upload } = await resolve(c);
  const text = await c.req.text();
  if (text.length > MAX_COMPLETE_BODY_BYTES) {
    throw new ClipyardError('upload.bad_part', 'the part list is too long', { status: 413 });
  }
  let body: { parts?: { partNumber?: unknown; etag?: unknown }[] } | null = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* answered as a bad part list below */
  }
  const parts = body?.parts;
  const count = Math.ceil(token.s / PART_SIZE_BYTES);
  if (
    !Array.isArray(parts) ||
    parts.length !== count ||
    !parts.every((p, i) => p?.partNumber === i + 1 && typeof p.etag === 'string' && p.etag.length < 200)
  ) {
    throw new ClipyardError(
      'upload.bad_part',
      `list all ${count} parts in order: {"parts": [{"partNumber": 1, "etag": "..."}]}`,
      {
        status: 400,
      },
    );
  }
  let size: number;
  try {
    size = (await upload.complete(parts as R2UploadedPart[])).size;
  } catch {
    throw new ClipyardError('upload.incomplete', 'the parts do not make a whole upload (missing or changed parts)', {
      status: 400,
    });
  }
  if (size !== token.s) {
    await c.env.BUCKET.delete(key);
    throw new ClipyardError('upload.incomplete', `the upload is ${size} bytes, not the ${token.s} declared`, {
      status: 400,
    });
  }
  return c.json({ id, size, filename: token.f, input: { upload: id } }, 201);
});

multipart.delete('/:id', async (c) => {
  const { upload } = await resolve(c);
  await upload.abort().catch(() => {});
  return c.body(null, 204);
});
