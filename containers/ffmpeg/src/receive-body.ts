/**
 * Receiving a POST /jobs body that carries several files back to back (see src/protocol/runner.ts):
 * the main input, then each body extra input, each exactly its declared size. Streams to disk with
 * backpressure; never holds a file in memory.
 *
 * Used by server.ts.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';

export interface BodyPart {
  path: string;
  /** Bytes of this part; the last part may leave it out (it takes the rest of the body). */
  size?: number;
}

function write(out: WriteStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = out.write(chunk, (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else out.once('drain', resolve);
  });
}

function close(out: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
}

/**
 * Split `body` into `parts`. Rejects when the body is shorter or longer than the sizes say, or
 * breaks off.
 */
export async function receiveParts(body: Readable, parts: readonly BodyPart[]): Promise<void> {
  let i = 0;
  let left = parts[0]?.size ?? Number.POSITIVE_INFINITY;
  let out: WriteStream | null = parts[0] ? createWriteStream(parts[0].path) : null;
  try {
    for await (const raw of body as AsyncIterable<Buffer>) {
      let chunk = raw;
      while (chunk.length > 0) {
        if (!out) throw new Error('the body is longer than the declared inputs');
        const take = Math.min(chunk.length, left);
        await write(out, chunk.subarray(0, take));
        chunk = chunk.subarray(take);
        left -= take;
        if (left === 0) {
          await close(out);
          i++;
          out = parts[i] ? createWriteStream(parts[i]!.path) : null;
          left = parts[i]?.size ?? Number.POSITIVE_INFINITY;
        }
      }
    }
    // An empty part at the end (size 0) still gets its file.
    while (out && left === 0) {
      await close(out);
      i++;
      out = parts[i] ? createWriteStream(parts[i]!.path) : null;
      left = parts[i]?.size ?? Number.POSITIVE_INFINITY;
    }
    if (out && left !== Number.POSITIVE_INFINITY) throw new Error(`input ${i + 1} arrived short by ${left} bytes`);
    if (out) await close(out);
    if (i < parts.length - 1) throw new Error('the body ended before all inputs arrived');
  } catch (err) {
    out?.destroy();
    throw err;
  }
}
