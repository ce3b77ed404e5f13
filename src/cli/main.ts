/**
 * The clipyard CLI: submit a URL or a local file, show live progress, save the outputs here.
 *
 *   npx clipyard https://example.com/clip.mp4 --audio mp3
 *
 * Built on the typed client (src/client); runs on plain Node 22.12+ (types are stripped natively).
 * bin/clipyard.mjs is the entry npm links; the exit codes are listed in ./args.ts (EXIT).
 */
import { createWriteStream, existsSync, openAsBlob, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Clipyard, ClipyardApiError, ClipyardConnectionError, type TaskSnapshot } from '../client/index.ts';
import { type CliOptions, EXIT, parseArgs, stepsFor, USAGE } from './args.ts';
import { runPlaylist } from './playlist.ts';
import { formatBytes, ProgressView } from './progress.ts';

export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  cwd: string;
}

interface Saved {
  name: string;
  path: string;
  size: number;
  contentType: string;
}

class LocalFileError extends Error {}

/** The name a saved file starts with: the input's own name when it has one, else the task's id. */
export function stemFor(source: string, isFile: boolean, taskId: string): string {
  let base = '';
  if (isFile) base = path.basename(source);
  else {
    try {
      const last = new URL(source).pathname.split('/').filter(Boolean).pop() ?? '';
      base = /\.\w{2,5}$/.test(last) ? decodeURIComponent(last) : '';
    } catch {
      base = '';
    }
  }
  const stem = base
    .replace(/\.[^.]*$/, '')
    .replace(/[^\w.\- ]+/g, '_')
    .replace(/^[.\s]+/, '')
    .slice(0, 100);
  return stem || `clipyard-${taskId.slice(0, 8)}`;
}

/** `name.ext`, or `name-1.ext`, `name-2.ext`... whichever does not exist yet. */
function freePath(file: string): string {
  if (!existsSync(file)) return file;
  const ext = path.extname(file);
  const base = file.slice(0, file.length - ext.length);
  for (let i = 1; ; i++) {
    const candidate = `${base}-${i}${ext}`;
    if (!existsSync(candidate)) return candidate;
  }
}

/** Where each output goes; see the -o rules in the README. */
function targets(task: TaskSnapshot, opts: CliOptions, stem: string, cwd: string): Map<string, string> {
  const outputs = task.outputs;
  const out = new Map<string, string>();
  const explicit = opts.output ? path.resolve(cwd, opts.output) : null;
  const explicitDir =
    explicit &&
    (outputs.length > 1 || opts.output!.endsWith('/') || (existsSync(explicit) && statSync(explicit).isDirectory()));
  if (explicit && !explicitDir) {
    out.set(outputs[0]!.name, explicit);
    return out;
  }
  const dir = explicit ?? cwd;
  const exts = outputs.map((o) => path.extname(o.name));
  for (const o of outputs) {
    const ext = path.extname(o.name);
    const clash = exts.filter((e) => e === ext).length > 1;
    const name = clash ? `${stem}-${path.basename(o.name, ext)}${ext}` : `${stem}${ext}`;
    const file = path.join(dir, name);
    out.set(o.name, opts.force ? file : freePath(file));
  }
  return out;
}

