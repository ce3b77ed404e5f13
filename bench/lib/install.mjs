// Installs what the peers need when it is missing: Debian packages through apt-get (redis-server,
// python3-celery, python3-fastapi, python3-uvicorn, python3-redis) and the npm packages of
// bench/peers/package.json into bench/.work/peers (kept out of the app's lockfile).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH, WORK } from './proc.mjs';

const APT = ['redis-server', 'python3-celery', 'python3-fastapi', 'python3-uvicorn', 'python3-redis'];

function has(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

function aptInstall(packages, log) {
  log(`installing Debian packages: ${packages.join(' ')}\n`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args) =>
    execFileSync(sudo.length ? 'sudo' : args[0], sudo.length ? args : args.slice(1), {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    run(['apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
  } catch {
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
  }
}

export function ensurePeers({ log, needCelery = true, needBullmq = true }) {
  const missing = [];
  if (!has('redis-server', ['--version'])) missing.push('redis-server');
  if (needCelery && !has('/usr/bin/python3', ['-c', 'import celery, fastapi, uvicorn, redis'])) {
    missing.push(...APT.slice(1));
  }
  if (!has('ffmpeg', ['-version'])) missing.push('ffmpeg');
  if (missing.length) aptInstall(missing, log);

  if (needBullmq) {
    const dir = path.join(WORK, 'peers');
    const want = readFileSync(path.join(BENCH, 'peers/package.json'), 'utf8');
    const have = existsSync(path.join(dir, 'package.json')) ? readFileSync(path.join(dir, 'package.json'), 'utf8') : '';
    if (want !== have || !existsSync(path.join(dir, 'node_modules/bullmq'))) {
      log('installing npm packages for the BullMQ peer into bench/.work/peers\n');
      mkdirSync(dir, { recursive: true });
      copyFileSync(path.join(BENCH, 'peers/package.json'), path.join(dir, 'package.json'));
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
  }
}
