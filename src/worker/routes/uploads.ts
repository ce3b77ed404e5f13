/**
 * POST /api/uploads: stream an input file into R2 for a later `{ "upload": id }` task input.
 *
 * The size limit is enforced from Content-Length before a byte is read (413), and the body is piped
 * through a FixedLengthStream so a body shorter or longer than announced fails instead of storing a
 * truncated file. Large files go in parts (uploads-multipart.ts).
 */
import { Hono } from 'hono';
import { sanitizeFilename } from '../../lib/filenames.ts';
import { newTaskId } from '../../lib/ids.ts';
import { maxUploadBytes } from '../../objects/config.ts';
import { ClipyardError } from '../../protocol/errors.ts';
import type { AppEnv } from '../auth.ts';
import { multipart } from './uploads-multipart.ts';

export const uploads = new Hono<AppEnv>();

uploads.route('/multipart', multipart);

uploads.post('/', async (c) => {
  const max = maxUploadBytes(c.env);
  const lengthHeader = c.req.header('content-length');
  if (!lengthHeader || !/^\d{1,15}$/.test(lengthHeader)) {
    throw new ClipyardError('upload.length_required', 'send the file with a Content-Length header', { status: 411 });
  }
  const length = Number(lengthHeader);
  if (length > max) {
    throw new ClipyardError('upload.too_large', `uploads are limited to ${max} bytes; this one is ${length}`, {
      status: 413,
    });
  }
  if (length === 0 || !c.req.raw.body)
    throw new ClipyardError('upload.incomplete', 'the upload is empty', { status: 400 });
  const filename = sanitizeFilename(c.req.query('filename') ?? c.req.header('x-filename') ?? 'upload', 'upload');
  const id = newTaskId();
  const key = `uploads/${c.get('tenant')}/${id}`;
  try {
    await c.env.BUCKET.put(key, c.req.raw.body.pipeThrough(new FixedLengthStream(length)), {
      httpMetadata: { contentType: 'application/octet-stream' },
      customMetadata: { filename },
    });
  } catch (err) {
    await c.env.BUCKET.delete(key).catch(() => {});
    throw new ClipyardError('upload.incomplete', `the upload did not arrive whole: ${String(err)}`, { status: 400 });
  }
  return c.json({ id, size: length, filename, input: { upload: id } }, 201);
});
