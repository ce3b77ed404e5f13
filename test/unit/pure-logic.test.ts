/** Pure modules: state machine, retry policy, progress math, throttle, ids, filenames, links. */
import { describe, expect, it } from 'vitest';
import { contentDisposition, sanitizeFilename } from '../../src/lib/filenames.ts';
import { idFromIdempotencyKey, isTaskId, newTaskId } from '../../src/lib/ids.ts';
import { signLink, timingSafeEqual, verifyLink } from '../../src/lib/links.ts';
import { overallProgress } from '../../src/lib/progress.ts';
import { backoffDelayMs, isRetryable, parseDelays } from '../../src/lib/retry-policy.ts';
import { canTransition, isTerminal, TASK_STATUSES } from '../../src/lib/task-status.ts';
import { type Clock, Throttle } from '../../src/lib/throttle.ts';
import { decodeJobHeader, encodeJobHeader, parseRunnerEvent } from '../../src/protocol/runner.ts';
import { parseWireMessage } from '../../src/protocol/task.ts';

describe('task state machine', () => {
  it('allows the designed moves and nothing else', () => {
    const legal = new Set([
      'queued>running',
      'queued>canceled',
      'queued>failed',
      'running>running',
      'running>retrying',
      'running>succeeded',
      'running>failed',
      'running>canceled',
      'retrying>running',
      'retrying>failed',
      'retrying>canceled',
      'failed>queued',
      'canceled>queued',
    ]);
    for (const from of TASK_STATUSES) {
      for (const to of TASK_STATUSES) expect(canTransition(from, to), `${from}>${to}`).toBe(legal.has(`${from}>${to}`));
    }
  });
  it('knows the terminal states', () => {
    expect(TASK_STATUSES.filter(isTerminal)).toEqual(['succeeded', 'failed', 'canceled']);
  });
});

describe('retry policy', () => {
  it('backs off 2 s, 5 s, 10 s, then keeps 10 s', () => {
    expect([2, 3, 4, 5, 9].map((a) => backoffDelayMs(a))).toEqual([2_000, 5_000, 10_000, 10_000, 10_000]);
    expect(backoffDelayMs(2, [100, 200])).toBe(100);
  });
  it('retries transient failures and never the ones the same input repeats', () => {
    for (const code of [
      'source.rate_limited',
      'source.server_error',
      'source.timeout',
      'runner.crashed',
      'runner.stalled',
    ] as const) {
      expect(isRetryable({ code, retryable: false }), code).toBe(true);
    }
    for (const code of [
      'source.not_found',
      'source.forbidden',
      'media.unsupported',
      'media.format_unavailable',
      'job.canceled',
    ] as const) {
      expect(isRetryable({ code, retryable: true }), code).toBe(false);
    }
    expect(isRetryable({ code: 'internal', retryable: true })).toBe(true);
    expect(isRetryable({ code: 'internal', retryable: false })).toBe(false);
  });
  it('parses configured delays and falls back on junk', () => {
    expect(parseDelays('100, 200')).toEqual([100, 200]);
    expect(parseDelays('x,1')).toEqual([2_000, 5_000, 10_000]);
    expect(parseDelays(undefined)).toEqual([2_000, 5_000, 10_000]);
  });
});

describe('progress math', () => {
  it('weights steps by cost and reaches 100 only at the end', () => {
    expect(overallProgress(['audio'], 0, 50)).toBe(50);
    expect(overallProgress(['download', 'transcode'], 0, 100)).toBe(25);
    expect(overallProgress(['download', 'transcode'], 1, 50)).toBe(62.5);
    expect(overallProgress(['download', 'transcode'], 2, 0)).toBe(100);
    expect(overallProgress(['audio'], 0, 250)).toBe(100);
    expect(overallProgress(['audio'], 0, Number.NaN)).toBe(0);
  });
});

describe('throttle', () => {
  function fakeClock() {
    let now = 0;
    const timers: { at: number; fn: () => void; id: number }[] = [];
    let next = 1;
    const clock: Clock = {
      now: () => now,
      setTimeout: (fn, ms) => {
        const t = { at: now + ms, fn, id: next++ };
        timers.push(t);
        return t.id;
      },
      clearTimeout: (id) => {
        const i = timers.findIndex((t) => t.id === id);
        if (i >= 0) timers.splice(i, 1);
      },
    };
    const advance = (ms: number) => {
      now += ms;
      for (const t of timers.filter((x) => x.at <= now)) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
    };
    return { clock, advance };
  }

  it('sends the first value at once, holds a burst, and always delivers the last value', () => {
    const { clock, advance } = fakeClock();
    const sent: number[] = [];
    const t = new Throttle<number>(100, (v) => sent.push(v), clock);
    t.push(1);
    t.push(2);
    t.push(3);
    expect(sent).toEqual([1]);
    advance(100);
    expect(sent).toEqual([1, 3]);
    advance(500);
    t.push(4);
    expect(sent).toEqual([1, 3, 4]);
    t.push(5);
    t.flush();
    expect(sent).toEqual([1, 3, 4, 5]);
    t.push(6);
    t.cancel();
    advance(1000);
    expect(sent).toEqual([1, 3, 4, 5]);
  });

  it('judges the rate on the producer times: a late burst of well-spaced values all goes out', () => {
    const { clock, advance } = fakeClock();
    const sent: number[] = [];
    const t = new Throttle<number>(50, (v) => sent.push(v), clock);
    // produced 100 ms apart, arriving together (the consumer was busy)
    for (const [v, at] of [
      [1, 1_000],
      [2, 1_100],
      [3, 1_200],
    ] as const)
      t.push(v, at);
    expect(sent).toEqual([1, 2, 3]);
    // produced 10 ms apart: over the cap, so held, and only the newest goes out
    t.push(4, 1_210);
    t.push(5, 1_220);
    expect(sent).toEqual([1, 2, 3]);
    advance(50);
    expect(sent).toEqual([1, 2, 3, 5]);
    // a producer whose clock is behind (another machine) is not held back
    t.push(6, 10);
    expect(sent).toEqual([1, 2, 3, 5, 6]);
  });
});

