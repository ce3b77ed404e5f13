/**
 * The per-request log record: it names the task or batch and the tenant, carries the error's stable
 * code, and never the query string (where a WebSocket's API key travels).
 */
import { describe, expect, it } from 'vitest';
import { ClipyardError } from '../../src/protocol/errors.ts';
import { requestRecord, shouldLog } from '../../src/worker/request-log.ts';

describe('request log', () => {
  it('names the task and tenant of a request', () => {
    expect(requestRecord('GET', '/api/tasks/abcdefghijklmnopqrst/events', 101, 3, 'k_1', undefined)).toEqual({
      level: 'info',
      msg: 'request',
      method: 'GET',
      path: '/api/tasks/abcdefghijklmnopqrst/events',
      status: 101,
      ms: 3,
      tenant: 'k_1',
      task: 'abcdefghijklmnopqrst',
    });
    expect(requestRecord('POST', '/api/batches/abcdefghijklmnopqrst/cancel', 200, 1, 'local', undefined)).toMatchObject(
      {
        batch: 'abcdefghijklmnopqrst',
      },
    );
  });

  it("carries an error's code and level, and unknown errors as internal", () => {
    const notFound = new ClipyardError('task.not_found', 'no such task', { status: 404 });
    expect(requestRecord('GET', '/api/tasks/x', 404, 1, undefined, notFound)).toMatchObject({
      level: 'warn',
      code: 'task.not_found',
    });
    expect(requestRecord('GET', '/api/health', 500, 1, undefined, new Error('boom'))).toMatchObject({
      level: 'error',
      code: 'internal',
    });
  });

  it('logs the path only, never a query string', () => {
    const record = requestRecord(
      'GET',
      new URL('http://h/api/tasks/abcdefghijklmnopqrst/events?key=secret').pathname,
      101,
      1,
      '',
      undefined,
    );
    expect(JSON.stringify(record)).not.toContain('secret');
  });

  it('REQUEST_LOG=errors keeps failed and slow requests only', () => {
    const requests: [number, number][] = [
      [200, 12],
      [200, 1_500],
      [404, 2],
      [500, 3],
    ];
    expect(requests.map(([status, ms]) => shouldLog('all', status, ms))).toEqual([true, true, true, true]);
    expect(requests.map(([status, ms]) => shouldLog(undefined, status, ms))).toEqual([true, true, true, true]);
    expect(requests.map(([status, ms]) => shouldLog('errors', status, ms))).toEqual([false, true, true, true]);
  });
});
