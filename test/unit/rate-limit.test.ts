/**
 * The per-IP rate limit's exemption is what the README says: loopback only, and only in local mode
 * (RUNNER_URL set), where wrangler dev fills CF-Connecting-IP from the socket. Private networks are
 * counted, and in production (no RUNNER_URL) a client claiming 127.0.0.1 in its own header is counted.
 */
import { describe, expect, it } from 'vitest';
import { isExemptClient, isLoopbackAddress } from '../../src/worker/rate-limit.ts';

const LOCAL = { RUNNER_URL: 'http://127.0.0.1:8788' };
const PRODUCTION = { RUNNER_URL: '' };

describe('rate-limit exemption', () => {
  it('knows loopback in its canonical spellings', () => {
    for (const ip of ['127.0.0.1', '127.3.4.5', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopbackAddress(ip), ip).toBe(true);
    }
    for (const ip of [
      '10.0.0.1',
      '192.168.1.1',
      '172.16.0.1',
      '169.254.169.254',
      'fc00::1',
      'fe80::1',
      '::',
      '8.8.8.8',
      '::ffff:10.0.0.1',
      '128.0.0.1',
    ]) {
      expect(isLoopbackAddress(ip), ip).toBe(false);
    }
  });

  it('exempts loopback in local mode only', () => {
    expect(isExemptClient('127.0.0.1', LOCAL)).toBe(true);
    expect(isExemptClient('::1', LOCAL)).toBe(true);
    expect(isExemptClient('127.0.0.1', PRODUCTION)).toBe(false);
    expect(isExemptClient('::1', PRODUCTION)).toBe(false);
  });

  it('counts private and link-local addresses everywhere', () => {
    for (const ip of ['10.1.2.3', '192.168.0.10', '172.20.0.1', '100.64.0.1', 'fd12::1', 'fe80::1']) {
      expect(isExemptClient(ip, LOCAL), ip).toBe(false);
      expect(isExemptClient(ip, PRODUCTION), ip).toBe(false);
    }
  });
});
