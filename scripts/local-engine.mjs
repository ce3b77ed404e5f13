// `npm start`'s Worker engine: the bundle `wrangler deploy --dry-run` builds, run by Miniflare's API
// (workerd underneath) with the bindings wrangler.toml declares, read by wrangler's own
// unstable_getMiniflareWorkerOptions: Durable Objects on SQLite, R2, static assets, rate limits,
// vars, .dev.vars secrets and the secrets npm start passes in CLIPYARD_WORKER_SECRETS. Without
// wrangler dev's proxy worker, file watcher and log collector,
// each request and object call costs the one workerd thread less (bench/NOTES.md has the figures).
// `npm run dev` keeps wrangler dev, which rebuilds and reloads on every edit.
//
// The port is a socket of scripts/engine-front.worker.js (Miniflare's unsafeDirectSockets), not of
// Miniflare's entry worker: a request reaches the Worker through one small worker instead of four
// (entry, assets RPC proxy, router, router's inner entrypoint), ~0.4 ms of workerd CPU less per request,
// and WebSockets are not compressed. That worker also serves the static assets, and vouches for the
// client's address, which it can only do on a loopback host: on any other host (or with
// CLIPYARD_ENGINE_FRONT=entry) the entry worker serves the port as before.
//
// Disk syncs (CLIPYARD_SQLITE_SYNC, scripts/sqlite-sync.mjs): workerd's local SQLite fsyncs every
// commit of every object database, ~20 fsyncs per task that hold the one thread ~1.5 ms each (strace,
// scripts/profile-cpu.mjs --perf). `everysec`
// (the default when Debian's libeatmydata is installed) turns workerd's fsyncs into no-ops and syncs
// the state directory's filesystem once a second instead: a crash of workerd or of this process loses
// nothing (every commit is in the page cache), a crash of the machine loses at most about a second,
// the same bargain as Redis's `appendfsync everysec`. `always` keeps a sync per commit.
//
// Miniflare is not loaded here (CLIPYARD_ENGINE_HOST=miniflare, the inspector or the entry worker load it):
// scripts/engine-config.mjs, a process that ends at once, has Miniflare build workerd's command line
// and configuration, and this process runs workerd with them (runLean below): ~65 MB of RSS instead
// of ~140 (bench/NOTES.md, "Memory outside workerd").
//
// Run as a process by scripts/system.mjs: node scripts/local-engine.mjs <options JSON>, with
// { port, host, vars, persistTo, config, inspectorPort } in the JSON. Prints "ready on <url>" when it
// answers, and with `inspectorPort` (0: any free port) "inspector on <ws url>": workerd's V8 inspector,
// which scripts/profile-cpu.mjs drives.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EAT_MY_DATA, sqliteSyncMode } from './sqlite-sync.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const opts = JSON.parse(process.argv[2] ?? '{}');
/** Secrets from `npm start`'s environment (API_KEYS, ...): given in this process's environment, never argv. */
const secrets = JSON.parse(process.env.CLIPYARD_WORKER_SECRETS ?? '{}');
delete process.env.CLIPYARD_WORKER_SECRETS;
const config = path.resolve(ROOT, opts.config ?? 'wrangler.toml');
/** This process's own bundle directory (two systems started from one tree must not share one). */
const outdir = path.join(ROOT, '.wrangler', 'engine', `${path.basename(config, '.toml')}-${process.pid}`);

/** KEY=VALUE lines of .dev.vars (the local secrets), as wrangler dev reads them. */
function devVars() {
  const file = path.join(path.dirname(config), '.dev.vars');
  if (!existsSync(file)) return {};
  const out = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** The bundle's entry: named after the config's `main` (index.js for src/worker/index.ts). */
function bundled(dir) {
  const js = readdirSync(dir).filter((f) => f.endsWith('.js'));
  if (js.length !== 1) throw new Error(`expected one bundled module in ${dir}, found ${js.join(', ') || 'none'}`);
  return path.join(dir, js[0]);
}

// The same bundle a deploy uploads (the build command builds the web page first).
mkdirSync(outdir, { recursive: true });
execFileSync(
  process.execPath,
  [
    path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
    'deploy',
    '--dry-run',
    '--config',
    config,
    '--outdir',
    outdir,
    '--containers-rollout=none',
  ],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, WRANGLER_LOG: 'error' } },
);

