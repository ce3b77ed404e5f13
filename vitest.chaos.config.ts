// The chaos suite: the real system (wrangler dev + the media runner + ffmpeg) under injected faults —
// killed and frozen runners, a restarted Worker, flaky sources, dropped sockets, polling load.
// One file drives one system whose processes it owns; it prints a summary table at the end.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
