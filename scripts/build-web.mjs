// Bundles the page in web/src into web/public, the Worker's static assets directory.
// wrangler.toml's [build] runs this before `wrangler dev` and deploy; `--watch` rebuilds on change.
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'web', 'src');
const out = join(root, 'web', 'public');
const watch = process.argv.includes('--watch');

/** Copies the static files (HTML, CSS, icons) next to the bundle. */
async function copyStatic() {
  for (const name of await readdir(src)) {
    if (/\.(html|css|svg|ico|png|webmanifest)$/.test(name)) await copyFile(join(src, name), join(out, name));
  }
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await copyStatic();
// The output is generated (and git-ignored): keep `biome check .` away from the minified bundle.
await writeFile(join(out, 'biome.json'), `${JSON.stringify({ root: false, files: { includes: ['!**'] } })}\n`);

const options = {
  entryPoints: { app: join(src, 'main.ts') },
  outdir: out,
  // Big, rarely needed code (the HLS player's hls.js) loads on first use, as its own chunk.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  minify: !watch,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log('build-web: watching web/src');
} else {
  const result = await esbuild.build({ ...options, metafile: true });
  const bytes =
    result.metafile.outputs[Object.keys(result.metafile.outputs).find((k) => k.endsWith('/app.js'))]?.bytes ?? 0;
  console.log(`build-web: web/public written (app.js ${Math.round(bytes / 1024)} KiB)`);
}
