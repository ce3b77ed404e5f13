/**
 * A finished task's files: a preview that fits the file (player, image, transcript or media info),
 * a download button with the size, and a copy-link button for the signed link.
 */
import type { OutputInfo } from '../../src/protocol/task.ts';
import { h } from './dom.ts';
import { formatBytes, formatDuration } from './format.ts';
import { hlsPlayer, isStream, streamParts, streamPartsList } from './hls-player.ts';

function kindOf(o: OutputInfo): 'audio' | 'video' | 'image' | 'json' | 'text' | 'other' {
  const type = o.contentType.split(';')[0]!.trim();
  if (type.startsWith('audio/')) return 'audio';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('image/')) return 'image';
  if (type === 'application/json') return 'json';
  if (type.startsWith('text/') || /\.(srt|vtt|txt)$/i.test(o.name)) return 'text';
  return 'other';
}

/** When a signed link stops working, from its `exp` parameter. */
function expiresAt(url: string): Date | null {
  try {
    const exp = Number(new URL(url, location.href).searchParams.get('exp'));
    return exp > 0 ? new Date(exp * 1000) : null;
  } catch {
    return null;
  }
}

interface ProbeJson {
  format?: { duration?: string; format_long_name?: string; format_name?: string; bit_rate?: string };
  streams?: { codec_type?: string; codec_name?: string; width?: number; height?: number; sample_rate?: string }[];
}

function describeProbe(p: ProbeJson): string {
  const lines: string[] = [];
  const f = p.format ?? {};
  const dur = formatDuration(Number(f.duration));
  lines.push([f.format_long_name ?? f.format_name, dur].filter(Boolean).join(', '));
  for (const s of p.streams ?? []) {
    const size = s.width && s.height ? ` ${s.width}×${s.height}` : '';
    const rate = s.sample_rate ? ` ${s.sample_rate} Hz` : '';
    lines.push(`${s.codec_type ?? 'stream'}: ${s.codec_name ?? '?'}${size}${rate}`);
  }
  return lines.join('\n');
}

function textPreview(url: string, json: boolean): HTMLElement {
  const pre = h('pre', { class: 'preview-text', tabindex: 0, text: 'loading…' });
  fetch(url)
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`answered ${r.status}`))))
    .then((text) => {
      if (json) {
        try {
          const value = JSON.parse(text) as ProbeJson;
          // ffprobe's output reads better as a summary; any other JSON (a transcript) as itself.
          pre.textContent = value.format || value.streams ? describeProbe(value) : JSON.stringify(value, null, 2);
          return;
        } catch {
          /* show it raw */
        }
      }
      pre.textContent = text.length > 20_000 ? `${text.slice(0, 20_000)}\n…` : text;
    })
    .catch((err: unknown) => {
      pre.textContent = `could not load the preview (${String(err)})`;
    });
  return pre;
}

function preview(o: OutputInfo, url: string): HTMLElement | null {
  if (isStream(o)) return hlsPlayer(url, o.name);
  switch (kindOf(o)) {
    case 'audio':
      // metadata: the player shows the length before it is played, not 0:00 / 0:00
      return h('audio', { controls: true, preload: 'metadata', src: url, 'aria-label': `play ${o.name}` });
    case 'video':
      return h('video', { controls: true, preload: 'metadata', src: url, 'aria-label': `play ${o.name}` });
    case 'image':
      return h('img', { src: url, alt: `${o.name} preview` });
    case 'json':
      return textPreview(url, true);
    case 'text':
      return textPreview(url, false);
    default:
      return null;
  }
}

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** The outputs block; `linkFor` names the signed link for an output (the snapshot's url). */
export function renderOutputs(outputs: readonly OutputInfo[]): HTMLElement {
  const list = h('ul', { class: 'outputs' });
  const parts = streamParts(outputs);
  for (const o of outputs) {
    if (parts.includes(o)) continue;
    const url = o.url;
    const item = h('li', { class: 'output', 'data-name': o.name });
    if (!url) {
      item.append(h('span', { class: 'output-name', text: `${o.name} · ${formatBytes(o.size)}` }));
      list.append(item);
      continue;
    }
    const p = preview(o, url);
    if (p) item.append(h('div', { class: 'preview' }, p));
    const status = h('span', { class: 'copy-status', role: 'status' });
    const copyBtn = h('button', { type: 'button', class: 'ghost', text: 'Copy link' });
    copyBtn.addEventListener('click', async () => {
      const absolute = new URL(url, location.href).href;
      const exp = expiresAt(url);
      const until = exp ? ` (works until ${exp.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })})` : '';
      status.textContent = (await copy(absolute)) ? `copied${until}` : absolute;
    });
    item.append(
      h(
        'div',
        { class: 'output-row' },
        h('span', { class: 'output-name', text: o.name }),
        h('span', { class: 'output-size', text: formatBytes(o.size) }),
        h('a', { class: 'button', href: url, download: o.name, text: `Download ${formatBytes(o.size)}` }),
        copyBtn,
        status,
      ),
    );
    if (isStream(o) && parts.length > 0) item.append(streamPartsList(parts));
    list.append(item);
  }
  return list;
}