// wrangler.toml -> Miniflare's options, read by wrangler's own function in a short-lived child: loading
// wrangler costs this long-lived process over 100 MB of memory that it would keep for nothing.
const optionsFile = path.join(outdir, 'options.json');
execFileSync(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `import { unstable_getMiniflareWorkerOptions as get } from 'wrangler';
import { writeFileSync } from 'node:fs';
const o = get(${JSON.stringify(config)}, undefined, { overrides: { enableContainers: false } });
writeFileSync(${JSON.stringify(optionsFile)}, JSON.stringify(o.workerOptions));`,
  ],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, WRANGLER_LOG: 'error' } },
);
const workerOptions = JSON.parse(readFileSync(optionsFile, 'utf8'));
// one bundled module: no module rules to apply (and Miniflare 5 refuses them next to scriptPath)
delete workerOptions.modulesRules;
const SYNC_EVERY_MS = 1_000;
const syncMode = sqliteSyncMode();
const persistRoot = opts.persistTo
  ? path.join(path.resolve(ROOT, opts.persistTo), 'v3')
  : path.join(ROOT, '.wrangler', 'state', 'v3');
const host = opts.host ?? '127.0.0.1';
const port = opts.port ?? 8787;
/**
 * The loopback address a socket on `host` is reached from, or null when `host` is not loopback: the
 * front door can vouch for its peers only when nothing but this machine can connect.
 */
function loopbackPeer(h) {
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return '127.0.0.1';
  return h === '::1' || h === '[::1]' ? '::1' : null;
}
const peer = loopbackPeer(host);
// `front`: requests reach the Worker through engine-front.worker.js on its own socket; `entry`: through
// Miniflare's entry worker and assets router, as before (CLIPYARD_ENGINE_FRONT=entry, for A/B runs,
// and always on a host that is not loopback)
const front = process.env.CLIPYARD_ENGINE_FRONT !== 'entry' && peer !== null;
const { assets, ...withoutAssets } = workerOptions;
const clipyard = {
  // with the front door the assets are its own: a Worker with assets is reached only through the router
  ...(front ? withoutAssets : workerOptions),
  name: 'clipyard',
  modules: true,
  scriptPath: bundled(outdir),
  modulesRoot: outdir,
  bindings: { ...workerOptions.bindings, ...devVars(), ...secrets, ...(opts.vars ?? {}) },
};
const frontDoor = {
  name: 'front',
  modules: true,
  scriptPath: path.join(ROOT, 'scripts', 'engine-front.worker.js'),
  compatibilityDate: workerOptions.compatibilityDate,
  // The worker that answers the socket decides permessage-deflate for every WebSocket it passes on:
  // off, a progress frame to 100 subscribers cost 40-47 us of workerd CPU per subscriber instead of
  // 62-81 (scripts/profile-fanout.mjs --subs=100, two runs each).
  // CLIPYARD_WS_DEFLATE=on keeps it (the entry worker always negotiates it).
  compatibilityFlags: process.env.CLIPYARD_WS_DEFLATE === 'on' ? [] : ['no_web_socket_compression'],
  assets,
  bindings: { ROUTES: assets?.routerConfig?.static_routing ?? {}, PEER_ADDRESS: peer ?? '' },
  serviceBindings: { WORKER: 'clipyard' },
  // a named entrypoint: Miniflare sends a socket for the default one of a worker with assets to the router
  unsafeDirectSockets: [{ host, port, entrypoint: 'Front' }],
};
// Miniflare's options (its log level is set where it is loaded)
const mfOptions = {
  host,
  // with the front door, Miniflare's own entry socket (which its API needs) takes any free port
  port: front ? 0 : port,
  // the same layout as wrangler dev's --persist-to, so `npm start` and `npm run dev` share state
  resourcePersistencePath: persistRoot,
  logRequests: false,
  // no network here: a placeholder request.cf instead of fetching Cloudflare's (as wrangler dev does
  // with CLOUDFLARE_CF_FETCH_ENABLED=false)
  cf: false,
  ...(opts.inspectorPort !== undefined ? { inspectorPort: opts.inspectorPort } : {}),
  ...(syncMode === 'everysec' ? { unsafeRuntimeEnv: { LD_PRELOAD: EAT_MY_DATA } } : {}),
  workers: front ? [clipyard, frontDoor] : [clipyard],
};
// everysec: one syncfs of the state's filesystem a second (coreutils `sync -f`), never two at once
let syncing = null;
const syncTimer =
  syncMode === 'everysec'
    ? setInterval(() => {
        if (syncing) return;
        mkdirSync(persistRoot, { recursive: true });
        syncing = spawn('sync', ['-f', persistRoot], { stdio: 'ignore' });
        syncing.once('exit', () => {
          syncing = null;
        });
        syncing.once('error', () => {
          syncing = null;
        });
      }, SYNC_EVERY_MS)
    : null;
