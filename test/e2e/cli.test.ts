/**
 * The CLI as a person runs it, against the real system: `npx clipyard <url> --audio mp3` under a
 * pseudo-terminal draws a progress bar and saves an mp3 that ffprobe reads; piped output is plain
 * lines; --json is one JSON document; local files are uploaded; exit codes mean what the usage says.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { EXIT } from '../../src/cli/args.ts';
import { baseUrl, ffprobeBytes, mediaUrl } from './client.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LOCAL_NODE = path.join(ROOT, 'node_modules/.bin/node');
const NODE = existsSync(LOCAL_NODE) ? LOCAL_NODE : process.execPath;
const BIN = path.join(ROOT, 'bin/clipyard.mjs');
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-cli-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to its end (never through a shell except `script`, which needs one line). */
function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; onStdout?: (text: string, kill: () => void) => void } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, CLIPYARD_URL: '', CLIPYARD_API_KEY: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      opts.onStdout?.(stdout, () => child.kill('SIGINT'));
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const clipyard = (args: string[], opts: Parameters<typeof run>[2] = {}) => run(NODE, [BIN, ...args], opts);
const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

describe('the clipyard CLI', () => {
  it('`npx clipyard <url> --audio mp3` on a terminal: a progress bar, then an mp3 saved here', async () => {
    const out = tempDir();
    const line = [
      'npx',
      '--no-install',
      'clipyard',
      mediaUrl('slow/clip.mp4'),
      '--audio',
      'mp3',
      '--server',
      baseUrl(),
      '-o',
      `${out}/`,
    ]
      .map(shellQuote)
      .join(' ');
    // `script` gives the command a pseudo-terminal, so stdout.isTTY is true as in a real terminal.
    const r = await run('script', ['-qfec', line, '/dev/null'], { env: { COLUMNS: '100' } });
    expect(r.code, r.stdout + r.stderr).toBe(EXIT.ok);
    const screen = r.stdout;
    // The bar is redrawn in place: carriage returns, the bar itself, percentages, the stage, speed, ETA.
    expect(screen).toContain('\r\x1b[K');
    expect(screen).toMatch(/▕[█░]+▏/);
    expect(screen).toMatch(/\d+%/);
    expect(screen).toContain('downloading');
    expect(screen).toMatch(/\d+(\.\d)? (B|kB|MB)\/s/);
    expect(screen).toMatch(/ETA \d+:\d\d/);
    expect(screen).toContain('saved');
    const saved = path.join(out, 'clip.mp3');
    expect(existsSync(saved)).toBe(true);
    const probe = ffprobeBytes(readFileSync(saved), 'mp3');
    expect(probe.streams[0]!.codec_name).toBe('mp3');
    expect(Math.abs(Number(probe.format.duration) - 10)).toBeLessThan(0.5);
  });

  it('piped: plain progress lines, no bar; saves the 360p video in the working directory', async () => {
    const cwd = tempDir();
    const r = await clipyard([mediaUrl('clip.mp4'), '--video', '360p', '--server', baseUrl()], { cwd });
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stdout).not.toContain('\r');
    expect(r.stdout).not.toContain('▕');
    expect(r.stdout).toMatch(/^\[\s*\d+%\] transcoding/m);
    expect(r.stdout).toMatch(/^\[100%\] succeeded$/m);
    const probe = ffprobeBytes(readFileSync(path.join(cwd, 'clip.mp4')), 'mp4');
    expect(probe.streams.find((s) => s.codec_type === 'video')!.height).toBe(360);
  });

  it('uploads a local file; --json prints one JSON result and nothing else', async () => {
    const out = tempDir();
    const file = path.join(inject('mediaDir'), 'clip.mp4');
    const r = await clipyard([file, '--thumbnail', '--info', '--json', '-o', out, '--server', baseUrl()]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const result = JSON.parse(r.stdout) as {
      id: string;
      status: string;
      outputs: { name: string; path: string; size: number }[];
      exitCode: number;
    };
    expect(result.status).toBe('succeeded');
    expect(result.exitCode).toBe(0);
    expect(result.outputs.map((o) => path.basename(o.path)).sort()).toEqual(['clip.jpg', 'clip.json']);
    for (const o of result.outputs) expect(readFileSync(o.path).length).toBe(o.size);
    expect(JSON.parse(readFileSync(path.join(out, 'clip.json'), 'utf8'))).toHaveProperty('streams');
    expect(readdirSync(out).sort()).toEqual(['clip.jpg', 'clip.json']);
  });

  it('never overwrites: a second run saves clip-1.mp3', async () => {
    const cwd = tempDir();
    for (let i = 0; i < 2; i++) {
      const r = await clipyard([mediaUrl('clip.mp4'), '-q', '--server', baseUrl()], { cwd });
      expect(r.code, r.stderr).toBe(EXIT.ok);
    }
    expect(readdirSync(cwd).sort()).toEqual(['clip-1.mp3', 'clip.mp3']);
  });

  it('exit codes: failed task 1, usage 2, unreachable 3, Ctrl-C cancels 4, missing file 6', async () => {
    const failed = await clipyard([mediaUrl('notmedia.txt'), '--audio', '--server', baseUrl()], { cwd: tempDir() });
    expect(failed.code).toBe(EXIT.failed);
    expect(failed.stderr).toMatch(/failed: media\.\w+/);

    const usage = await clipyard(['--audio', 'mp3']);
    expect(usage.code).toBe(EXIT.usage);
    expect(usage.stderr).toContain('Usage: clipyard');
    const rejected = await clipyard([mediaUrl('clip.mp4'), '--steps', '[{"op":"audio","bitrat":"1"}]'], {
      env: { CLIPYARD_URL: baseUrl() },
    });
    expect(rejected.code).toBe(EXIT.usage);
    expect(rejected.stderr).toContain('step.unknown_option');

    const unreachable = await clipyard([mediaUrl('clip.mp4'), '--server', 'http://127.0.0.1:9']);
    expect(unreachable.code).toBe(EXIT.unreachable);
    expect(unreachable.stderr).toContain('cannot reach clipyard');

    let interrupted = false;
    const canceled = await clipyard([mediaUrl('slow/clip.mp4'), '--server', baseUrl()], {
      cwd: tempDir(),
      onStdout: (text, interrupt) => {
        if (!interrupted && /downloading/.test(text)) {
          interrupted = true;
          interrupt();
        }
      },
    });
    expect(interrupted).toBe(true);
    expect(canceled.code).toBe(EXIT.canceled);
    expect(canceled.stderr).toMatch(/task \w+ canceled/);

    const missing = await clipyard(['no-such-file.mp4', '--server', baseUrl()]);
    expect(missing.code).toBe(EXIT.io);
  });

  it('--transcript srt on a local recording saves subtitles of what was said', async () => {
    const dir = tempDir();
    const speech = path.join(dir, 'hello.wav');
    execFileSync('espeak-ng', [
      '-v',
      'en-us',
      '-s',
      '130',
      '-w',
      speech,
      'hello world. this is a test of the clipyard transcription',
    ]);
    const r = await clipyard([speech, '--transcript', 'srt', '--server', baseUrl()], { cwd: dir });
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const srt = readFileSync(path.join(dir, 'hello.srt'), 'utf8');
    expect(srt).toMatch(/^1\r?\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}/);
    expect(srt.toLowerCase()).toMatch(/hello|world|test/);
  });

  it('a recording with no speech: the empty .srt is reported as such, not as a bare "0 B"', async () => {
    const dir = tempDir();
    const silence = path.join(dir, 'quiet.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '3', silence]);
    const r = await clipyard([silence, '--transcript', 'srt', '--server', baseUrl()], { cwd: dir });
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(readFileSync(path.join(dir, 'quiet.srt'), 'utf8')).toBe('');
    expect(r.stdout).toMatch(/saved quiet\.srt \(0 B, empty: no speech was recognized\)/);
  });

  it('sizes are spelled as on the page: kB, MB', async () => {
    const cwd = tempDir();
    const r = await clipyard([mediaUrl('clip.mp4'), '--audio', 'mp3', '--server', baseUrl()], { cwd });
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/saved clip\.mp3 \(\d+(\.\d)? (kB|MB)\)/);
    expect(r.stdout).not.toMatch(/\bKB\b/);
  });
});
