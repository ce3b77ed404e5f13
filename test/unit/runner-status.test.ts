/** The container-mode health verdict (src/lib/runner-status.ts): from recorded facts, never a fixed ok. */
import { describe, expect, it } from 'vitest';
import { FAILURE_PREFIX, failureKey, parseContact, runnerStatus, STALE_AFTER_MS } from '../../src/lib/runner-status.ts';

const NOW = Date.parse('2026-12-02T12:00:00Z');
const MIN = 60_000;

describe('runner status', () => {
  it('is unknown (not failing, not reachable) with nothing recorded', () => {
    expect(runnerStatus(null, [], NOW)).toMatchObject({ ok: true, state: 'unknown', reachable: null, version: null });
  });

  it('is ok after a recent contact, idle after a stale one', () => {
    expect(runnerStatus({ at: NOW - MIN, version: '1.2.3' }, [], NOW)).toMatchObject({ state: 'ok', version: '1.2.3' });
    expect(runnerStatus({ at: NOW - STALE_AFTER_MS - MIN, version: null }, [], NOW).state).toBe('idle');
  });

  it('is failing when a recent failure is newer than the last contact', () => {
    const failure = { at: NOW - 2 * MIN, code: 'runner.crashed', message: 'stopped' };
    expect(runnerStatus({ at: NOW - 5 * MIN, version: null }, [failure], NOW)).toMatchObject({
      ok: false,
      state: 'failing',
    });
    expect(runnerStatus(null, [failure], NOW).state).toBe('failing');
    // a contact after it: recovered, the failure still listed
    const r = runnerStatus({ at: NOW - MIN, version: null }, [failure], NOW);
    expect(r).toMatchObject({ ok: true, state: 'ok' });
    expect(r.recentFailures).toHaveLength(1);
    // old failures are neither failing nor listed
    expect(runnerStatus(null, [{ ...failure, at: NOW - 2 * 60 * MIN }], NOW)).toMatchObject({
      state: 'unknown',
      recentFailures: [],
    });
  });

  it('lists failures newest first, by key and in the report', () => {
    expect(failureKey(NOW, 'a') < failureKey(NOW - MIN, 'a')).toBe(true);
    expect(failureKey(NOW, 'a').startsWith(FAILURE_PREFIX)).toBe(true);
    const r = runnerStatus(
      null,
      [
        { at: NOW - 30 * MIN, code: 'x.old', message: '' },
        { at: NOW - MIN, code: 'x.new', message: '' },
      ],
      NOW,
    );
    expect(r.recentFailures.map((f) => f.code)).toEqual(['x.new', 'x.old']);
  });

  it('reads stored records and ignores junk', () => {
    expect(parseContact('{"at":5,"version":"1"}')).toEqual({ at: 5, version: '1' });
    expect(parseContact('nope')).toBeNull();
    expect(parseContact(null)).toBeNull();
  });
});
