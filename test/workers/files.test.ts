/**
 * Signed downloads inside workerd: valid, tampered, expired, re-targeted and rotated links; Range;
 * safe headers.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { signLink } from '../../src/lib/links.ts';
import type { TaskStore } from '../../src/objects/task-store.ts';
import { call, createTask } from './helpers.ts';

const BYTES = new Uint8Array(Array.from({ length: 1000 }, (_, i) => i % 251));

async function putFile(name: string, contentType = 'audio/mpeg'): Promise<string> {
  const key = `tasks/${crypto.randomUUID()}/${name}`;
  await env.BUCKET.put(key, BYTES, { httpMetadata: { contentType } });
  return key;
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe('GET /files/<key>', () => {
  it('serves a validly signed link with type, length, etag and a safe filename', async () => {
    const key = await putFile('audio.mp3');
    const { path } = await signLink(env.LINK_SECRET, key, 60);
    const res = await call(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/mpeg');
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('etag')).toBeTruthy();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="audio.mp3"; filename*=UTF-8''audio.mp3`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(BYTES);
  });

  it('answers Range requests with 206 and the exact bytes, and 416 outside the file', async () => {
    const key = await putFile('audio.mp3');
    const { path } = await signLink(env.LINK_SECRET, key, 60);
    const mid = await call(path, { headers: { range: 'bytes=100-199' } });
    expect(mid.status).toBe(206);
    expect(mid.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(new Uint8Array(await mid.arrayBuffer())).toEqual(BYTES.slice(100, 200));
    const tail = await call(path, { headers: { range: 'bytes=-10' } });
    expect(tail.status).toBe(206);
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(BYTES.slice(990));
    const open = await call(path, { headers: { range: 'bytes=900-' } });
    expect(open.headers.get('content-range')).toBe('bytes 900-999/1000');
    await open.arrayBuffer();
    const outside = await call(path, { headers: { range: 'bytes=5000-6000' } });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe('bytes */1000');
  });

  it('refuses tampered, expired, re-targeted and unsigned links with 403', async () => {
    const key = await putFile('audio.mp3');
    const { path } = await signLink(env.LINK_SECRET, key, 60);
    const url = new URL(path, 'http://x');
    const sig = url.searchParams.get('sig')!;
    const flipped = `${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`;
    const tampered = await call(path.replace(sig, flipped));
    expect(tampered.status).toBe(403);
    expect(await codeOf(tampered)).toBe('link.invalid');

    const laterExp = await call(path.replace(/exp=(\d+)/, (_m, e: string) => `exp=${Number(e) + 1000}`));
    expect(await codeOf(laterExp)).toBe('link.invalid');

    const other = await putFile('other.mp3');
    const retargeted = await call(
      path.replace(encodeURIComponent(key.split('/')[1]!), other.split('/')[1]!).replace('audio.mp3', 'other.mp3'),
    );
    expect(retargeted.status).toBe(403);

    const expired = await signLink(env.LINK_SECRET, key, 1, Date.now() - 60_000);
    const exp = await call(expired.path);
    expect(exp.status).toBe(403);
    expect(await codeOf(exp)).toBe('link.expired');

    const forgedExpired = await signLink('not-the-secret', key, 1, Date.now() - 60_000);
    expect(await codeOf(await call(forgedExpired.path))).toBe('link.invalid');

    expect((await call(`/files/${key}`)).status).toBe(403);
  });

  it("names its refusals to a player on another site: a 403 or 404 carries the file's CORS headers", async () => {
    const key = await putFile('audio.mp3');
    const expired = await signLink(env.LINK_SECRET, key, 1, Date.now() - 60_000);
    const exp = await call(expired.path, { headers: { origin: 'https://player.example' } });
    expect(exp.status).toBe(403);
    expect(exp.headers.get('access-control-allow-origin')).toBe('*');
    expect(await codeOf(exp)).toBe('link.expired');
    const gone = await signLink(env.LINK_SECRET, `tasks/${crypto.randomUUID()}/gone.mp3`, 60);
    const missing = await call(gone.path, { headers: { origin: 'https://player.example' } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');
    expect(await codeOf(missing)).toBe('output.not_found');
    // the API's own errors are not opened up by this
    const api = await call('/api/tasks/nope', { headers: { origin: 'https://player.example' } });
    expect(api.headers.get('access-control-allow-origin')).not.toBe('*');
  });

  it('accepts links signed with the previous secret during rotation', async () => {
    const key = await putFile('audio.mp3');
    const { path } = await signLink(env.LINK_SECRET_PREVIOUS!, key, 60);
    expect((await call(path)).status).toBe(200);
  });

  it('never names an unsafe content type and sanitizes the filename', async () => {
    const key = await putFile('evil"\r\nSet-Cookie: a=b.html', 'text/html');
    const { path } = await signLink(env.LINK_SECRET, key, 60);
    const res = await call(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('content-disposition')).not.toMatch(/[\r\n]/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="evilSet-Cookie a=b.html"/);
    await res.arrayBuffer();
  });

  it('a deleted file answers 404 even with a valid link', async () => {
    const key = await putFile('gone.mp3');
    const { path } = await signLink(env.LINK_SECRET, key, 60);
    await env.BUCKET.delete(key);
    const res = await call(path);
    expect(res.status).toBe(404);
  });
});

