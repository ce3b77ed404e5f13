/**
 * The CLI's pure parts: the command line, the steps each preset asks for, the file names it saves
 * under, and what the progress display prints on a terminal and in a pipe.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVER, parseArgs, stepsFor } from '../../src/cli/args.ts';
import { stemFor } from '../../src/cli/main.ts';
import { barLine, formatBytes, formatDuration, formatSpeed, ProgressView } from '../../src/cli/progress.ts';
import { applyEvent, progressOf, type TaskProgress } from '../../src/client/task-state.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';

const run = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseArgs(argv, env);
  if (r.kind !== 'run') throw new Error(`expected options, got ${JSON.stringify(r)}`);
  return r.options;
};

describe('command line', () => {
  it('takes a source and presets with optional values', () => {
    const o = run(['https://x.test/a.mp4', '--audio', '--video', '480p', '--transcript', 'vtt', '--thumbnail']);
    expect(o.source).toBe('https://x.test/a.mp4');
    expect(stepsFor(o.presets)).toEqual([
      { op: 'thumbnail', format: 'jpg' },
      { op: 'transcode', format: 'mp4', height: 480 },
      { op: 'audio', format: 'mp3' },
      { op: 'transcribe', formats: ['vtt'] },
    ]);
    expect(stepsFor(run(['f.mp4', '--audio=flac']).presets)).toEqual([{ op: 'audio', format: 'flac' }]);
    expect(stepsFor(run(['f.mp4']).presets)).toEqual([{ op: 'audio', format: 'mp3' }]);
  });

  it('does not swallow the source as a preset value', () => {
    const o = run(['--audio', 'song.mp4']);
    expect(o.source).toBe('song.mp4');
    expect(o.presets).toEqual([{ kind: 'audio', format: 'mp3' }]);
  });

  it('server and key: flag, then environment, then the local default', () => {
    expect(run(['a.mp4']).server).toBe(DEFAULT_SERVER);
    expect(run(['a.mp4'], { CLIPYARD_URL: 'https://c.test' }).server).toBe('https://c.test');
    const o = run(['a.mp4', '--server', 'http://h:1', '--key', 'k1'], {
      CLIPYARD_URL: 'https://c.test',
      CLIPYARD_API_KEY: 'k0',
    });
    expect([o.server, o.apiKey]).toEqual(['http://h:1', 'k1']);
    expect(run(['a.mp4'], { CLIPYARD_API_KEY: 'k0' }).apiKey).toBe('k0');
  });

  it('reports usage errors with a message', () => {
    for (const argv of [
      [],
      ['a.mp4', 'b.mp4'],
      ['a.mp4', '--video', '999p'],
      ['a.mp4', '--bogus'],
      ['a.mp4', '-o'],
      ['a.mp4', '--steps', 'not json'],
      ['a.mp4', '--steps', '[{"op":"audio"}]', '--audio'],
      ['a.mp4', '--server', 'ftp://x'],
    ]) {
      const r = parseArgs(argv, {});
      expect(r.kind, argv.join(' ')).toBe('error');
    }
    expect(parseArgs(['--help'], {}).kind).toBe('help');
  });

  it('names saved files after the input', () => {
    expect(stemFor('/tmp/My Clip.mov', true, 'abcdefghij')).toBe('My Clip');
    expect(stemFor('https://x.test/v/talk%20one.mp4?x=1', false, 'abcdefghij')).toBe('talk one');
    expect(stemFor('https://www.youtube.com/watch?v=abc', false, 'abcdefghij')).toBe('clipyard-abcdefgh');
    expect(stemFor('https://x.test/..%2f..%2fetc.mp4', false, 'abcdefghij')).not.toContain('/');
  });
});

function snapshot(over: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return {
    id: 't1',
    status: 'running',
    stage: 'downloading',
    progress: 0,
    message: '',
    attempt: 1,
    maxAttempts: 4,
    nextRetryAt: null,
    input: { url: 'https://x.test/a.mp4' },
    label: null,
    steps: [{ index: 0, op: 'audio', params: {}, status: 'running', progress: 0, outputs: [] }],
    outputs: [],
    error: null,
    seq: 3,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

describe('progress display', () => {
  it('formats sizes, durations and both kinds of speed', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 kB');
    expect(formatBytes(5 * 1024 ** 2)).toBe('5.0 MB');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatSpeed({ bytesPerSecond: 2 * 1024 ** 2 })).toBe('2.0 MB/s');
    expect(formatSpeed({ realtime: 2.44 })).toBe('2.4x');
    expect(formatSpeed({})).toBe('');
  });

  it('a terminal line shows the bar, percent, stage, speed and ETA within the width', () => {
    const p: TaskProgress = { ...progressOf(snapshot({ progress: 50, stage: 'transcoding' })), realtime: 3, eta: 12 };
    const line = barLine('clip.mp4', p, undefined, 100);
    expect(line).toMatch(/^clip\.mp4 ▕█+░+▏ {2}50% transcoding · 3\.0x · ETA 0:12$/);
    expect(barLine('clip.mp4', p, undefined, 40).length).toBeLessThanOrEqual(40);
  });

  it('folds events into the state, ignoring ones it already has', () => {
    let s = snapshot();
    s = applyEvent(s, {
      seq: 2,
      at: 1,
      kind: 'progress',
      step: 0,
      stage: 'extracting',
      progress: 90,
      stepProgress: 90,
      message: '',
    });
    expect(s.progress).toBe(0);
    s = applyEvent(s, {
      seq: 4,
      at: 2,
      kind: 'progress',
      step: 0,
      stage: 'extracting',
      progress: 40,
      stepProgress: 40,
      message: 'x',
    });
    s = applyEvent(s, {
      seq: 5,
      at: 3,
      kind: 'output',
      step: 0,
      output: { name: 'audio.mp3', step: 0, size: 9, contentType: 'audio/mpeg' },
    });
    s = applyEvent(s, { seq: 6, at: 4, kind: 'status', status: 'succeeded', message: 'done', attempt: 1 });
    expect([s.seq, s.status, s.progress, s.stage]).toEqual([6, 'succeeded', 100, null]);
    expect(s.outputs.map((o) => o.name)).toEqual(['audio.mp3']);
    expect(s.steps[0]!.outputs).toEqual(['audio.mp3']);
  });

  it('in a pipe, prints a line only when something changed', () => {
    const lines: string[] = [];
    const view = new ProgressView({ write: (t) => lines.push(t), tty: false, label: 'x', now: () => 0 });
    for (const progress of [0, 1, 2, 3, 12, 13, 25]) view.update(progressOf(snapshot({ progress })));
    view.update(progressOf(snapshot({ progress: 30, stage: 'extracting' })));
    view.update(progressOf(snapshot({ progress: 100, status: 'succeeded' })));
    view.finish();
    expect(lines).toEqual([
      '[  0%] downloading\n',
      '[ 12%] downloading\n',
      '[ 25%] downloading\n',
      '[ 30%] extracting\n',
      '[100%] succeeded\n',
    ]);
  });
});
