/**
 * The presets the form offers, as step lists for POST /api/tasks. The advanced panel shows the same
 * list as editable JSON, so a preset is only a starting point.
 *
 * Transcript needs the `transcribe` op, which not every server has: the page asks the server once
 * (a dry validation request) and hides the preset when the op is unknown there.
 */
export type PresetId = 'audio' | 'video' | 'thumbnail' | 'transcript' | 'info';

export interface PresetOptions {
  audioFormat: 'mp3' | 'm4a';
  height: 360 | 480 | 720 | 1080;
}

export interface Preset {
  id: PresetId;
  label: string;
  hint: string;
  steps(o: PresetOptions): Record<string, unknown>[];
}

export const PRESETS: readonly Preset[] = [
  {
    id: 'audio',
    label: 'Audio',
    hint: 'the sound track as mp3 or m4a',
    steps: (o) => [{ op: 'audio', format: o.audioFormat }],
  },
  {
    id: 'video',
    label: 'Video',
    hint: 'an mp4 copy at 360p to 1080p',
    steps: (o) => [{ op: 'transcode', format: 'mp4', height: o.height }],
  },
  {
    id: 'thumbnail',
    label: 'Thumbnail',
    hint: 'a still frame as jpg',
    steps: () => [{ op: 'thumbnail', format: 'jpg', width: 640 }],
  },
  {
    id: 'transcript',
    label: 'Transcript',
    hint: 'speech to text',
    steps: () => [{ op: 'transcribe' }],
  },
  {
    id: 'info',
    label: 'Media info',
    hint: 'formats, streams, duration',
    steps: () => [{ op: 'probe' }],
  },
];

export const DEFAULT_OPTIONS: PresetOptions = { audioFormat: 'mp3', height: 480 };

/**
 * Does the server know `op`? A request whose URL is junk but whose step names the op answers
 * step.unknown_op when the op is unknown, and some other 400 when it is known (the steps are checked
 * before the URL): nothing is created either way.
 */
export async function serverKnowsOp(op: string, headers: Record<string, string>): Promise<boolean> {
  try {
    const res = await fetch('/api/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ input: { url: 'not a url' }, steps: [{ op }] }),
    });
    if (res.ok) return true;
    const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
    return body?.error?.code !== 'step.unknown_op';
  } catch {
    return true;
  }
}
