// Worker and Durable Object tests, inside workerd through the Workers Vitest plugin.
// These tests cover the objects' own behaviour (lifecycle, event log, subscriptions, links,
// validation) against a scripted runner; the real runner with ffmpeg is exercised by test/e2e.
// Two projects with the same Worker: the idle-release tests run with IDLE_RELEASE_MS on (200 ms, so
// objects leave and come back within a test), the rest with it off as wrangler.toml has it (several
// of them hold a stub across seconds, which a release breaks: see src/objects/idle-release.ts).
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { fakeReceiver } from './test/workers/fake-receiver.ts';
import { fakeRunner } from './test/workers/fake-runner.ts';

const IDLE_RELEASE_TESTS = 'test/workers/idle-release.test.ts';

function workerd(extraBindings: Record<string, string> = {}) {
  return cloudflareTest({
    wrangler: { configPath: './wrangler.toml' },
    miniflare: {
      bindings: {
        LINK_SECRET: 'test-link-secret',
        LINK_SECRET_PREVIOUS: 'test-old-secret',
        RUNNER_URL: 'http://runner.test',
        CLIPYARD_ALLOW_HOSTS: '127.0.0.1',
        RETRY_DELAYS_MS: '50,50,50',
        STALL_TIMEOUT_MS: '1000',
        MAX_ATTEMPTS: '3',
        MAX_CONCURRENT_TASKS: '1000',
        WEBHOOK_RETRY_DELAYS_MS: '100,100,100',
        WEBHOOK_TIMEOUT_MS: '2000',
        ...extraBindings,
      },
      // webhooks go to the scripted receiver, everything else to the scripted runner
      outboundService: (request: Request) =>
        new URL(request.url).hostname === 'hooks.test' ? fakeReceiver(request) : fakeRunner(request),
    },
  });
}

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [workerd()],
        test: {
          name: 'workers',
          include: ['test/workers/**/*.test.ts'],
          exclude: [IDLE_RELEASE_TESTS],
          testTimeout: 20_000,
        },
      },
      {
        plugins: [workerd({ IDLE_RELEASE_MS: '200' })],
        test: { name: 'idle-release', include: [IDLE_RELEASE_TESTS], testTimeout: 20_000 },
      },
    ],
  },
});
