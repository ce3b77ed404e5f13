/**
 * The runner image's contract, checked without a Docker engine (there is none on our machines; the
 * image is built by `wrangler deploy`): containers/ffmpeg/Dockerfile is parsed, and
 *  - every tool the runner source spawns is installed in the final stage (Debian packages are found
 *    with dpkg on this machine, where the runner's own tests run the same tools),
 *  - data files the runner names by absolute path come from an installed package,
 *  - every file the runner imports is copied in, and every npm package it imports is a runtime dependency,
 *  - the entry point exists, the port matches MediaContainer, it runs as non-root with a health check.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RUNNER_SRC = path.join(ROOT, 'containers/ffmpeg/src');
const DOCKERFILE = path.join(ROOT, 'containers/ffmpeg/Dockerfile');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string | null;
  base: string;
  instructions: Instruction[];
}

/** Instructions grouped by stage; comments dropped, continuation lines joined. */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(\w+)\s+(.*)$/s.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!.replace(/\s+/g, ' ').trim();
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ base: f[1]!, name: f[2] ?? null, instructions: [] });
    } else if (stages.length === 0 && op === 'ARG') {
      const [k, v = ''] = rest.split('=');
      args[k!] = v;
    } else {
      stages.at(-1)?.instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f));

/** Every program the runner starts: literal (or const-named) commands of runTool/spawn/execFile/version. */
function runnerCommands(): Set<string> {
  const texts = sourceFiles(RUNNER_SRC).map((f) => readFileSync(f, 'utf8'));
  const all = texts.join('\n');
  const consts = new Map([...all.matchAll(/const\s+(\w+)\s*=\s*'([\w.-]+)'/g)].map((m) => [m[1]!, m[2]!]));
  const out = new Set<string>();
  for (const text of texts) {
    for (const m of text.matchAll(/\brunTool\(\s*[\w.]+\s*,\s*(?:'([^']+)'|"([^"]+)"|([A-Za-z_]\w*))\s*,/g)) {
      const cmd = m[1] ?? m[2] ?? consts.get(m[3]!);
      if (!cmd) throw new Error(`runTool(${m[3]}) names its command through a variable this test cannot follow`);
      out.add(cmd);
    }
    for (const m of text.matchAll(/\b(?:spawn|spawnSync|execFile|execFileSync|version)\(\s*'([^']+)'/g)) out.add(m[1]!);
  }
  return out;
}

/** Absolute data paths the runner names (models, dictionaries), e.g. /usr/share/pocketsphinx/... */
function runnerDataPaths(): string[] {
  const all = sourceFiles(RUNNER_SRC)
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  return [...new Set([...all.matchAll(/'(\/usr\/share\/[^'\s]+)'/g)].map((m) => m[1]!))];
}

/** Packages by the programs they ship, for machines without dpkg or without the tool. */
const KNOWN_PACKAGES: Record<string, string> = {
  ffmpeg: 'ffmpeg',
  ffprobe: 'ffmpeg',
  pocketsphinx: 'pocketsphinx',
  pocketsphinx_continuous: 'pocketsphinx',
  pocketsphinx_batch: 'pocketsphinx',
  sox: 'sox',
  'espeak-ng': 'espeak-ng',
};

function debianPackageOf(file: string): string | null {
  try {
    const out = execFileSync('dpkg', ['-S', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split(':')[0]!.trim() || null;
  } catch {
    return null;
  }
}

function packageForCommand(cmd: string): string | null {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin']) {
    const file = path.join(dir, cmd);
    if (existsSync(file)) {
      const pkg = debianPackageOf(file);
      if (pkg) return pkg;
    }
  }
  return KNOWN_PACKAGES[cmd] ?? null;
}

function aptPackages(stage: Stage): Set<string> {
  const out = new Set<string>();
  for (const i of stage.instructions.filter((x) => x.op === 'RUN')) {
    for (const m of i.args.matchAll(/apt-get install ([^&;|]+)/g)) {
      for (const word of m[1]!.split(/\s+/)) if (word && !word.startsWith('-')) out.add(word);
    }
  }
  return out;
}

/** The import graph from the entry: relative files, and bare package names. */
function importsFrom(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith('node:'))
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files, packages };
}

const dockerfile = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const final = dockerfile.stages.at(-1)!;
const finalOf = (op: string) => final.instructions.filter((i) => i.op === op);
const execForm = (args: string): string[] => JSON.parse(args) as string[];

/** In-image path -> repository path, from the final stage's WORKDIR and plain (not --from) COPY lines. */
function copiedFrom(): Map<string, string> {
  const map = new Map<string, string>();
  let workdir = '/';
  for (const i of final.instructions) {
    if (i.op === 'WORKDIR') workdir = path.posix.resolve(workdir, i.args);
    if (i.op === 'COPY' && !i.args.includes('--from')) {
      const parts = i.args.split(' ').filter((p) => !p.startsWith('--'));
      const rawDest = parts.pop()!;
      const dest = path.posix.resolve(workdir, rawDest);
      const intoDir = parts.length > 1 || rawDest.endsWith('/') || rawDest === '.';
      for (const src of parts) map.set(intoDir ? path.posix.join(dest, path.basename(src)) : dest, src);
    }
  }
  return map;
}

function inImage(repoFile: string): boolean {
  const rel = path.relative(ROOT, repoFile);
  return [...copiedFrom().values()].some((src) => rel === src || rel.startsWith(`${src.replace(/\/$/, '')}/`));
}

describe('the runner image (containers/ffmpeg/Dockerfile)', () => {
  it('is multi-stage and its final stage runs as a non-root user on Node', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    expect(final.base).toMatch(/^node:/);
    const user = finalOf('USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
  });

  it('installs every tool the runner spawns', () => {
    const commands = runnerCommands();
    // The runner's core tools must be found, or this test would pass by reading nothing.
    for (const core of ['ffmpeg', 'ffprobe', 'yt-dlp']) expect(commands).toContain(core);
    // The offline transcription engine, reached through a named constant.
    expect(commands).toContain('pocketsphinx_continuous');
    const apt = aptPackages(final);
    for (const cmd of commands) {
      if (cmd === 'yt-dlp') continue; // checked below: a pinned current release, not Debian's old one
      if (cmd === 'node') continue; // the base image
      const pkg = packageForCommand(cmd);
      expect(pkg, `which Debian package ships ${cmd}? (add it to KNOWN_PACKAGES)`).not.toBeNull();
      expect([...apt], `${cmd} comes from ${pkg}`).toContain(pkg);
    }
  });

  it('installs data files the runner names (the speech model) and the transcription engine', () => {
    const apt = aptPackages(final);
    for (const file of runnerDataPaths()) {
      const pkg = debianPackageOf(file) ?? (file.startsWith('/usr/share/pocketsphinx/') ? 'pocketsphinx-en-us' : null);
      if (pkg) expect([...apt], `${file} comes from ${pkg}`).toContain(pkg);
    }
    expect([...apt]).toEqual(expect.arrayContaining(['pocketsphinx', 'pocketsphinx-en-us']));
  });

  it('brings a current, pinned yt-dlp onto the PATH', () => {
    const pinned = dockerfile.args.YT_DLP_VERSION ?? '';
    expect(pinned).toMatch(/^20\d\d\.\d\d\.\d\d$/);
    // Debian bookworm's yt-dlp is 2023.03: too old for live sites.
    expect(aptPackages(final).has('yt-dlp')).toBe(false);
    const builder = dockerfile.stages.find((s) =>
      s.instructions.some((i) => i.op === 'RUN' && /pip install .*yt-dlp(\[\w+\])?==\$\{YT_DLP_VERSION\}/.test(i.args)),
    );
    expect(builder?.name).toBeTruthy();
    expect(finalOf('COPY').some((i) => i.args.includes(`--from=${builder!.name}`))).toBe(true);
    expect(finalOf('RUN').some((i) => /ln -s \S+\/yt-dlp \/usr\/local\/bin\/yt-dlp/.test(i.args))).toBe(true);
    expect(aptPackages(final).has('python3')).toBe(true);
  });

  it('starts the runner entry point, which exists and imports only what is copied in', () => {
    const cmd = execForm(finalOf('CMD').at(-1)!.args);
    expect(cmd[0]).toBe('node');
    const workdir = path.posix.resolve('/', finalOf('WORKDIR').at(-1)!.args);
    const entryInImage = path.posix.resolve(workdir, cmd[1]!);
    const map = copiedFrom();
    const [dest, src] =
      [...map]
        .filter(([d]) => entryInImage === d || entryInImage.startsWith(`${d}/`))
        .sort((a, b) => b[0].length - a[0].length)[0] ?? [];
    expect(src, `${entryInImage} is not copied into the image`).toBeDefined();
    const entryInRepo = path.join(ROOT, src!, path.posix.relative(dest!, entryInImage));
    expect(existsSync(entryInRepo)).toBe(true);
    expect(entryInRepo).toBe(path.join(RUNNER_SRC, 'main.ts'));

    const { files, packages } = importsFrom(entryInRepo);
    for (const file of files)
      expect(inImage(file), `${path.relative(ROOT, file)} is imported but not copied`).toBe(true);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const name of packages)
      expect(Object.keys(pkg.dependencies), `${name} must be a runtime dependency`).toContain(name);
    expect(finalOf('COPY').some((i) => /--from=\w+ \/app\/node_modules/.test(i.args))).toBe(true);
  });

  it('listens where MediaContainer connects, with a health check on /health', () => {
    const container = readFileSync(path.join(ROOT, 'src/objects/media-container.ts'), 'utf8');
    const named = /defaultPort\s*=\s*(\w+)/.exec(container)?.[1];
    const port = named && /^\d+$/.test(named) ? named : new RegExp(`${named}\\s*=\\s*(\\d+)`).exec(container)?.[1];
    expect(port).toBeDefined();
    const env = finalOf('ENV')
      .map((i) => i.args)
      .join(' ');
    expect(env).toMatch(new RegExp(`\\bPORT=${port}\\b`));
    expect(finalOf('EXPOSE').map((i) => i.args)).toContain(port);
    const health = finalOf('HEALTHCHECK').at(-1)?.args ?? '';
    expect(health).toContain(`127.0.0.1:${port}/health`);
  });

  it('sends the builder only what it copies (Dockerfile.dockerignore allowlist)', () => {
    const ignore = readFileSync(`${DOCKERFILE}.dockerignore`, 'utf8');
    expect(ignore.split('\n')).toContain('*');
    for (const src of new Set([...copiedFrom().values()])) {
      expect(ignore, `${src} is copied but ignored`).toMatch(new RegExp(`^!${src.replace(/\/$/, '')}/?$`, 'm'));
    }
  });
});
