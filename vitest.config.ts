// Worker and Durable Object tests, inside workerd through the Workers Vitest plugin.
// These tests cover the objects' own behaviour (lifecycle, event log, subscriptions, links,
// validation) against a scripted runner; the real runner with ffmpeg is exercised by test/e2e.
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { fakeReceiver } from './test/workers/fake-receiver.ts';
import { fakeRunner } from './test/workers/fake-runner.ts';

export default defineConfig({
  plugins: [
    cloudflareTest({
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
        },
        // webhooks go to the scripted receiver, everything else to the scripted runner
        outboundService: (request: Request) =>
          new URL(request.url).hostname === 'hooks.test' ? fakeReceiver(request) : fakeRunner(request),
      },
    }),
  ],
  test: {
    include: ['test/workers/**/*.test.ts'],
    testTimeout: 20_000,
  },
});
