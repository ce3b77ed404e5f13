/**
 * The runner protocol over HTTP (see src/protocol/runner.ts): start a job, stream its events as
 * NDJSON with heartbeats, hand out its outputs, cancel it, and report health.
 *
 * One process serves many jobs; at most `capacity` run at once and the rest wait in line (they say
 * so in their progress). The task object is the only client.
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import type { ErrorCode } from '../../../src/protocol/errors.ts';
import { stepSchema } from '../../../src/protocol/ops.ts';
import {
  decodeJobHeader,
  EXTRA_INPUT_NAME,
  type ExtraInput,
  HEARTBEAT_INTERVAL_MS,
  JOB_HEADER,
  JOB_LIMIT_KEYS,
  type JobSpec,
  MAX_EXTRA_INPUTS,
  RUNNER_VERSION_HEADER,
  type RunnerHealth,
} from '../../../src/protocol/runner.ts';
import type { RunnerConfig } from './config.ts';
import { Job, JobError } from './job.ts';
import { extensionOf, extraInputPath, inputPath, runJob } from './pipeline.ts';
import { handlePlaylist } from './playlist-route.ts';
import { type BodyPart, receiveParts } from './receive-body.ts';
import { Slots } from './slots.ts';
import { crashMessage } from './tool-errors.ts';
import type { ToolVersions } from './tools.ts';
import { type EngineStatus, engineFromEnv } from './transcribe/engine.ts';

export const RUNNER_VERSION = '0.1.0';
const JOB_ID = /^[A-Za-z0-9_-]{1,120}$/;
const MAX_SPEC_BYTES = 64 * 1024;
const MAX_HEADER_BYTES = 1024 * 1024;
/**
 * Heartbeats go out far more often than the protocol's minimum (HEARTBEAT_INTERVAL_MS), so a task
 * object configured with a short stall timeout (a few seconds, as in tests) never mistakes a quiet
 * stretch of a healthy job (probing, a runner-side queue) for a stall. One short line a second is free.
 */
const HEARTBEAT_EVERY_MS = Math.min(1_000, HEARTBEAT_INTERVAL_MS / 2);

function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, retryable = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message, retryable } }));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SPEC_BYTES) throw new Error('job spec too large');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Check a job spec's shape; the step is validated with the same zod schema the Worker used. */
export function parseSpec(value: unknown): JobSpec | string {
  if (!value || typeof value !== 'object') return 'the job spec is not an object';
  const v = value as Record<string, unknown>;
  if (typeof v.jobId !== 'string' || !JOB_ID.test(v.jobId)) return 'jobId is missing or malformed';
  const step = stepSchema.safeParse(v.step);
  if (!step.success) return `invalid step: ${step.error.issues[0]?.message ?? 'unknown'}`;
  const extras = extrasOf(v.extraInputs);
  if (typeof extras === 'string') return extras;
  const more = { ...limitsOf(v.limits), ...(extras.length ? { extraInputs: extras } : {}) };
  const input = v.input as Record<string, unknown> | undefined;
  if (input?.kind === 'url' && typeof input.url === 'string') {
    return { jobId: v.jobId, step: step.data, input: { kind: 'url', url: input.url }, ...more };
  }
  if (input?.kind === 'body') {
    const filename = typeof input.filename === 'string' ? input.filename : 'input.bin';
    const size = sizeOf(input.size);
    if (extras.some((e) => e.kind === 'body') && size === undefined) return 'input.size is required with body extras';
    return {
      jobId: v.jobId,
      step: step.data,
      input: { kind: 'body', filename, ...(size !== undefined ? { size } : {}) },
      ...more,
    };
  }
  return 'input must be {kind:"url",url} or {kind:"body",filename}';
}

function sizeOf(raw: unknown): number | undefined {
  return typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? raw : undefined;
}

/** The spec's extra inputs (render's slides and subtitles), or what is wrong with them. */
function extrasOf(raw: unknown): ExtraInput[] | string {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > MAX_EXTRA_INPUTS) return `extraInputs: at most ${MAX_EXTRA_INPUTS}`;
  const out: ExtraInput[] = [];
  const seen = new Set<string>();
  for (const e of raw as Record<string, unknown>[]) {
    const name = e?.name;
    if (typeof name !== 'string' || !EXTRA_INPUT_NAME.test(name) || seen.has(name)) {
      return 'extraInputs: each needs a unique lower-case name';
    }
    seen.add(name);
    if (e.kind === 'url' && typeof e.url === 'string') out.push({ name, kind: 'url', url: e.url });
    else if (e.kind === 'body' && sizeOf(e.size) !== undefined) {
      const filename = typeof e.filename === 'string' ? e.filename : `${name}.bin`;
      out.push({ name, kind: 'body', filename, size: sizeOf(e.size)! });
    } else return `extraInputs.${name}: expected {kind:"url",url} or {kind:"body",filename,size}`;
  }
  return out;
}

