/**
 * Errors the client throws: an API error carries the server's stable code; a connection error means
 * the server could not be reached at all. Both say whether trying again later may help.
 */
import type { ErrorBody } from '../protocol/errors.ts';

/** The server answered with `{ error: { code, message, retryable } }` (or an unexpected status). */
export class ClipyardApiError extends Error {
  /** The stable dotted code, e.g. `task.not_found`; `http.<status>` when the body was not an API error. */
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;

  constructor(status: number, body: Partial<ErrorBody> | null, fallback: string) {
    super(body?.message ?? fallback);
    this.name = 'ClipyardApiError';
    this.status = status;
    this.code = body?.code ?? `http.${status}`;
    this.retryable = body?.retryable ?? (status === 429 || status >= 500);
  }
}

/** No answer from the server (refused, DNS, TLS, timeout). */
export class ClipyardConnectionError extends Error {
  readonly code = 'client.unreachable';
  readonly retryable = true;

  constructor(url: string, cause: unknown) {
    const inner = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause;
    super(`cannot reach clipyard at ${url} (${inner instanceof Error ? inner.message : String(inner)})`, { cause });
    this.name = 'ClipyardConnectionError';
  }
}

/** Read an error response into a ClipyardApiError. */
export async function apiError(res: Response, what: string): Promise<ClipyardApiError> {
  let body: { error?: Partial<ErrorBody> } | null = null;
  try {
    body = (await res.json()) as { error?: Partial<ErrorBody> };
  } catch {
    /* not JSON */
  }
  return new ClipyardApiError(res.status, body?.error ?? null, `${what} answered ${res.status}`);
}
