/**
 * Uploading input files from the client: one request for small files, the multipart protocol
 * (POST /api/uploads/multipart, PUT each part, complete) for large ones, so no single request has to
 * carry a whole large file. Progress is reported after each part.
 */
import { ClipyardApiError } from './errors.ts';
import { enc, type Transport } from './transport.ts';

export interface Upload {
  id: string;
  size: number;
  filename: string;
  input: { upload: string };
}

export interface UploadOptions {
  signal?: AbortSignal;
  /** force (true) or forbid (false) the multipart protocol; default: by size */
  multipart?: boolean;
  /** bytes sent so far, after each part (multipart) or at the end */
  onProgress?: (sent: number, total: number) => void;
}

/** Files above this go in parts. */
export const MULTIPART_THRESHOLD_BYTES = 32 * 1024 * 1024;
/** A failed part is sent again this many times before the upload is abandoned. */
const PART_ATTEMPTS = 3;

interface Started {
  id: string;
  token: string;
  size: number;
  partSize: number;
  parts: number;
}

export async function uploadFile(
  t: Transport,
  blob: Blob,
  filename: string,
  opts: UploadOptions = {},
): Promise<Upload> {
  const multipart = opts.multipart ?? blob.size > MULTIPART_THRESHOLD_BYTES;
  if (!multipart) {
    const up = await t.json<Upload>('POST', `/api/uploads?filename=${enc(filename)}`, {
      body: blob,
      headers: { 'content-type': 'application/octet-stream' },
      signal: opts.signal,
    });
    opts.onProgress?.(blob.size, blob.size);
    return up;
  }
  const started = await t.json<Started>('POST', `/api/uploads/multipart?filename=${enc(filename)}&size=${blob.size}`, {
    signal: opts.signal,
  });
  const base = `/api/uploads/multipart/${enc(started.id)}`;
  const token = `token=${enc(started.token)}`;
  try {
    const parts: { partNumber: number; etag: string }[] = [];
    for (let n = 1; n <= started.parts; n++) {
      const chunk = blob.slice((n - 1) * started.partSize, Math.min(blob.size, n * started.partSize));
      parts.push(await sendPart(t, `${base}/parts/${n}?${token}`, chunk, opts.signal));
      opts.onProgress?.(Math.min(blob.size, n * started.partSize), blob.size);
    }
    return await t.json<Upload>('POST', `${base}/complete?${token}`, {
      body: JSON.stringify({ parts }),
      headers: { 'content-type': 'application/json' },
      signal: opts.signal,
    });
  } catch (err) {
    await t.request('DELETE', `${base}?${token}`).catch(() => {});
    throw err;
  }
}

async function sendPart(
  t: Transport,
  path: string,
  chunk: Blob,
  signal: AbortSignal | undefined,
): Promise<{ partNumber: number; etag: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await t.json('PUT', path, {
        body: chunk,
        headers: { 'content-type': 'application/octet-stream' },
        signal,
      });
    } catch (err) {
      const retryable = !(err instanceof ClipyardApiError) || err.retryable;
      if (!retryable || attempt >= PART_ATTEMPTS || signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
