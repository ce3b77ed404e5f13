/**
 * The retry classifier against the errors the runner really produces: a source's HTTP statuses,
 * yt-dlp's messages, network failures, and the runner's own crashes and stalls.
 */
import { describe, expect, it } from 'vitest';
import { sourceError } from '../../containers/ffmpeg/src/fetch-input.ts';
import { ytDlpError } from '../../containers/ffmpeg/src/ytdlp.ts';
import { backoffDelayMs, CLASSIFIED_CODES, isRetryable, parseDelays } from '../../src/lib/retry-policy.ts';
import { ERROR_CODES, type ErrorCode } from '../../src/protocol/errors.ts';

const URL = 'https://media.example.com/clip.mp4';
const verdict = (e: { code: ErrorCode; retryable: boolean }) => ({ code: e.code, retry: isRetryable(e) });

describe('retry classifier', () => {
  it('retries 429 and 5xx from the source, never 400, 401, 403 or 404', () => {
    expect([429, 500, 502, 503, 504].map((s) => verdict(sourceError(s, URL)))).toEqual([
      { code: 'source.rate_limited', retry: true },
      { code: 'source.server_error', retry: true },
      { code: 'source.server_error', retry: true },
      { code: 'source.server_error', retry: true },
      { code: 'source.server_error', retry: true },
    ]);
    expect([400, 401, 403, 404, 410].map((s) => verdict(sourceError(s, URL)))).toEqual([
      { code: 'source.http_error', retry: false },
      { code: 'source.forbidden', retry: false },
      { code: 'source.forbidden', retry: false },
      { code: 'source.not_found', retry: false },
      { code: 'source.not_found', retry: false },
    ]);
  });

  it('retries network errors and timeouts reaching the source', () => {
    for (const code of ['source.unreachable', 'source.timeout'] as const) {
      expect(isRetryable({ code, retryable: false }), code).toBe(true);
    }
  });

  it('does not retry what yt-dlp says the same input would repeat, and retries what it says is transient', () => {
    const ytdlp = (stderr: string) => verdict(ytDlpError(stderr));
    expect(ytdlp('ERROR: [youtube] abc: Requested format is not available. Use --list-formats')).toEqual({
      code: 'media.format_unavailable',
      retry: false,
    });
    expect(ytdlp('ERROR: Unsupported URL: https://example.com/')).toMatchObject({ retry: false });
    expect(ytdlp('ERROR: [generic] Unable to download webpage: HTTP Error 404: Not Found')).toMatchObject({
      retry: false,
    });
    expect(ytdlp('ERROR: unable to download video data: HTTP Error 403: Forbidden')).toMatchObject({ retry: false });
    expect(ytdlp('ERROR: unable to download video data: HTTP Error 429: Too Many Requests')).toEqual({
      code: 'source.rate_limited',
      retry: true,
    });
    expect(ytdlp('ERROR: unable to download video data: HTTP Error 503: Service Unavailable')).toEqual({
      code: 'source.server_error',
      retry: true,
    });
    expect(ytdlp('ERROR: Unable to download webpage: <urlopen error timed out>')).toMatchObject({ retry: true });
  });

  it('retries a runner that crashed, was stopped (SIGTERM), stalled, forgot the job or was unreachable', () => {
    for (const code of ['runner.crashed', 'runner.stalled', 'runner.job_lost', 'runner.unreachable'] as const) {
      // whatever the producer claimed
      expect(isRetryable({ code, retryable: false }), code).toBe(true);
    }
  });

  it('never retries unsupported, corrupt or over-limit media, bad input, a timeout of the job, or a cancel', () => {
    for (const code of [
      'media.unsupported',
      'media.corrupt',
      'media.too_long',
      'media.resolution_too_high',
      'job.output_too_large',
      'job.timeout',
      'job.canceled',
      'input.url.private',
      'source.too_many_redirects',
    ] as const) {
      expect(isRetryable({ code, retryable: true }), code).toBe(false);
    }
  });

  it('lets the producer decide for codes it does not classify, and classifies only real codes', () => {
    expect(isRetryable({ code: 'internal', retryable: true })).toBe(true);
    expect(isRetryable({ code: 'internal', retryable: false })).toBe(false);
    for (const code of CLASSIFIED_CODES) expect(ERROR_CODES).toContain(code);
    expect(new Set(CLASSIFIED_CODES).size).toBe(CLASSIFIED_CODES.length);
  });
});

describe('backoff', () => {
  it('waits 2 s, 5 s, 10 s by default, then keeps the last delay', () => {
    expect([2, 3, 4, 5, 8].map((attempt) => backoffDelayMs(attempt))).toEqual([2_000, 5_000, 10_000, 10_000, 10_000]);
  });

  it('uses configured delays, and the defaults for junk', () => {
    const delays = parseDelays('300, 600,1000');
    expect([2, 3, 4, 5].map((a) => backoffDelayMs(a, delays))).toEqual([300, 600, 1_000, 1_000]);
    expect(parseDelays('1,-5')).toEqual([2_000, 5_000, 10_000]);
    expect(parseDelays('')).toEqual([2_000, 5_000, 10_000]);
    expect(backoffDelayMs(3, [])).toBe(0);
  });
});
