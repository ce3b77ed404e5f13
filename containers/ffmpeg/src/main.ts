/**
 * The media runner's entry point: the same code runs in the production container (Cloudflare
 * Containers, PORT 8080) and locally as a Node process started by `npm start` (scripts/system.mjs).
 *
 * Environment: PORT, HOST, JOBS_DIR, CLIPYARD_ALLOW_HOSTS, RUNNER_CAPACITY, MAX_INPUT_BYTES,
 * MAX_OUTPUT_BYTES, JOB_TIMEOUT_MS (see config.ts).
 */
import { mkdir, rm } from 'node:fs/promises';
import { loadConfig } from './config.ts';
import { RunnerServer } from './server.ts';
import { toolVersions } from './tools.ts';

const config = loadConfig(process.env);
// Jobs do not survive a restart of the runner (the task object retries them), so neither do their files.
await rm(config.jobsDir, { recursive: true, force: true });
await mkdir(config.jobsDir, { recursive: true });
const tools = await toolVersions();
if (!tools.ffmpeg || !tools.ffprobe) console.warn('warning: ffmpeg/ffprobe not found on PATH; jobs will fail');

const runner = new RunnerServer(config, tools);
runner.server.listen(config.port, config.host, () => {
  console.log(
    JSON.stringify({
      level: 'info',
      msg: 'media runner listening',
      port: config.port,
      ffmpeg: tools.ffmpeg,
      ytDlp: tools.ytDlp,
      capacity: config.capacity,
    }),
  );
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(JSON.stringify({ level: 'info', msg: 'media runner stopping', signal }));
  runner.server.close();
  await runner.stopAll();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
