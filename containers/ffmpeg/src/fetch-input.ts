/**
 * Downloading a job's input from a URL, safely and with byte progress.
 *
 * The Worker already refused private URLs, but a public name can resolve to a private address by the
 * time the runner connects (DNS rebinding), and a public server can redirect to one. So every
 * connection here resolves the name itself, refuses private, loopback, link-local and metadata
 * addresses at connect time, and follows redirects by hand, checking each hop the same way.
 * Hosts in CLIPYARD_ALLOW_HOSTS (local testing) are exempt, matched on the literal host name.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { createWriteStream } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkRedirect, checkUrl, isPrivateAddress, MAX_REDIRECTS } from '../../../src/lib/url-safety.ts';
import { type Job, JobError } from './job.ts';

export interface FetchLimits {
  maxInputBytes: number;
  /** Time to get response headers. */
  connectTimeoutMs: number;
  /** Longest silence while reading the body. */
  idleTimeoutMs: number;
  allowHosts: readonly string[];
}

export interface FetchedFile {
  path: string;
  size: number;
  contentType: string;
  /** The URL after redirects. */
  finalUrl: string;
}

/** A DNS lookup that refuses to hand out private addresses. */
function safeLookup(): LookupFunction {
  return ((hostname: string, options: object, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err);
      const bad = addresses.find((a) => isPrivateAddress(a.address));
      if (bad || addresses.length === 0) {
        const e = new Error(`${hostname} resolves to a private address`) as NodeJS.ErrnoException;
        e.code = 'EPRIVATE';
        return callback(e);
      }
      if ((options as { all?: boolean }).all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}

/** Map a source's HTTP status to an error a user can act on. */
export function sourceError(status: number, url: string): JobError {
  const where = new URL(url).host;
  if (status === 404 || status === 410)
    return new JobError('source.not_found', `${where} answered ${status}: not found`);
  if (status === 401 || status === 403) return new JobError('source.forbidden', `${where} refused access (${status})`);
  if (status === 429) return new JobError('source.rate_limited', `${where} is rate limiting us (429)`, true);
  if (status >= 500) return new JobError('source.server_error', `${where} answered ${status}`, true);
  return new JobError('source.http_error', `${where} answered ${status}`);
}

function request(url: URL, limits: FetchLimits, signal: AbortSignal): Promise<IncomingMessage> {
  const allowed = limits.allowHosts.includes(url.hostname.toLowerCase().replace(/^\[|\]$/g, ''));
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(
      url.href,
      {
        signal,
        headers: { 'user-agent': 'clipyard/0.1 (+media runner)', accept: '*/*' },
        ...(allowed ? {} : { lookup: safeLookup() }),
      },
      resolve,
    );
    req.setTimeout(limits.connectTimeoutMs, () =>
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
    );
    req.once('error', reject);
  });
}

function networkError(err: unknown, url: string): JobError {
  const code = (err as NodeJS.ErrnoException).code;
  const host = new URL(url).host;
  if (code === 'EPRIVATE') return new JobError('input.url.private', `${host} resolves to a private address`);
  if (code === 'ETIMEDOUT') return new JobError('source.timeout', `${host} did not answer in time`, true);
  if (code === 'ENOTFOUND') return new JobError('source.unreachable', `${host} does not resolve`, true);
  return new JobError('source.unreachable', `could not reach ${host}: ${code ?? String(err)}`, true);
}

/**
 * GET the URL (following redirects, each checked) and return the response, still unread.
 * Throws JobError for private targets, network failures and error statuses.
 */
export async function openSource(
  raw: string,
  limits: FetchLimits,
  signal: AbortSignal,
): Promise<{ res: IncomingMessage; url: string }> {
  // Each hop is checked as written (a Location of http://2130706433/ is not the allowed 127.0.0.1).
  let check = checkUrl(raw, limits.allowHosts);
  let written = raw;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    if (!check.ok) throw new JobError(check.code, `${check.message}: ${written.slice(0, 200)}`);
    const current = check.url.href;
    let res: IncomingMessage;
    try {
      res = await request(check.url, limits, signal);
    } catch (err) {
      if (signal.aborted) throw new JobError('job.canceled', 'canceled');
      throw networkError(err, current);
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      written = res.headers.location;
      check = checkRedirect(written, check.url, limits.allowHosts);
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw sourceError(status, current);
    }
    return { res, url: current };
  }
  throw new JobError('source.too_many_redirects', `more than ${MAX_REDIRECTS} redirects`);
}

/**
 * Save an open response to `path`, reporting bytes, speed and ETA through `onProgress`.
 * Enforces the input size limit both from Content-Length and while streaming.
 */
export function saveResponse(
  job: Job,
  res: IncomingMessage,
  url: string,
  path: string,
  limits: FetchLimits,
  onProgress: (p: { bytes: number; totalBytes?: number; bytesPerSecond: number; eta?: number }) => void,
): Promise<FetchedFile> {
  const total = Number(res.headers['content-length']);
  const totalBytes = Number.isFinite(total) && total > 0 ? total : undefined;
  if (totalBytes !== undefined && totalBytes > limits.maxInputBytes) {
    res.destroy();
    return Promise.reject(
      new JobError('source.too_large', `the source is ${totalBytes} bytes; the limit is ${limits.maxInputBytes}`),
    );
  }
  return new Promise((resolve, reject) => {
    const out = createWriteStream(path);
    const started = Date.now();
    let bytes = 0;
    let settled = false;
    let lastDataAt = Date.now();
    const fail = (err: JobError) => {
      if (settled) return;
      settled = true;
      res.destroy();
      out.destroy();
      reject(err);
    };
    const idle = setInterval(() => {
      if (Date.now() - lastDataAt > limits.idleTimeoutMs)
        fail(new JobError('source.timeout', 'the source stopped sending', true));
    }, 1_000);
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      lastDataAt = Date.now();
      if (bytes > limits.maxInputBytes) {
        fail(new JobError('source.too_large', `the source is larger than the limit of ${limits.maxInputBytes} bytes`));
        return;
      }
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      const speed = Math.round(bytes / seconds);
      const eta = totalBytes && speed > 0 ? Math.max(0, Math.round((totalBytes - bytes) / speed)) : undefined;
      onProgress({
        bytes,
        bytesPerSecond: speed,
        ...(totalBytes ? { totalBytes } : {}),
        ...(eta !== undefined ? { eta } : {}),
      });
    });
    res.on('error', (err) =>
      fail(job.signal.aborted ? new JobError('job.canceled', 'canceled') : networkError(err, url)),
    );
    res.on('aborted', () => fail(new JobError('source.unreachable', 'the source closed the connection early', true)));
    out.on('error', (err) => fail(new JobError('runner.crashed', `could not write the input: ${err.message}`, true)));
    res.pipe(out);
    out.on('finish', () => {
      clearInterval(idle);
      if (settled) return;
      if (totalBytes !== undefined && bytes < totalBytes) {
        fail(new JobError('source.unreachable', `the source sent ${bytes} of ${totalBytes} bytes`, true));
        return;
      }
      settled = true;
      resolve({ path, size: bytes, contentType: String(res.headers['content-type'] ?? ''), finalUrl: url });
    });
    out.on('close', () => clearInterval(idle));
  });
}
