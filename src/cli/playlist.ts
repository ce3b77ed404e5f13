/**
 * `clipyard --playlist <url> [what]`: a playlist or channel becomes a batch on the server (one task per
 * entry, the steps chosen as for a single link); this shows the batch's combined progress and saves
 * the zip of every output (folders named by the entries' titles) here, or at -o.
 *
 * Used by main.ts; exit codes as for one task (0 all succeeded, 1 some failed, 4 canceled).
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Clipyard } from '../client/index.ts';
import type { Step } from '../protocol/ops.ts';
import { type CliOptions, EXIT } from './args.ts';
import { formatBytes } from './progress.ts';

/** A file name made of a batch label: letters, digits, spaces, dots and dashes only. */
function zipName(label: string | null, id: string): string {
  const stem = (label ?? '')
    .replace(/[^\w.\- ]+/g, '_')
    .replace(/^[.\s]+/, '')
    .trim()
    .slice(0, 100);
  return `${stem || `batch-${id.slice(0, 8)}`}.zip`;
}

export async function runPlaylist(
  client: Clipyard,
  opts: CliOptions,
  steps: Step[],
  io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream; cwd: string },
): Promise<number> {
  const say = (text: string) => {
    if (!opts.json && !opts.quiet) io.stdout.write(`${text}\n`);
  };
  const created = await client.batches.create(
    { playlist: { url: opts.source }, steps, ...(opts.label ? { label: opts.label } : {}) },
    opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {},
  );
  say(`batch ${created.id}: ${created.batch.label ?? 'playlist'}, ${created.taskIds.length} tasks`);
  let shown = '';
  const final = await client.batches.wait(created.id, {
    onProgress: (b) => {
      const done = b.counts.succeeded + b.counts.failed + b.counts.canceled;
      const line = `${done}/${b.total} finished, ${Math.floor(b.progress)}%`;
      if (line !== shown) say(line);
      shown = line;
    },
  });
  let saved: string | null = null;
  if (final.counts.succeeded > 0) {
    const res = await client.batches.archive(final.id);
    const file = path.resolve(io.cwd, opts.output ?? zipName(final.label, final.id));
    const target = opts.force || !existsSync(file) ? file : file.replace(/\.zip$/, `-${final.id.slice(0, 6)}.zip`);
    const part = `${target}.part`;
    try {
      await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(part));
      await rename(part, target);
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
    saved = target;
    const { size } = statSync(target);
    say(`saved ${path.relative(io.cwd, target) || target} (${formatBytes(size)})`);
  }
  const code = final.status === 'succeeded' ? EXIT.ok : final.status === 'canceled' ? EXIT.canceled : EXIT.failed;
  if (code !== EXIT.ok && !opts.json) io.stderr.write(`clipyard: batch ${final.id} ${final.status}\n`);
  if (opts.json) {
    io.stdout.write(
      `${JSON.stringify({ id: final.id, status: final.status, label: final.label, counts: final.counts, archive: saved, exitCode: code })}\n`,
    );
  }
  return code;
}
