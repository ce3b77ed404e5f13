/**
 * The presets the form offers, as step lists for POST /api/tasks. The advanced panel shows the same
 * list as editable JSON, so a preset is only a starting point.
 *
 * Transcript needs the `transcribe` op, which not every server has: the page asks the server once
 * (a dry validation request) and hides the preset when the op is unknown there.
 */
export type PresetId = 'audio' | 'video' | 'thumbnail' | 'transcript' | 'info';

export interface PresetOptions {
  /** every format the audio op has */
  audioFormat: 'mp3' | 'm4a' | 'opus' | 'wav' | 'flac';
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
    hint: 'the sound track as mp3, m4a, opus, wav or flac',
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

/** The ops named in the API's OpenAPI document (each step variant's `op` const), or null without one. */
async function documentedOps(): Promise<Set<string> | null> {
  try {
    const res = await fetch('/api/openapi.json');
    if (!res.ok) return null;
    const doc = (await res.json()) as { components?: { schemas?: Record<string, unknown> } };
    const ops = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const n of node) walk(n);
        return;
      }
      if (!node || typeof node !== 'object') return;
      const op = (node as { properties?: { op?: { const?: unknown; enum?: unknown[] } } }).properties?.op;
      if (typeof op?.const === 'string') ops.add(op.const);
      for (const v of op?.enum ?? []) if (typeof v === 'string') ops.add(v);
      for (const v of Object.values(node)) walk(v);
    };
    walk(doc.components?.schemas?.Step ?? doc);
    return ops.size > 0 ? ops : null;
  } catch {
    return null;
  }
}

/**
 * Does the server know `op`? Read from /api/openapi.json; without it, a request whose URL is junk
 * but whose step names the op answers step.unknown_op exactly when the op is unknown (steps are
 * checked before the URL, so nothing is ever created).
 */
export async function serverKnowsOp(op: string, headers: Record<string, string>): Promise<boolean> {
  const ops = await documentedOps();
  if (ops) return ops.has(op);
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
