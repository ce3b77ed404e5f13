/**
 * Download links for a task's outputs: S3-presigned straight to R2 when R2 credentials are configured,
 * else the Worker's own HMAC-signed /files link (always for HLS playlists, which the Worker rewrites). Used by TaskObject for snapshots and redirects.
 */
import { signLink } from '../lib/links.ts';
import { presignR2Get } from '../lib/r2-presign.ts';
import { linkSecrets, r2Credentials, taskConfig } from './config.ts';
import type { OutputRow } from './task-store.ts';

/** A link for one output; null when neither R2 credentials nor a link secret is configured. */
export async function signOutput(
  env: Env,
  o: Pick<OutputRow, 'key' | 'name' | 'contentType'>,
  origin: string,
): Promise<string | null> {
  const ttl = taskConfig(env).linkTtlSeconds;
  const r2 = r2Credentials(env);
  // A playlist goes through the Worker even then: its URIs must be rewritten to signed links.
  if (r2 && !o.name.endsWith('.m3u8')) {
    return presignR2Get(r2, o.key, ttl, { filename: o.name, contentType: o.contentType });
  }
  const secret = linkSecrets(env)[0];
  if (!secret) return null;
  const { path } = await signLink(secret, o.key, ttl);
  return `${origin}${path}`;
}

/** Links for every output, by name. */
export async function outputUrls(
  env: Env,
  outputs: readonly OutputRow[],
  origin: string,
): Promise<Record<string, string>> {
  const urls: Record<string, string> = {};
  for (const o of outputs) {
    const url = await signOutput(env, o, origin);
    if (url) urls[o.name] = url;
  }
  return urls;
}
