/**
 * One job from start to end: get the input (download it with byte progress, or use the uploaded
 * body), sniff it with ffprobe, run the op's handler, announce its outputs, and finish with `done` or
 * a coded `error`. Progress is one 0-100 figure for the whole job: the download takes the first part
 * of the bar when there is one.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { contentTypeFor } from '../../../src/protocol/ops.ts';
import type { JobLimits, Stage } from '../../../src/protocol/runner.ts';
import type { RunnerConfig } from './config.ts';
import { type FetchLimits, openSource, saveResponse } from './fetch-input.ts';
import { type Job, JobError } from './job.ts';
import { type MediaInfo, probeMedia } from './media.ts';
import { handlerFor } from './ops/index.ts';
import type { OpContext, OpInput } from './ops/op-context.ts';
import { crashMessage } from './tool-errors.ts';
import { verifyOutput } from './verify-output.ts';
import { downloadWithYtDlp } from './ytdlp.ts';

/** Share of the bar the download takes, by op (the op itself takes the rest). */
const DOWNLOAD_SHARE: Record<string, number> = { download: 0.9, probe: 0.8, thumbnail: 0.7 };
const DEFAULT_DOWNLOAD_SHARE = 0.3;

/** A safe extension from a URL path or a file name; 'bin' when there is none. */
export function extensionOf(name: string): string {
  const m = /\.([a-z0-9]{1,5})$/i.exec(name.split(/[?#]/)[0] ?? '');
  return m ? m[1]!.toLowerCase() : 'bin';
}

export function inputPath(job: Job, ext: string): string {
  return path.join(job.dir, `input.${ext}`);
}

/** Where an extra input (a render's slide, its subtitles) is kept; the name is checked by the server. */
export function extraInputPath(job: Job, name: string, filename: string): string {
  return path.join(job.dir, `extra-${name}.${extensionOf(filename)}`);
}

/** Fetch the spec's URL extra inputs (same SSRF checks as the main input), after the body ones. */
async function fetchExtraInputs(
  job: Job,
  config: RunnerConfig,
  bodyExtras: ReadonlyMap<string, string>,
  report: (stage: Stage, fraction: number, extra?: Record<string, number | string>) => void,
): Promise<Map<string, string>> {
  const extras = new Map(bodyExtras);
  const urls = (job.spec.extraInputs ?? []).filter((e) => e.kind === 'url');
  const limits = fetchLimits(config, job);
  for (const [i, e] of urls.entries()) {
    report('downloading', i / urls.length, { message: `fetching ${e.name}` });
    const { res, url } = await openSource(e.url, limits, job.signal);
    const file = extraInputPath(job, e.name, new URL(url).pathname);
    await saveResponse(job, res, url, file, limits, () => {});
    extras.set(e.name, file);
  }
  return extras;
}

function fetchLimits(config: RunnerConfig, job: Job): FetchLimits {
  return {
    maxInputBytes: Math.min(config.maxInputBytes, job.spec.limits?.maxInputBytes ?? Number.POSITIVE_INFINITY),
    connectTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    allowHosts: config.allowHosts,
  };
}

/** Download a URL input into the job directory; returns its path. */
async function fetchUrlInput(
  job: Job,
  config: RunnerConfig,
  url: string,
  report: (stage: Stage, fraction: number, extra?: Record<string, number | string>) => void,
  timeLeftMs: () => number,
): Promise<string> {
  const limits = fetchLimits(config, job);
  report('downloading', 0, { message: `connecting to ${new URL(url).host}` });
  const { res, url: finalUrl } = await openSource(url, limits, job.signal);
  const type = String(res.headers['content-type'] ?? '').toLowerCase();
  const onBytes = (p: { bytes: number; totalBytes?: number; bytesPerSecond?: number; eta?: number }) =>
    report('downloading', p.totalBytes ? p.bytes / p.totalBytes : 0, {
      message: 'downloading',
      ...p,
    });
  if (type.startsWith('text/html') || type.startsWith('application/xhtml')) {
    res.destroy();
    // A web page, not a file: a site yt-dlp may know.
    const format = job.spec.step.op === 'download' ? job.spec.step.format : undefined;
    try {
      return await downloadWithYtDlp(
        job,
        finalUrl,
        format,
        limits.maxInputBytes,
        timeLeftMs(),
        config.allowHosts,
        onBytes,
      );
    } catch (err) {
      if (err instanceof JobError && err.code === 'internal') {
        throw new JobError('media.unsupported', 'the URL is a web page, not a media file (yt-dlp is not installed)');
      }
      throw err;
    }
  }
  const file = inputPath(job, extensionOf(new URL(finalUrl).pathname));
  await saveResponse(job, res, finalUrl, file, limits, onBytes);
  return file;
}

/** Refuse media past the job's duration or frame-size limits (sniffed, not trusted from the name). */
export function checkMediaLimits(info: MediaInfo, limits: JobLimits | undefined): void {
  const maxSeconds = limits?.maxDurationSeconds;
  if (maxSeconds && info.duration !== null && info.duration > maxSeconds) {
    throw new JobError(
      'media.too_long',
      `the media is ${Math.round(info.duration)} s long; the limit is ${maxSeconds} s`,
    );
  }
  const maxSide = limits?.maxVideoSidePx;
  if (maxSide) {
    for (const s of info.probe.streams) {
      const side = Math.max(s.width ?? 0, s.height ?? 0);
      if (s.codec_type === 'video' && side > maxSide) {
        throw new JobError(
          'media.resolution_too_high',
          `a frame is ${s.width}x${s.height}; the longest side may be ${maxSide} px`,
        );
      }
    }
  }
}

/** Run the job to its end; never throws (failures become the job's error event). */
export async function runJob(
  job: Job,
  config: RunnerConfig,
  bodyInput: string | null,
  bodyExtras: ReadonlyMap<string, string> = new Map(),
): Promise<void> {
  const deadline =
    job.createdAt + Math.min(config.jobTimeoutMs, job.spec.limits?.timeoutMs ?? Number.POSITIVE_INFINITY);
  const timeLeftMs = () => {
    const left = deadline - Date.now();
    if (left <= 0) throw new JobError('job.timeout', 'the job ran past its time limit');
    return left;
  };
  const timer = setTimeout(() => job.controller.abort(), Math.max(0, deadline - Date.now()));
  const step = job.spec.step;
  const share = bodyInput ? 0 : (DOWNLOAD_SHARE[step.op] ?? DEFAULT_DOWNLOAD_SHARE);
  let span: [number, number] = [0, share * 100];
  const report = (stage: Stage, fraction: number, extra: Record<string, number | string> = {}) => {
    const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
    job.reportProgress({ stage, progress: span[0] + (span[1] - span[0]) * f, ...extra });
  };
  try {
    const file =
      bodyInput ??
      (job.spec.input.kind === 'url'
        ? await fetchUrlInput(job, config, job.spec.input.url, report, timeLeftMs)
        : (() => {
            throw new JobError('input.invalid', 'the job has no input');
          })());
    const extras = await fetchExtraInputs(job, config, bodyExtras, report);
    span = [share * 100, 100];
    report('probing', 0, { message: 'reading the media' });
    const info = await probeMedia(job, file);
    checkMediaLimits(info, job.spec.limits);
    if (step.op !== 'probe' && !info.hasAudio && !info.hasVideo) {
      throw new JobError(
        'media.no_stream',
        'the input has no audio or video stream (only subtitles, data or cover art)',
      );
    }
    const input: OpInput = { path: file, ext: extensionOf(file), info };
    // Decode checks of announced outputs, running while the task object stores them; `done` waits.
    const checks: Promise<void>[] = [];
    const ctx: OpContext = {
      job,
      config,
      step,
      input,
      extras,
      progress: (stage, fraction, extra = {}) => report(stage, fraction, extra as Record<string, number | string>),
      output: async (out, name, meta, check) => {
        let size: number;
        if (check) {
          const verified = await verifyOutput(job, out, check);
          size = verified.size;
          checks.push(verified.decoded);
        } else size = (await stat(out)).size;
        const max = Math.min(config.maxOutputBytes, job.spec.limits?.maxOutputBytes ?? Number.POSITIVE_INFINITY);
        if (size > max) throw new JobError('job.output_too_large', `${name} is ${size} bytes; the limit is ${max}`);
        job.addOutput({ name, path: out, size, contentType: contentTypeFor(name) }, meta);
      },
      timeLeftMs,
    };
    await handlerFor(step)(ctx);
    report('finishing', 0.99, { message: 'checking the result' });
    await Promise.all(checks);
    report('finishing', 1, { message: 'done' });
    job.succeed();
  } catch (err) {
    if (job.signal.aborted && Date.now() >= deadline)
      job.fail(new JobError('job.timeout', 'the job ran past its time limit'));
    else if (err instanceof JobError) job.fail(err);
    else {
      console.error(
        JSON.stringify({ level: 'error', msg: 'job failed unexpectedly', job: job.id, error: String(err) }),
      );
      job.fail(new JobError('runner.crashed', crashMessage(err), true));
    }
  } finally {
    clearTimeout(timer);
  }
}
