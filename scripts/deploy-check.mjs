// `npm run deploy:check`: everything `npm run deploy` would do short of uploading, so a broken bundle
// never lands. Needs no Cloudflare account and no Docker engine:
//   1. worker-configuration.d.ts matches wrangler.toml (`wrangler types --check`),
//   2. `wrangler deploy --dry-run --outdir dist --containers-rollout=none` bundles the Worker, runs the
//      web build and reads the container config,
//   3. the bundle names the bindings the code needs and stays under the Workers size limit.
// Run by CI (through test/unit/deploy-check.test.ts) and before a real deploy.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ensureDevVars } from './system.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'node_modules', '.bin');
const NODE = existsSync(path.join(BIN, 'node')) ? path.join(BIN, 'node') : process.execPath;
const OUT_DIR = process.env.DEPLOY_CHECK_OUTDIR ?? path.join(ROOT, 'dist');
/** Workers' limit on the compressed script (the paid plan's is 10 MiB; stay under the free plan's). */
const MAX_GZIP_BYTES = 3 * 1024 * 1024;
const REQUIRED_BINDINGS = ['TASKS', 'TENANTS', 'MEDIA', 'BUCKET', 'ASSETS'];

function wrangler(args) {
  const r = spawnSync(NODE, [path.join(BIN, 'wrangler'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...process.env,
      PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
      WRANGLER_SEND_METRICS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      WRANGLER_LOG_PATH: path.join(ROOT, '.wrangler', 'logs'),
      NO_COLOR: '1',
    },
    timeout: 240_000,
  });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const problems = [];

// `wrangler types` also reads .dev.vars (the local LINK_SECRET that `npm start` writes); the committed
// types were generated with it, so a fresh clone gets the same file before comparing.
ensureDevVars();
const types = wrangler(['types', '--check']);
if (types.code !== 0) {
  problems.push(
    `worker-configuration.d.ts is out of date with wrangler.toml: run \`npx wrangler types\`\n${types.out}`,
  );
}

const dry = wrangler(['deploy', '--dry-run', '--outdir', OUT_DIR, '--containers-rollout=none']);
if (dry.code !== 0 || !dry.out.includes('--dry-run: exiting now')) {
  problems.push(`wrangler deploy --dry-run failed (exit ${dry.code}):\n${dry.out}`);
} else {
  for (const binding of REQUIRED_BINDINGS) {
    if (!new RegExp(`env\\.${binding}\\b`).test(dry.out)) problems.push(`the bundle has no ${binding} binding`);
  }
  if (!/containers are available:\s*\n\s*- \S+ \(.*containers\/ffmpeg\/Dockerfile\)/.test(dry.out)) {
    problems.push('the MediaContainer image (containers/ffmpeg/Dockerfile) is not configured');
  }
  const bundle = path.join(OUT_DIR, 'index.js');
  if (!existsSync(bundle)) problems.push(`no bundle at ${bundle}`);
  else {
    const gz = gzipSync(readFileSync(bundle)).length;
    console.log(`bundle: ${path.relative(ROOT, bundle)}, ${(gz / 1024).toFixed(0)} KiB gzipped`);
    if (gz > MAX_GZIP_BYTES) problems.push(`the bundle is ${gz} bytes gzipped, over ${MAX_GZIP_BYTES}`);
  }
}

if (problems.length) {
  console.error(`deploy check failed:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log('deploy check passed: types current, dry run bundled, bindings and container configured');
