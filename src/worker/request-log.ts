/**
 * One structured JSON log line per API request: method, path, status, duration, the tenant, and the
 * task or batch id the path names, plus the error code when the answer is an error. Workers
 * observability ([observability] in wrangler.toml) indexes these fields, so a task's requests can
 * be found by its id. API keys and query strings are never logged.
 *
 * `REQUEST_LOG = "errors"` (what local runs use) keeps only failed and slow requests: in a terminal a
 * line per progress poll is noise, and each console line costs wrangler dev several milliseconds of
 * its one thread.
 */
import { createMiddleware } from 'hono/factory';
import { knownError } from '../protocol/errors.ts';
import type { AppEnv } from './auth.ts';

/** The log record for one request (pure, for tests). */
export function requestRecord(
  method: string,
  pathname: string,
  status: number,
  ms: number,
  tenant: string | undefined,
  error: unknown,
): Record<string, unknown> {
  const task = /^\/api\/tasks\/([a-z2-7]{20})(?:\/|$)/.exec(pathname)?.[1];
  const batch = /^\/api\/batches\/([a-z2-7]{20})(?:\/|$)/.exec(pathname)?.[1];
  const code = error ? (knownError(error)?.code ?? 'internal') : undefined;
  return {
    level: status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info',
    msg: 'request',
    method,
    path: pathname.slice(0, 200),
    status,
    ms,
    ...(tenant ? { tenant } : {}),
    ...(task ? { task } : {}),
    ...(batch ? { batch } : {}),
    ...(code ? { code } : {}),
  };
}

/** A successful request this slow is logged even when only errors are. */
const SLOW_REQUEST_MS = 1_000;

/** Is this request's record worth a line under the configured REQUEST_LOG? */
export function shouldLog(setting: string | undefined, status: number, ms: number): boolean {
  return setting !== 'errors' || status >= 400 || ms >= SLOW_REQUEST_MS;
}

export const requestLog = createMiddleware<AppEnv>(async (c, next) => {
  const started = Date.now();
  try {
    await next();
  } finally {
    const ms = Date.now() - started;
    if (shouldLog(c.env.REQUEST_LOG, c.res.status, ms)) {
      const { pathname } = new URL(c.req.url);
      const record = requestRecord(c.req.method, pathname, c.res.status, ms, c.get('tenant') || undefined, c.error);
      // the console method matches the record's level, so log views can filter on either
      const write = record.level === 'error' ? console.error : record.level === 'warn' ? console.warn : console.log;
      write(JSON.stringify(record));
    }
  }
});
