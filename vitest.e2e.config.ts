// End to end: wrangler dev + the real runner + real ffmpeg, driven over HTTP and WebSocket (and the
// page in Chromium). The global setup starts the system once for all files.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/e2e/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