// Hosted: Miniflare runs in this process and workerd under it (kept for the inspector, the entry worker
// and CLIPYARD_ENGINE_HOST=miniflare). Lean (the default with the front door): a short-lived process
// (scripts/engine-config.mjs) has Miniflare build workerd's command line and configuration, and this
// process runs workerd with them itself, never loading Miniflare: Miniflare's modules and what they keep
// cost a long-lived Node process ~90 MB of memory for nothing. What Miniflare's Node side does at run
// time for this configuration is done here: its loopback service (the log and error reports of its
// R2 and other storage workers), workerd's structured logs, a restart after a crash, the stop.
const lean = front && opts.inspectorPort === undefined && process.env.CLIPYARD_ENGINE_HOST !== 'miniflare';
let workerd = null;
let stopping = false;
const url = lean ? await runLean() : await runHosted();
process.stdout.write(`ready on ${url}\n`);

async function runHosted() {
  const { convertV4MiniflareOptions, Log, LogLevel, Miniflare } = await import('miniflare');
  const mf = new Miniflare(convertV4MiniflareOptions({ ...mfOptions, log: new Log(LogLevel.WARN) }));
  await mf.ready;
  const at = front ? await mf.unsafeGetDirectURL('front', 'Front') : await mf.ready;
  if (opts.inspectorPort !== undefined) process.stdout.write(`inspector on ${await mf.getInspectorURL()}\n`);
  return at;
}

/** Lines of workerd's output: its structured logs by level, other lines as they are (as Miniflare does). */
function relay(stream, fallback) {
  const lines = createInterface({ input: stream });
  lines.on('line', (line) => {
    if (!line) return;
    let log = null;
    try {
      log = JSON.parse(line);
    } catch {
      /* not a structured log */
    }
    if (log && typeof log === 'object' && typeof log.message === 'string' && typeof log.level === 'string') {
      if (/took recursive isolate lock|LLVM_SYMBOLIZER/.test(log.message)) return;
      (log.level === 'error' || log.level === 'warn' ? process.stderr : process.stdout).write(`${log.message}\n`);
    } else if (!/LLVM_SYMBOLIZER|took recursive isolate lock|stack:( (0|[a-f\d]{4,})){3,}/.test(line)) {
      fallback.write(`${line}\n`);
    }
  });
}

