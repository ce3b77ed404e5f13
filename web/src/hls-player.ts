/**
 * Inline playback of an HLS output (the master playlist's signed link) with hls.js, and a rendition
 * picker: "Auto" lets hls.js adapt to the connection, a height pins that rendition. Browsers with
 * Media Source Extensions get hls.js (loaded on first use, in its own chunk, so the page stays small);
 * any other browser that plays HLS natively gets the plain link.
 *
 * The element reports what it is doing in data attributes (`data-state`, `data-level` = the height
 * now playing, `data-error`) for people with dev tools and for the browser tests. Used by outputs.ts.
 */
import type { OutputInfo } from '../../src/protocol/task.ts';
import { h, setAttr, setText } from './dom.ts';
import { formatBytes } from './format.ts';

const AUTO = 'auto';
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
/** The files of one rendition, as the hls op names them (a later step's copy gets a step prefix). */
const PART = /^(step\d+-)?hls-\d+p\.(m3u8|mp4)$/;

/** Is this output a stream a player opens (a master playlist, not one rendition's)? */
export function isStream(o: OutputInfo): boolean {
  return o.contentType.startsWith(PLAYLIST_TYPE) && !PART.test(o.name);
}

/** The outputs that are parts of a stream in this list (shown folded under it, not one by one). */
export function streamParts(outputs: readonly OutputInfo[]): OutputInfo[] {
  if (!outputs.some(isStream)) return [];
  return outputs.filter((o) => PART.test(o.name));
}

/** A folded list of a stream's rendition files, each downloadable on its own. */
export function streamPartsList(parts: readonly OutputInfo[]): HTMLElement {
  const total = parts.reduce((a, o) => a + o.size, 0);
  const list = h('ul', {});
  for (const o of parts) {
    list.append(
      h(
        'li',
        {},
        o.url ? h('a', { href: o.url, download: o.name, text: o.name }) : o.name,
        ` · ${formatBytes(o.size)}`,
      ),
    );
  }
  return h(
    'details',
    { class: 'stream-parts' },
    h('summary', { text: `${parts.length} rendition files · ${formatBytes(total)}` }),
    list,
  );
}

export function hlsPlayer(url: string, name: string): HTMLElement {
  const video = h('video', { controls: true, muted: true, playsinline: true, 'aria-label': `play ${name}` });
  video.muted = true;
  const picker = h('select', { class: 'rendition-picker', 'aria-label': 'quality', disabled: true });
  picker.append(h('option', { value: AUTO, text: 'Auto' }));
  const status = h('span', { class: 'player-status', role: 'status', text: 'loading the stream…' });
  const box = h(
    'div',
    { class: 'hls-player', 'data-state': 'loading' },
    video,
    h('div', { class: 'player-controls' }, h('label', {}, 'Quality ', picker), status),
  );
  void start(box, video, picker, status, url);
  return box;
}

async function start(
  box: HTMLElement,
  video: HTMLVideoElement,
  picker: HTMLSelectElement,
  status: HTMLElement,
  url: string,
): Promise<void> {
  const fail = (message: string) => {
    setAttr(box, 'data-state', 'error');
    setAttr(box, 'data-error', message);
    setText(status, `cannot play: ${message}`);
  };
  let Hls: typeof import('hls.js/light').default;
  try {
    Hls = (await import('hls.js/light')).default;
  } catch (err) {
    fail(`the player did not load (${String(err)})`);
    return;
  }
  if (!Hls.isSupported()) {
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url;
      setAttr(box, 'data-state', 'native');
      setText(status, 'playing with the browser’s own HLS support');
    } else fail('this browser plays neither HLS nor Media Source Extensions');
    return;
  }
  const hls = new Hls({ capLevelToPlayerSize: false });
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
    // hls.js orders levels by bit rate, lowest first; the picker lists the best first.
    const byHeight = [...data.levels.entries()].sort(([, a], [, b]) => b.height - a.height);
    for (const [i, level] of byHeight) picker.append(h('option', { value: String(i), text: `${level.height}p` }));
    picker.disabled = false;
    setAttr(box, 'data-state', 'ready');
    setText(status, `${data.levels.length} renditions`);
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
    const level = hls.levels[data.level];
    if (!level) return;
    setAttr(box, 'data-level', String(level.height));
    setText(status, `playing ${level.height}p${hls.autoLevelEnabled ? ' (auto)' : ''}`);
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (data.fatal) {
      fail(`${data.type}: ${data.details}`);
      hls.destroy();
    }
  });
  picker.addEventListener('change', () => {
    // nextLevel switches at the next segment without flushing what is already buffered.
    hls.nextLevel = picker.value === AUTO ? -1 : Number(picker.value);
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  // The card may be re-rendered (a refresh): stop loading once the player leaves the page.
  let shown = box.isConnected;
  const watch = new MutationObserver(() => {
    if (box.isConnected) shown = true;
    else if (shown) {
      hls.destroy();
      watch.disconnect();
    }
  });
  watch.observe(document.body, { childList: true, subtree: true });
}
