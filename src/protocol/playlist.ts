/**
 * Playlists and channels: the `playlist` form of POST /api/batches, and the runner's listing of one
 * (POST /playlists on the runner, yt-dlp --flat-playlist behind the SSRF-filtering egress proxy).
 */
import { z } from 'zod';
import { MAX_BATCH_TASKS } from './batch.ts';

export const playlistSchema = z.strictObject({
  url: z.string().min(1).max(4096),
  /** entries turned into tasks, from the top (default PLAYLIST_DEFAULT_LIMIT, 50) */
  limit: z.number().int().min(1).max(MAX_BATCH_TASKS).optional(),
  /** yt-dlp's --playlist-items selection, e.g. "1-3,7" */
  items: z
    .string()
    .max(200)
    .regex(/^[0-9]+(?:[-:][0-9]*)?(?:,[0-9]+(?:[-:][0-9]*)?)*$/, 'items is like "1-3,7"')
    .optional(),
});
export type PlaylistRequest = z.infer<typeof playlistSchema>;

export interface PlaylistEntry {
  /** 1-based position in the playlist */
  index: number;
  url: string;
  title: string | null;
}

/** What the runner answers for POST /playlists. */
export interface PlaylistListing {
  title: string | null;
  /** false when the URL is a single video (its one entry is the video itself) */
  isPlaylist: boolean;
  entries: PlaylistEntry[];
}