function limitsOf(raw: unknown): Pick<JobSpec, 'limits'> {
  if (!raw || typeof raw !== 'object') return {};
  const out: NonNullable<JobSpec['limits']> = {};
  for (const k of JOB_LIMIT_KEYS) {
    const n = (raw as Record<string, unknown>)[k];
    if (typeof n === 'number' && Number.isFinite(n) && n > 0) out[k] = n;
  }
  return { limits: out };
}

export class RunnerServer {
  readonly jobs = new Map<string, Job>();
  private readonly slots: Slots;
  readonly server: http.Server;
  private readonly config: RunnerConfig;
  private readonly tools: ToolVersions;
  private transcriber: EngineStatus = { engine: 'pocketsphinx', model: '', available: false, detail: 'checking' };

  constructor(config: RunnerConfig, tools: ToolVersions) {
    this.config = config;
    this.tools = tools;
    void engineFromEnv(process.env)
      .status()
      .then((s) => {
        this.transcriber = s;
      });
    this.slots = new Slots(config.capacity);
    // Multi-input jobs (render) carry their spec, slide URLs included, in the x-clipyard-job header.
    this.server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
      res.setHeader(RUNNER_VERSION_HEADER, RUNNER_VERSION);
      this.route(req, res).catch((err: unknown) => sendError(res, 500, 'internal', crashMessage(err), true));
    });
    setInterval(() => this.collect(), 60_000).unref();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://runner');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (req.method === 'GET' && url.pathname === '/health') return sendJson(res, 200, this.health());
    if (req.method === 'POST' && url.pathname === '/playlists') return handlePlaylist(req, res, this.config);
    if (parts[0] !== 'jobs') return sendError(res, 404, 'route.not_found', `no route ${req.method} ${url.pathname}`);
    if (req.method === 'POST' && parts.length === 1) return this.create(req, res);
    const job = parts[1] ? this.jobs.get(parts[1]) : undefined;
    if (!job) {
      req.resume();
      return sendError(res, 404, 'job.not_found', 'this runner does not know that job');
    }
    if (req.method === 'GET' && parts.length === 3 && parts[2] === 'events') {
      const after = Number(url.searchParams.get('after') ?? 0);
      return this.stream(job, Number.isInteger(after) && after >= 0 ? after : 0, req, res);
    }
    if (req.method === 'GET' && parts.length === 4 && parts[2] === 'outputs') return this.output(job, parts[3]!, res);
    if (req.method === 'DELETE' && parts.length === 2) {
      this.jobs.delete(job.id);
      await job.stop(this.config.killGraceMs);
      res.writeHead(204).end();
      return;
    }
    return sendError(res, 404, 'route.not_found', `no route ${req.method} ${url.pathname}`);
  }

  health(): RunnerHealth {
    return {
      ok: this.tools.ffmpeg !== null && this.tools.ffprobe !== null,
      version: RUNNER_VERSION,
      ffmpeg: this.tools.ffmpeg,
      ffprobe: this.tools.ffprobe,
      ytDlp: this.tools.ytDlp,
      activeJobs: [...this.jobs.values()].filter((j) => !j.ended).length,
      capacity: this.config.capacity,
      transcriber: this.transcriber,
    };
  }

  private async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = req.headers[JOB_HEADER];
    const withBody = typeof header === 'string';
    let raw: unknown;
    try {
      raw = withBody ? decodeJobHeader(header) : await readJson(req);
    } catch {
      req.resume();
      return sendError(res, 400, 'request.invalid', 'the job spec is not valid JSON');
    }
    const spec = parseSpec(raw);
    if (typeof spec === 'string') {
      req.resume();
      return sendError(res, 400, 'request.invalid', spec);
    }
    if (this.jobs.has(spec.jobId)) {
      // The object re-sent a job it had already started (it crashed before recording it): same job.
      req.resume();
      return sendJson(res, 200, { jobId: spec.jobId, existing: true });
    }
    const job = new Job(spec, path.join(this.config.jobsDir, spec.jobId));
    // Known from now on, while its body still arrives: a repeated POST is the same job (it must not
    // write into the same directory), and a DELETE stops it.
    this.jobs.set(job.id, job);
    await mkdir(job.dir, { recursive: true });
    let bodyInput: string | null = null;
    const bodyExtras = new Map<string, string>();
    if (withBody) {
      const length = Number(req.headers['content-length']);
      if (Number.isFinite(length) && length > this.config.maxInputBytes) {
        req.resume();
        this.forget(job);
        await rm(job.dir, { recursive: true, force: true });
        return sendError(res, 413, 'source.too_large', `the input is larger than ${this.config.maxInputBytes} bytes`);
      }
      // The main input (when it is in the body), then each body extra, back to back.
      const parts: BodyPart[] = [];
      if (spec.input.kind === 'body') {
        bodyInput = inputPath(job, extensionOf(spec.input.filename));
        parts.push({ path: bodyInput, ...(spec.input.size !== undefined ? { size: spec.input.size } : {}) });
      }
      for (const e of spec.extraInputs ?? []) {
        if (e.kind !== 'body') continue;
        const file = extraInputPath(job, e.name, e.filename);
        bodyExtras.set(e.name, file);
        parts.push({ path: file, size: e.size });
      }
      try {
        await receiveParts(req, parts);
      } catch (err) {
        this.forget(job);
        await rm(job.dir, { recursive: true, force: true });
        return sendError(res, 400, 'upload.incomplete', `the input did not arrive whole: ${String(err)}`, true);
      }
    }
    if (job.signal.aborted) return sendError(res, 409, 'job.canceled', 'the job was canceled while its input arrived');
    sendJson(res, 202, { jobId: job.id });
    void this.start(job, bodyInput, bodyExtras);
  }

  /** Drop a job that never started (its body did not arrive), unless a newer one took its id. */
  private forget(job: Job): void {
    if (this.jobs.get(job.id) === job) this.jobs.delete(job.id);
  }

  private async start(job: Job, bodyInput: string | null, bodyExtras: Map<string, string>): Promise<void> {
    if (!this.slots.tryAcquire()) {
      job.reportProgress({ stage: 'queued', progress: 0, message: 'waiting for a free slot on the media runner' });
      await this.slots.acquire(job.signal);
    }
    try {
      if (!job.signal.aborted) await runJob(job, this.config, bodyInput, bodyExtras);
    } finally {
      this.slots.release();
    }
  }

  private stream(job: Job, after: number, req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    const write = (value: unknown) => res.write(`${JSON.stringify(value)}\n`);
    let last = after;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(beat);
      unsubscribe();
      res.end();
    };
    const unsubscribe = job.subscribe((e) => {
      if (e.seq <= last) return;
      last = e.seq;
      write(e);
      if (e.type === 'done' || e.type === 'error') close();
    });
    const beat = setInterval(() => write({ type: 'heartbeat', at: Date.now() }), HEARTBEAT_EVERY_MS);
    write({ type: 'heartbeat', at: Date.now() });
    for (const e of job.eventsAfter(after)) {
      last = e.seq;
      write(e);
      if (e.type === 'done' || e.type === 'error') close();
    }
    req.on('close', close);
  }

  private output(job: Job, name: string, res: ServerResponse): void {
    const file = job.outputs.get(name);
    if (!file) {
      sendError(res, 404, 'output.not_found', `job ${job.id} has no output ${name}`);
      return;
    }
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.size });
    createReadStream(file.path)
      .on('error', () => res.destroy())
      .pipe(res);
  }

  /** Forget finished jobs nobody deleted; stop jobs far past their time limit. */
  private collect(): void {
    const now = Date.now();
    for (const job of this.jobs.values()) {
      const stale = job.finishedAt !== null && now - job.finishedAt > this.config.finishedJobTtlMs;
      const overdue = job.finishedAt === null && now - job.createdAt > this.config.jobTimeoutMs + 60_000;
      if (stale || overdue) {
        this.jobs.delete(job.id);
        void job.stop(this.config.killGraceMs);
      }
    }
  }

  /** Stop every job's processes (runner shutdown). */
  async stopAll(): Promise<void> {
    const reason = new JobError('runner.crashed', 'the media runner was stopped mid-job', true);
    await Promise.all([...this.jobs.values()].map((j) => j.stop(this.config.killGraceMs, reason)));
    this.jobs.clear();
  }
}
