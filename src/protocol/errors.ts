/**
 * Stable error codes and the error shape every layer speaks.
 *
 * Used by the Worker (HTTP errors), the task object (task.error), the runner (job error events)
 * and the web page. Codes are dotted, lower-case and never change meaning once published.
 */

export const ERROR_CODES = [
  // request shape (400)
  'request.invalid_json',
  'request.invalid',
  'step.unknown_op',
  'step.unknown_option',
  'step.invalid',
  'input.missing',
  'input.invalid',
  'input.url.invalid',
  'input.url.scheme',
  'input.url.private',
  'upload.length_required',
  'upload.too_large',
  'upload.incomplete',
  // who is asking (401)
  'auth.required',
  // lookups (404) and state (409)
  'task.not_found',
  'task.exists',
  'task.illegal_transition',
  'output.not_found',
  'route.not_found',
  // signed links (403)
  'link.invalid',
  'link.expired',
  // the media source
  'source.not_found',
  'source.forbidden',
  'source.rate_limited',
  'source.server_error',
  'source.http_error',
  'source.unreachable',
  'source.timeout',
  'source.too_large',
  // the media itself
  'media.unsupported',
  'media.corrupt',
  'media.format_unavailable',
  'media.no_audio',
  'media.no_video',
  // the runner
  'runner.unreachable',
  'runner.crashed',
  'runner.job_lost',
  'runner.stalled',
  'runner.busy',
  'job.timeout',
  'job.canceled',
  'job.not_found',
  'job.output_too_large',
  'storage.failed',
  'internal',
  // hostile input, tenants and limits (appended)
  'input.url.credentials',
  'auth.invalid',
  'rate.limited',
  'quota.tasks',
  'quota.output_bytes',
  'upload.not_found',
  'upload.bad_part',
  'socket.origin',
  'media.too_long',
  'media.resolution_too_high',
  'media.unsafe_reference',
  'source.too_many_redirects',
  // batches (appended)
  'batch.not_found',
  'batch.too_many',
  'batch.exists',
  'batch.not_finished',
  // what the media tools said, and the runner's check of every output (appended)
  'media.no_frames',
  'media.no_stream',
  'media.codec_unsupported',
  'media.truncated',
  'media.output_invalid',
  // webhooks and playlists (appended)
  'webhook.timeout',
  'webhook.unreachable',
  'webhook.redirect',
  'webhook.http_status',
  'input.url.playlist',
  'playlist.empty',
  'playlist.unreadable',
  // transcription (appended)
  'transcribe.language_unsupported',
  // the create path (appended)
  'tenant.unavailable',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

/** An error that carries a stable code; thrown anywhere, rendered by the Worker's onError. */
export class ClipyardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { status?: number; retryable?: boolean } = {}) {
    super(message);
    this.name = 'ClipyardError';
    this.code = code;
    this.status = opts.status ?? 400;
    this.retryable = opts.retryable ?? false;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/**
 * Expected errors cross a Durable Object RPC boundary as values, not as throws. A thrown error keeps
 * only its message on the other side, and workerd reports every one as an uncaught exception (in
 * `wrangler dev` a red "Uncaught Error" with a source-mapped stack for each 404). An object's RPC
 * method returns `rpcResult(() => ...)`; the caller `unwrap`s it, which throws the ClipyardError
 * again on the caller's side, where the Worker's onError renders it.
 */
export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: ErrorBody; status: number };

export async function rpcResult<T>(fn: () => T | Promise<T>): Promise<RpcResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (err instanceof ClipyardError) return { ok: false, error: err.toBody(), status: err.status };
    throw err;
  }
}

/** The value of an RPC call made with `rpcResult`, or its ClipyardError thrown here. */
export async function unwrap<T>(call: Promise<RpcResult<T>> | RpcResult<T>): Promise<T> {
  const result = await call;
  if (result.ok) return result.value;
  const { code, message, retryable } = result.error;
  throw new ClipyardError(code, message, { status: result.status, retryable });
}

/** The ClipyardError an error is, or null for anything unexpected. */
export function knownError(err: unknown): ClipyardError | null {
  return err instanceof ClipyardError ? err : null;
}
