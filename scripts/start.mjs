// `npm start`: the whole clipyard system on this machine, at http://127.0.0.1:8787 by default, with
// the Worker on the light local engine (Miniflare's API: scripts/local-engine.mjs). `npm run dev`
// (`--dev`) runs it on wrangler dev instead, which rebuilds and reloads on every edit of the sources.
// Environment: PORT (8787), RUNNER_PORT (8788), CLIPYARD_ENGINE (miniflare or wrangler) to choose the
// engine by hand, and every Worker setting the README's Configuration table lists (API_KEYS,
// CLIPYARD_ALLOW_HOSTS, MAX_*, ...): set in the environment, they reach the Worker
// (scripts/worker-env.mjs); .dev.vars is read too. Prints whether authentication is on.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_ENGINE, ROOT, startRunner, startWorker, stopProcess } from './system.mjs';
import { apiKeys, authLine, parseDevVars, workerSettings } from './worker-env.mjs';

const port = Number(process.env.PORT ?? 8787);
const runnerPort = Number(process.env.RUNNER_PORT ?? 8788);
const allowHosts = process.env.CLIPYARD_ALLOW_HOSTS ?? '';
const log = (s) => process.stdout.write(s);
const engine = process.argv.includes('--dev') ? 'wrangler' : DEFAULT_ENGINE;

try {
  execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
} catch {
  console.error('clipyard needs ffmpeg on PATH (Debian/Ubuntu: sudo apt-get install ffmpeg)');
  process.exit(1);
}

const settings = workerSettings(process.env);
if (settings.error) {
  console.error(`clipyard did not start: ${settings.error}`);
  process.exit(1);
}
const devVarsFile = path.join(ROOT, '.dev.vars');
const devVars = existsSync(devVarsFile) ? parseDevVars(readFileSync(devVarsFile, 'utf8')) : {};

const runner = await startRunner({ port: runnerPort, allowHosts, log });
const worker = await startWorker({
  port,
  runnerUrl: `http://127.0.0.1:${runnerPort}`,
  allowHosts,
  vars: settings.vars,
  secrets: settings.secrets,
  log,
  engine,
});
const how = engine === 'wrangler' ? 'wrangler dev, reloads on edits' : 'local engine; `npm run dev` reloads on edits';
console.log(`\nclipyard is running at http://127.0.0.1:${port}  (${how}; runner on :${runnerPort}; Ctrl-C stops both)`);
console.log(`${authLine(apiKeys(settings.secrets.API_KEYS), apiKeys(devVars.API_KEYS))}\n`);

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
  if (!stopping)
    console.error(`${engine === 'wrangler' ? 'wrangler dev' : 'the local engine'} exited (${c}); stopping`);
  void stop(1);
});
