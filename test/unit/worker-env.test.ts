/**
 * `npm start` and the environment: every Worker setting the README's Configuration table lists is
 * passed through (secrets apart from plain vars), an API_KEYS without a key refuses to start, and the
 * printed authentication line says what the Worker will really do.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  apiKeys,
  authLine,
  parseDevVars,
  WORKER_SECRETS,
  WORKER_VARS,
  workerSettings,
} from '../../scripts/worker-env.mjs';

describe('npm start passes the environment to the Worker', () => {
  it('covers every variable the README lists', () => {
    const readme = readFileSync('README.md', 'utf8');
    const table = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('The runner reads its own environment'),
    );
    const listed = [...table.matchAll(/^\| (.+?) \|/gm)]
      .flatMap((m) => [...m[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((x) => x[1]!))
      .filter(
        (v) =>
          ![
            'RATE_LIMIT_IP',
            'RATE_LIMIT_KEY',
            'PORT',
            'RUNNER_PORT',
            'RUNNER_URL',
            'CLIPYARD_SQLITE_SYNC',
            'CLIPYARD_ENGINE_FRONT',
            'CLIPYARD_ENGINE_HOST',
            'CLIPYARD_WS_DEFLATE',
          ].includes(v),
      );
    expect(listed.length).toBeGreaterThan(20);
    expect([...listed].sort()).toEqual([...WORKER_VARS, ...WORKER_SECRETS].sort());
  });

  it('gives vars and secrets apart, and only those set', () => {
    const s = workerSettings({ API_KEYS: 'a,b', MAX_ATTEMPTS: '2', HOME: '/root', LINK_TTL_SECONDS: '' });
    expect(s).toEqual({ vars: { MAX_ATTEMPTS: '2' }, secrets: { API_KEYS: 'a,b' } });
  });

  it('refuses an API_KEYS that holds no key, instead of starting open', () => {
    expect(workerSettings({ API_KEYS: ' , ' }).error).toMatch(/API_KEYS is set but holds no key/);
  });

  it('says whether authentication is on, and where the keys came from', () => {
    expect(authLine(apiKeys('a, b'), [])).toMatch(/^authentication: on - 2 API keys from the environment/);
    expect(authLine([], ['x'])).toMatch(/^authentication: on - 1 API key from \.dev\.vars/);
    expect(authLine([], [])).toMatch(/^authentication: OFF/);
  });

  it('reads .dev.vars the way wrangler does', () => {
    expect(parseDevVars('# c\nLINK_SECRET=abc\nAPI_KEYS="k1,k2"\n')).toEqual({ LINK_SECRET: 'abc', API_KEYS: 'k1,k2' });
  });
});
