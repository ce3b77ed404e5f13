// `npm start`: the whole clipyard system on this machine, at http://127.0.0.1:8787 by default.
// Environment: PORT (8787), RUNNER_PORT (8788), CLIPYARD_ALLOW_HOSTS (empty: private hosts refused).
import { execFileSync } from 'node:child_process';
import { startRunner, startWorker, stopProcess } from './system.mjs';

const port = Number(process.env.PORT ?? 8787);
const runnerPort = Number(process.env.RUNNER_PORT ?? 8788);
const allowHosts = process.env.CLIPYARD_ALLOW_HOSTS ?? '';
const log = (s) => process.stdout.write(s);

try {
  execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
} catch {
  console.error('clipyard needs ffmpeg on PATH (Debian/Ubuntu: sudo apt-get install ffmpeg)');
  process.exit(1);
}

const runner = await startRunner({ port: runnerPort, allowHosts, log });
const worker = await startWorker({ port, runnerUrl: `http://127.0.0.1:${runnerPort}`, allowHosts, log });
console.log(`\nclipyard is running at http://127.0.0.1:${port}  (runner on :${runnerPort}; Ctrl-C stops both)\n`);

let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  await Promise.all([stopProcess(worker), stopProcess(runner)]);
  process.exit(code);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
runner.on('exit', (c) => {
  if (!stopping) console.error(`runner exited (${c}); stopping`);
  void stop(1);
});
worker.on('exit', (c) => {
  if (!stopping) console.error(`wrangler dev exited (${c}); stopping`);
  void stop(1);
});