describe('POST /api/uploads', () => {
  it('stores the body and refuses oversize or length-less uploads', async () => {
    const ok = await call('/api/uploads?filename=a.mp4', { method: 'POST', body: BYTES });
    expect(ok.status).toBe(201);
    const { id, size } = (await ok.json()) as { id: string; size: number };
    expect(size).toBe(1000);
    const stored = await env.BUCKET.get(`uploads/local/${id}`);
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(BYTES);
    const big = await call('/api/uploads', {
      method: 'POST',
      headers: { 'content-length': String(10 ** 10) },
      body: BYTES,
    });
    expect(big.status).toBe(413);
    expect(await codeOf(big)).toBe('upload.too_large');
  });
});

describe('output links with R2 credentials configured', () => {
  it('the output route redirects to a presigned R2 URL for the object, instead of a /files link', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'audio' }] });
    const stub = env.TASKS.getByName(json.id);
    const r2 = { R2_ACCOUNT_ID: 'acct0123', R2_BUCKET_NAME: 'clipyard-media' };
    const secrets = { R2_ACCESS_KEY_ID: 'key-id', R2_SECRET_ACCESS_KEY: 'key-secret' };
    const key = `tasks/${json.id}/audio.mp3`;
    await runInDurableObject(stub, (instance) => {
      // this instance alone sees the credentials (the test pool shares one env for every test)
      const object = instance as unknown as { env: Env; store: TaskStore };
      object.env = { ...env, ...r2, ...secrets };
      const now = Date.now();
      object.store.addOutput({
        name: 'audio.mp3',
        step: 0,
        key,
        size: 1000,
        contentType: 'audio/mpeg',
        createdAt: now,
        expiresAt: now + 60_000,
      });
    });
    const res = await call(`/api/tasks/${json.id}/outputs/audio.mp3`);
    expect(res.status).toBe(302);
    const url = new URL(res.headers.get('location')!);
    expect(url.origin).toBe('https://acct0123.r2.cloudflarestorage.com');
    expect(url.pathname).toBe(`/clipyard-media/${key}`);
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^key-id\/\d{8}\/auto\/s3\/aws4_request$/);
    expect(url.searchParams.get('X-Amz-Expires')).toBe(env.LINK_TTL_SECONDS);
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(url.searchParams.get('response-content-disposition')).toContain('filename="audio.mp3"');
    // the snapshot's link is the same kind
    const snap = (await (await call(`/api/tasks/${json.id}`)).json()) as { outputs: { url: string }[] };
    expect(new URL(snap.outputs[0]!.url).host).toBe('acct0123.r2.cloudflarestorage.com');
  });
});