async function runLean() {
  // Miniflare's loopback service, as far as this configuration uses it: storage workers' log lines
  // (POST /core/log) and error reports (POST /core/error) go to this process's stderr
  const loopback = createServer((req, res) => {
    const body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && (req.url === '/core/log' || req.url === '/core/error')) {
        process.stderr.write(`${Buffer.concat(body).toString('utf8')}\n`);
        res.writeHead(204).end();
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise((resolve) => loopback.listen(0, '127.0.0.1', resolve));
  loopback.unref();
  mkdirSync(path.join(outdir, 'tmp'), { recursive: true });
  const {
    command,
    args: capturedArgs,
    env: runtimeEnv,
    config,
  } = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--lite-mode', path.join(ROOT, 'scripts', 'engine-config.mjs')], {
      cwd: ROOT,
      // whatever Miniflare puts in its temporary directory stays with this engine's bundle directory
      env: { ...process.env, TMPDIR: path.join(outdir, 'tmp') },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const out = [];
    child.stdout.on('data', (c) => out.push(c));
    child.once('error', reject);
    child.once('exit', () => {
      try {
        // a JSON line, then the configuration's bytes (the only part kept: a restart needs them)
        const all = Buffer.concat(out.splice(0));
        const nl = all.indexOf(10);
        if (nl < 0) throw new Error('no configuration');
        resolve({ ...JSON.parse(all.subarray(0, nl).toString('utf8')), config: all.subarray(nl + 1) });
      } catch {
        reject(new Error('the local engine: Miniflare built no workerd configuration (see above)'));
      }
    });
    child.stdin.end(JSON.stringify(mfOptions));
  });
  const args = capturedArgs.map((a) =>
    a.startsWith('--external-addr=loopback=') ? `--external-addr=loopback=127.0.0.1:${loopback.address().port}` : a,
  );
  const frontSocket = 'direct:1:Front';
  const start = () =>
    new Promise((resolve, reject) => {
      const proc = spawn(command, args, {
        stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...runtimeEnv },
      });
      workerd = proc;
      relay(proc.stdout, process.stdout);
      relay(proc.stderr, process.stderr);
      const ports = new Map();
      createInterface({ input: proc.stdio[3] }).on('line', (line) => {
        try {
          const m = JSON.parse(line);
          if (m.event === 'listen') ports.set(m.socket, m.port);
        } catch {
          return;
        }
        if (ports.has(frontSocket) && ports.has('entry')) resolve(ports.get(frontSocket));
      });
      proc.once('error', reject);
      proc.once('exit', (code, signal) => {
        if (workerd === proc) workerd = null;
        if (stopping) return;
        // told to stop (a stop signals the engine's whole process group, workerd with it; workerd
        // answers SIGTERM by exiting with 0): the engine stops too, whichever of the two saw it first
        if (code === 0 || signal === 'SIGTERM' || signal === 'SIGINT') {
          stop();
          process.exit(0);
        }
        if (!ports.has(frontSocket)) {
          reject(new Error(`workerd exited before it listened (${signal ?? code})`));
          return;
        }
        // as Miniflare does: a crashed runtime is started again with the same configuration
        process.stderr.write(`workerd exited unexpectedly (${signal ?? code}); starting it again\n`);
        start().catch((err) => {
          process.stderr.write(`${err.stack ?? err}\n`);
          process.exit(1);
        });
      });
      proc.stdin.end(config);
    });
  const listening = await start();
  return `http://${host.includes(':') ? `[${host.replace(/^\[|\]$/g, '')}]` : host}:${listening}`;
}

// Miniflare's own exit hook answers SIGTERM and SIGINT with process.exit() (having told workerd to
// stop), before any listener added after it could finish: so what a stop must do is done first and
// synchronously, and the last sync at the exit itself. (An async stop here never got past its first
// await: every stop left its bundle directory behind and skipped the last sync.)
function stop() {
  stopping = true;
  if (syncTimer) clearInterval(syncTimer);
  rmSync(outdir, { recursive: true, force: true });
  if (workerd) workerd.kill('SIGKILL');
}
process.prependListener('SIGTERM', stop);
process.prependListener('SIGINT', stop);
// without Miniflare's exit hook (lean), a stop ends this process itself
if (lean) {
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
}
// what the last second wrote reaches the disk before the process is gone
process.on('exit', () => {
  if (workerd) workerd.kill('SIGKILL');
  if (syncMode === 'everysec') spawnSync('sync', ['-f', persistRoot]);
});