async function save(client: Clipyard, id: string, name: string, file: string): Promise<number> {
  const res = await client.download(id, name);
  if (!res.body) throw new ClipyardApiError(502, null, `empty download for ${name}`);
  await mkdir(path.dirname(file), { recursive: true }).catch(() => {});
  const part = `${file}.part`;
  try {
    await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(part));
    await rename(part, file);
  } catch (err) {
    await rm(part, { force: true });
    if (err instanceof ClipyardApiError || err instanceof ClipyardConnectionError) throw err;
    throw new LocalFileError(`cannot write ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return statSync(file).size;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, '../../package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function exitFor(err: unknown): number {
  if (err instanceof ClipyardConnectionError) return EXIT.unreachable;
  if (err instanceof LocalFileError) return EXIT.io;
  if (err instanceof ClipyardApiError) {
    if (err.status === 401) return EXIT.auth;
    if (err.status >= 500 || err.status === 429) return EXIT.unreachable;
    return EXIT.usage;
  }
  return EXIT.unreachable;
}

/** Run the CLI; resolves with the exit code. */
export async function main(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: CliIo,
): Promise<number> {
  const parsed = parseArgs(argv, env);
  if (parsed.kind === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'version') {
    io.stdout.write(`clipyard ${version()}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'error') {
    io.stderr.write(`clipyard: ${parsed.message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  const opts = parsed.options;
  const say = (text: string) => {
    if (!opts.json && !opts.quiet) view.note(text);
  };
  const client = new Clipyard({ url: opts.server, ...(opts.apiKey ? { apiKey: opts.apiKey } : {}) });
  const isUrl = /^[a-z][\w+.-]*:\/\//i.test(opts.source);
  const localPath = isUrl ? null : path.resolve(io.cwd, opts.source);
  const label = path.basename(isUrl ? (opts.source.split('?')[0] ?? opts.source) : opts.source).slice(0, 24) || 'task';
  const view = new ProgressView({
    write: (t) => io.stdout.write(t),
    tty: Boolean(io.stdout.isTTY),
    columns: () => io.stdout.columns || 80,
    label,
  });

  let taskId: string | null = null;
  let interrupted = 0;
  const onSigint = () => {
    interrupted += 1;
    if (interrupted > 1 || !taskId) process.exit(interrupted > 1 ? 130 : EXIT.canceled);
    say('canceling… (Ctrl-C again to leave it running)');
    client.cancel(taskId).catch(() => {});
  };
  process.on('SIGINT', onSigint);

  try {
    if (opts.playlist) {
      const steps = (opts.steps ?? stepsFor(opts.presets)) as Parameters<typeof runPlaylist>[2];
      return await runPlaylist(client, opts, steps, io);
    }
    let input: { url: string } | { upload: string };
    if (localPath) {
      if (!existsSync(localPath) || !statSync(localPath).isFile()) {
        throw new LocalFileError(`${opts.source}: no such file (give a file or an http(s) URL)`);
      }
      const blob = await openAsBlob(localPath);
      say(`uploading ${path.basename(localPath)} (${formatBytes(blob.size)})`);
      const showUpload = Boolean(io.stdout.isTTY) && !opts.json && !opts.quiet;
      const upload = await client.upload(blob, path.basename(localPath), {
        onProgress: (sent, total) => {
          if (showUpload && total > 0 && sent < total) {
            io.stdout.write(`\r\x1b[Kuploaded ${Math.floor((sent / total) * 100)}% (${formatBytes(sent)})`);
          } else if (showUpload) io.stdout.write('\r\x1b[K');
        },
      });
      input = upload.input;
    } else {
      input = { url: opts.source };
    }
    const created = await client.create(
      {
        input,
        steps: (opts.steps ?? stepsFor(opts.presets)) as Parameters<Clipyard['create']>[0]['steps'],
        ...(opts.label ? { label: opts.label } : {}),
      },
      opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {},
    );
    taskId = created.id;
    say(`task ${created.id}${created.created ? '' : ' (existing, same idempotency key)'}  ${created.links.web}`);

    let lastStatus = '';
    const final = await client.wait(created.id, {
      onProgress: (p) => {
        if (opts.json || opts.quiet) return;
        if (p.status !== lastStatus && p.status === 'retrying') say(`retrying: ${p.message}`);
        lastStatus = p.status;
        view.update(p);
      },
    });
    view.finish();

    const stem = stemFor(opts.source, Boolean(localPath), final.id);
    const saved: Saved[] = [];
    if (final.status === 'succeeded') {
      for (const [name, file] of targets(final, opts, stem, io.cwd)) {
        const size = await save(client, final.id, name, file);
        const o = final.outputs.find((x) => x.name === name)!;
        saved.push({ name, path: file, size, contentType: o.contentType });
        const shown = path.relative(io.cwd, file);
        // An empty transcript is not a broken download: the recognizer heard no speech.
        const what =
          size === 0 && name.startsWith('transcript.') ? '0 B, empty: no speech was recognized' : formatBytes(size);
        say(`saved ${shown && !shown.startsWith('..') ? shown : file} (${what})`);
      }
    }
    const code = final.status === 'succeeded' ? EXIT.ok : final.status === 'canceled' ? EXIT.canceled : EXIT.failed;
    if (final.status === 'failed') {
      const e = final.error;
      const msg = `task ${final.id} failed${e ? `: ${e.code}: ${e.message}` : ''}`;
      if (!opts.json) io.stderr.write(`clipyard: ${msg}\n`);
    } else if (final.status === 'canceled' && !opts.json) {
      io.stderr.write(`clipyard: task ${final.id} canceled\n`);
    }
    if (opts.json) {
      io.stdout.write(
        `${JSON.stringify({ id: final.id, status: final.status, outputs: saved, error: final.error, exitCode: code })}\n`,
      );
    }
    return code;
  } catch (err) {
    view.finish();
    const code = exitFor(err);
    const e = err as { code?: string; message?: string; retryable?: boolean };
    const body = {
      code: e.code ?? (err instanceof LocalFileError ? 'client.io' : 'client.error'),
      message: e.message ?? String(err),
      retryable: e.retryable ?? false,
    };
    if (opts.json) {
      io.stdout.write(`${JSON.stringify({ id: taskId, status: null, outputs: [], error: body, exitCode: code })}\n`);
    } else io.stderr.write(`clipyard: ${body.message}${body.code.includes('.') ? ` (${body.code})` : ''}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
