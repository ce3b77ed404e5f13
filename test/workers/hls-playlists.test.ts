/**
 * HLS playlists served through signed links inside workerd: every URI comes back as its own signed
 * link for a sibling file, each of which /files accepts; a playlist that names anything else (another
 * folder, another site) is refused rather than turned into links for it.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { playlistUris } from '../../src/lib/hls-playlist.ts';
import { signLink } from '../../src/lib/links.ts';
import type { TaskStore } from '../../src/objects/task-store.ts';
import { call, createTask } from './helpers.ts';

const MEDIA = `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-MAP:URI="hls-360p.mp4",BYTERANGE="4@0"
#EXTINF:2.0,
#EXT-X-BYTERANGE:6@4
hls-360p.mp4
#EXT-X-ENDLIST
`;

async function put(folder: string, name: string, body: string, contentType: string): Promise<string> {
  const key = `${folder}/${name}`;
  await env.BUCKET.put(key, body, { httpMetadata: { contentType } });
  return key;
}

describe('GET /files/<playlist>', () => {
  it('rewrites every URI to a signed link the Worker then serves', async () => {
    const folder = `tasks/${crypto.randomUUID()}`;
    const key = await put(folder, 'hls-360p.m3u8', MEDIA, 'application/vnd.apple.mpegurl');
    await put(folder, 'hls-360p.mp4', 'initsegment', 'video/mp4');
    const res = await call((await signLink(env.LINK_SECRET, key, 60)).path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    const text = new TextDecoder().decode(await res.arrayBuffer());
    const uris = playlistUris(text);
    expect(uris).toHaveLength(1);
    expect(uris[0]).toMatch(new RegExp(`^/files/${folder}/hls-360p\\.mp4\\?exp=\\d+&sig=`));
    const segment = await call(uris[0]!, { headers: { range: 'bytes=4-9' } });
    expect(segment.status).toBe(206);
    expect(new TextDecoder().decode(await segment.arrayBuffer())).toBe('segmen');
  });

  it('refuses a playlist that points outside its folder', async () => {
    const folder = `tasks/${crypto.randomUUID()}`;
    for (const uri of ['../other/secret.mp4', 'https://example.com/x.mp4', 'sub/dir.mp4']) {
      const key = await put(folder, 'bad.m3u8', `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n${uri}\n`, 'x');
      const res = await call((await signLink(env.LINK_SECRET, key, 60)).path);
      expect(res.status).toBe(500);
      const body = (await res.json()) as { error: { code: string } };
      expect(body.error.code).toBe('media.output_invalid');
    }
  });

  it('a playlist output links through the Worker even when outputs are presigned R2 URLs', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'hls' }] });
    const stub = env.TASKS.getByName(json.id);
    const creds = { R2_ACCOUNT_ID: 'acct0123', R2_ACCESS_KEY_ID: 'key-id', R2_SECRET_ACCESS_KEY: 'key-secret' };
    await runInDurableObject(stub, (instance) => {
      // this instance alone sees the credentials (the test pool shares one env for every test)
      const object = instance as unknown as { env: Env; store: TaskStore };
      object.env = { ...env, ...creds };
      const now = Date.now();
      for (const [name, contentType] of [
        ['hls.m3u8', 'application/vnd.apple.mpegurl'],
        ['hls-720p.mp4', 'video/mp4'],
      ] as const) {
        const key = `tasks/${json.id}/${name}`;
        object.store.addOutput({ name, step: 0, key, size: 10, contentType, createdAt: now, expiresAt: now + 60_000 });
      }
    });
    const master = await call(`/api/tasks/${json.id}/outputs/hls.m3u8`);
    expect(master.status).toBe(302);
    expect(new URL(master.headers.get('location')!).pathname).toBe(`/files/tasks/${json.id}/hls.m3u8`);
    const media = await call(`/api/tasks/${json.id}/outputs/hls-720p.mp4`);
    expect(new URL(media.headers.get('location')!).origin).toBe('https://acct0123.r2.cloudflarestorage.com');
  });
});
