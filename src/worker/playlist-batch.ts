/**
 * The playlist form of POST /api/batches: `{"playlist": {"url", "limit"?, "items"?}, "steps": [...]}`.
 * The runner lists the entries (yt-dlp --flat-playlist behind its SSRF-filtering egress proxy, see
 * containers/ffmpeg/src/playlist-route.ts); each entry becomes an ordinary task body with those
 * steps and the entry's title as its label (the archive's folder name); the batch's label is the
 * playlist's title unless the request gives one.
 */
import { checkUrl } from '../lib/url-safety.ts';
import { allowHosts, playlistDefaultLimit } from '../objects/config.ts';
import { runnerFor } from '../objects/runner.ts';
import { ClipyardError, type ErrorBody, isErrorCode } from '../protocol/errors.ts';
import { type PlaylistListing, playlistSchema } from '../protocol/playlist.ts';
import { validate } from './validate.ts';

/** Listing a long channel can take a while; past this the request fails (retryable). */
const LIST_TIMEOUT_MS = 90_000;

/** The task bodies (not yet validated) and label a playlist request stands for. */
export async function expandPlaylist(
  env: Env,
  envelope: {
    playlist?: unknown;
    steps?: unknown[] | undefined;
    tasks?: unknown[] | undefined;
    label?: string | undefined;
  },
): Promise<{ tasks: unknown[]; label: string | null }> {
  if (envelope.tasks !== undefined) {
    throw new ClipyardError('request.invalid', 'give either tasks or playlist (with steps), not both', { status: 400 });
  }
  if (!envelope.steps || envelope.steps.length === 0) {
    throw new ClipyardError('request.invalid', 'steps: a playlist batch needs the steps to run on every entry', {
      status: 400,
    });
  }
  let playlist: ReturnType<typeof playlistSchema.parse>;
  try {
    playlist = validate(playlistSchema, envelope.playlist);
  } catch (err) {
    if (err instanceof ClipyardError) {
      const m = err.message;
      throw new ClipyardError(err.code, m.startsWith('body') ? `playlist${m.slice(4)}` : `playlist.${m}`, {
        status: 400,
      });
    }
    throw err;
  }
  const check = checkUrl(playlist.url, allowHosts(env));
  if (!check.ok) throw new ClipyardError(check.code, `playlist.url: ${check.message}`, { status: 400 });
  const limit = playlist.limit ?? playlistDefaultLimit(env);
  const res = await runnerFor(env, 'playlists').fetch('/playlists', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: check.url.href, limit, ...(playlist.items ? { items: playlist.items } : {}) }),
    signal: AbortSignal.timeout(LIST_TIMEOUT_MS),
  });
  const body = (await res.json().catch(() => null)) as (PlaylistListing & { error?: ErrorBody }) | null;
  if (!res.ok || !body || body.error) {
    const e = body?.error;
    const code = e && isErrorCode(e.code) ? e.code : 'playlist.unreadable';
    throw new ClipyardError(code, `playlist.url: ${e?.message ?? `the runner answered ${res.status}`}`, {
      status: res.status >= 500 ? 502 : 422,
      retryable: e?.retryable ?? res.status >= 500,
    });
  }
  if (body.entries.length === 0) {
    throw new ClipyardError('playlist.empty', 'playlist.url: the playlist has no entries clipyard can fetch', {
      status: 422,
    });
  }
  const tasks = body.entries.map((e) => ({
    input: { url: e.url },
    steps: envelope.steps,
    ...(e.title ? { label: e.title.slice(0, 200) } : {}),
  }));
  return { tasks, label: envelope.label ?? body.title?.slice(0, 200) ?? null };
}