describe('ids', () => {
  it('makes random ids and stable ids from idempotency keys', async () => {
    const a = newTaskId();
    expect(isTaskId(a)).toBe(true);
    expect(newTaskId()).not.toBe(a);
    expect(await idFromIdempotencyKey('t', 'k')).toBe(await idFromIdempotencyKey('t', 'k'));
    expect(await idFromIdempotencyKey('t', 'k')).not.toBe(await idFromIdempotencyKey('u', 'k'));
    expect(isTaskId('../etc/passwd')).toBe(false);
  });
});

describe('download filenames', () => {
  it('strips paths, quotes and control characters and keeps unicode in filename*', () => {
    expect(sanitizeFilename('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFilename('a"b\r\nc.mp3')).toBe('abc.mp3');
    expect(sanitizeFilename('...')).toBe('download');
    expect(contentDisposition('café ☕.mp3')).toBe(
      `attachment; filename="caf_ _.mp3"; filename*=UTF-8''caf%C3%A9%20%E2%98%95.mp3`,
    );
  });
});

describe('signed links', () => {
  it('verifies its own signatures, rejects others, and reports expiry only for genuine links', async () => {
    const now = 1_800_000_000_000;
    const { path, exp } = await signLink('s1', 'tasks/x/a.mp3', 60, now);
    const sig = new URL(path, 'http://x').searchParams.get('sig');
    expect(await verifyLink(['s1'], 'tasks/x/a.mp3', String(exp), sig, now)).toEqual({ ok: true });
    expect(await verifyLink(['s2', 's1'], 'tasks/x/a.mp3', String(exp), sig, now)).toEqual({ ok: true });
    expect(await verifyLink(['s2'], 'tasks/x/a.mp3', String(exp), sig, now)).toEqual({
      ok: false,
      code: 'link.invalid',
    });
    expect(await verifyLink(['s1'], 'tasks/x/b.mp3', String(exp), sig, now)).toEqual({
      ok: false,
      code: 'link.invalid',
    });
    expect(await verifyLink(['s1'], 'tasks/x/a.mp3', String(exp), sig, now + 61_000)).toEqual({
      ok: false,
      code: 'link.expired',
    });
    expect(await verifyLink(['s1'], 'tasks/x/a.mp3', '1e9', sig, now)).toEqual({ ok: false, code: 'link.invalid' });
    expect(await verifyLink(['s1'], 'tasks/x/a.mp3', null, null, now)).toEqual({ ok: false, code: 'link.invalid' });
  });
  it('compares in constant time without leaking length through errors', () => {
    expect(timingSafeEqual('abc', 'abc')).toBe(true);
    expect(timingSafeEqual('abc', 'abd')).toBe(false);
    expect(timingSafeEqual('abc', 'abcd')).toBe(false);
    expect(timingSafeEqual('', 'a')).toBe(false);
  });
});

describe('wire parsers', () => {
  it('return null on junk and the message otherwise', () => {
    expect(parseWireMessage('nope')).toBeNull();
    expect(parseWireMessage('{"type":"event"}')).toBeNull();
    expect(parseWireMessage(42)).toBeNull();
    expect(parseWireMessage('{"type":"event","event":{"seq":1,"kind":"status"}}')).toMatchObject({ type: 'event' });
    expect(parseRunnerEvent('{"type":"heartbeat","at":1}')).toEqual({ type: 'heartbeat', at: 1 });
    expect(parseRunnerEvent('{"type":"progress","seq":0}')).toBeNull();
    expect(parseRunnerEvent('{"type":"bogus","seq":1}')).toBeNull();
    expect(parseRunnerEvent('{')).toBeNull();
  });
  it('round-trips the job header', () => {
    const spec = { jobId: 'j1', step: { op: 'audio', format: 'mp3' }, input: { kind: 'body', filename: 'ü.mp4' } };
    expect(decodeJobHeader(encodeJobHeader(spec as never))).toEqual(spec);
  });
});
