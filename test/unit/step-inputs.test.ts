/**
 * What each pipeline step reads (src/objects/step-inputs.ts): the previous real step's output, a named
 * earlier output, the task's own input, and a render's slides and subtitles as extra inputs.
 */
import { describe, expect, it } from 'vitest';
import { extraInputs, mainInput } from '../../src/objects/step-inputs.ts';
import type { OutputRow, StepRow, TaskRow } from '../../src/objects/task-store.ts';
import { type Step, stepSchema } from '../../src/protocol/ops.ts';

const task = (input: TaskRow['input'], inputKey: string | null = null) =>
  ({ id: 'task1', tenant: 'local', input, inputKey }) as TaskRow;
const steps = (...raw: object[]): StepRow[] =>
  raw.map((r, index) => {
    const params = stepSchema.parse(r) as Step;
    return { index, op: params.op, params, status: 'pending', progress: 0 };
  });
const out = (name: string, step: number): OutputRow => ({
  name,
  step,
  key: `tasks/task1/${name}`,
  size: 1,
  contentType: 'x',
  createdAt: 0,
  expiresAt: 0,
});

describe('a step reads', () => {
  const pipeline = steps(
    { op: 'download' },
    { op: 'audio' },
    { op: 'transcribe' },
    { op: 'thumbnail' },
    { op: 'clip', start: 1, input: 'download.mp4' },
  );
  const outputs = [out('download.mp4', 0), out('audio.mp3', 1), out('transcript.srt', 2), out('thumbnail.jpg', 3)];

  it('the task input first, then the previous step that changed the media', () => {
    expect(mainInput(task({ url: 'https://x/a.mp4' }), pipeline, outputs, 0)).toEqual({
      kind: 'url',
      url: 'https://x/a.mp4',
    });
    expect(mainInput(task({ url: 'https://x/a.mp4' }), pipeline, outputs, 1)).toMatchObject({
      key: 'tasks/task1/download.mp4',
    });
    // transcribe and thumbnail are side products: what follows them reads the audio
    expect(mainInput(task({ url: 'u' }), pipeline, outputs, 3)).toMatchObject({ key: 'tasks/task1/audio.mp3' });
    expect(mainInput(task({ upload: 'abc' }, 'uploads/local/abc'), pipeline, [], 0)).toEqual({
      kind: 'r2',
      key: 'uploads/local/abc',
      filename: 'upload.bin',
    });
  });

  it('a named earlier output when it says so, and refuses names no earlier step produced', () => {
    expect(mainInput(task({ url: 'u' }), pipeline, outputs, 4)).toEqual({
      kind: 'r2',
      key: 'tasks/task1/download.mp4',
      filename: 'download.mp4',
    });
    const bad = steps({ op: 'audio', input: 'audio.mp3' }, { op: 'clip', input: 'nope.mp3' });
    expect(() => mainInput(task({ url: 'u' }), bad, [out('audio.mp3', 0)], 1)).toThrow(
      /steps\[1\]\.input: no earlier step/,
    );
    // an output of the same or a later step is not "earlier"
    expect(() => mainInput(task({ url: 'u' }), bad, [out('audio.mp3', 0)], 0)).toThrow(/steps\[0\]\.input/);
  });

  it('a render: slides by URL or upload and subtitles from an earlier output, as named extra inputs', () => {
    const render = stepSchema.parse({
      op: 'render',
      images: [{ url: 'https://x/1.png' }, { upload: 'abcdefghijklmnopqrst' }],
      subtitles: { output: 'transcript.srt' },
    }) as Step;
    expect(extraInputs(task({ url: 'u' }), render, 3, outputs)).toEqual([
      { name: 'image-0', label: 'steps[3].images[0]', kind: 'url', url: 'https://x/1.png' },
      {
        name: 'image-1',
        label: 'steps[3].images[1]',
        kind: 'r2',
        key: 'uploads/local/abcdefghijklmnopqrst',
        filename: 'image-1.bin',
      },
      {
        name: 'subtitles',
        label: 'steps[3].subtitles',
        kind: 'r2',
        key: 'tasks/task1/transcript.srt',
        filename: 'transcript.srt',
      },
    ]);
    const badUpload = stepSchema.parse({ op: 'render', images: [{ upload: '../../other-tenant/x' }] }) as Step;
    expect(() => extraInputs(task({ url: 'u' }), badUpload, 0, [])).toThrow(/steps\[0\]\.images\[0\]: no upload/);
    expect(extraInputs(task({ url: 'u' }), stepSchema.parse({ op: 'audio' }) as Step, 0, [])).toEqual([]);
  });
});
