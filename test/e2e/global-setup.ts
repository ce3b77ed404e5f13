/**
 * Starts the real system once for the end-to-end suite: media fixtures generated with ffmpeg, a local
 * media server, the runner and wrangler dev (with its own state directory), on free ports.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
// @ts-expect-error plain ESM helper shared with `npm start`
import { freePort, startRunner, startWorker, stopProcess } from '../../scripts/system.mjs';
import { makeTestClip } from '../fixtures.ts';
import { startMediaServer } from './media-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
    mediaBase: string;
    runnerUrl: string;
    mediaDir: string;
    /** everything wrangler dev printed, for tests of what an operator sees in its output */
    workerLog: string;
  }
}

function makeFixtures(dir: string): void {
  makeTestClip(path.join(dir, 'clip.mp4'), '1280x720', 10);
  writeFileSync(path.join(dir, 'notmedia.txt'), 'this is not a media file\n'.repeat(100));
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-e2e-'));
  makeFixtures(dir);
  const media = await startMediaServer(dir);
  const [port, runnerPort] = [await freePort(), await freePort()];
  const workerLog = path.join(dir, 'worker.log');
  const verbose = process.env.CLIPYARD_E2E_VERBOSE ? (s: string) => process.stderr.write(s) : undefined;
  const runner = await startRunner({ port: runnerPort, allowHosts: '127.0.0.1', log: verbose });
  const worker = await startWorker({
    port,
    runnerUrl: `http://127.0.0.1:${runnerPort}`,
    allowHosts: '127.0.0.1',
    persistTo: path.join(dir, 'state'),
    vars: { RETRY_DELAYS_MS: '500,1000,2000', STALL_TIMEOUT_MS: '5000' },
    log: (s: string) => {
      appendFileSync(workerLog, s);
      verbose?.(s);
    },
  });
  project.provide('workerLog', workerLog);
  project.provide('baseUrl', `http://127.0.0.1:${port}`);
  project.provide('mediaBase', media.base);
  project.provide('runnerUrl', `http://127.0.0.1:${runnerPort}`);
  project.provide('mediaDir', dir);
  return async () => {
    await stopProcess(worker);
    await stopProcess(runner);
    await media.close();
    rmSync(dir, { recursive: true, force: true });
  };
}
