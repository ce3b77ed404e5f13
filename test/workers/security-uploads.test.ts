/**
 * Multipart uploads inside workerd: the whole path for large files, and the hostile variants (sizes
 * that lie, parts out of range or of the wrong length, forged or foreign tokens, missing parts), each
 * with its exact code and nothing stored. Prints the count tried and handled as designed.
 */
import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterAll, describe, expect, it } from 'vitest';
import { tenantOf } from '../../src/worker/auth.ts';
import worker from '../../src/worker/index.ts';
import { PART_SIZE_BYTES } from '../../src/worker/routes/uploads-multipart.ts';
import { ORIGIN } from './helpers.ts';

const KEYS = { one: 'key-one-5b1e9d3c7a', two: 'key-two-2c8f4a6e0b' } as const;

async function send(path: string, init: RequestInit = {}, as: keyof typeof KEYS = 'one'): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${KEYS[as]}`);
  const request = new Request(`${ORIGIN}${path}`, { ...init, headers });
  return worker.fetch(request, { ...env, API_KEYS: Object.values(KEYS).join(',') } as Env, createExecutionContext());
}

interface Started {
  id: string;
  token: string;
  parts: number;
  partSize: number;
}

async function start(size: number, as: keyof typeof KEYS = 'one'): Promise<Started> {
  const res = await send(`/api/uploads/multipart?filename=big.mp4&size=${size}`, { method: 'POST' }, as);
  expect(res.status).toBe(201);
  return (await res.json()) as Started;
}

function putPart(s: Started, n: number, bytes: Uint8Array, length = bytes.length, as: keyof typeof KEYS = 'one') {
  return send(
    `/api/uploads/multipart/${s.id}/parts/${n}?token=${s.token}`,
    { method: 'PUT', body: bytes, headers: { 'content-length': String(length) } },
    as,
  );
}

function complete(s: Started, parts: unknown[], as: keyof typeof KEYS = 'one') {
  return send(
    `/api/uploads/multipart/${s.id}/complete?token=${s.token}`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ parts }) },
    as,
  );
}

async function codeOf(res: Response): Promise<string | null> {
  return ((await res.json().catch(() => null)) as { error?: { code: string } } | null)?.error?.code ?? null;
}

let tried = 0;
let handled = 0;
afterAll(() => {
  console.log(`security (uploads): ${tried} hostile uploads tried, ${handled} handled as designed`);
});

async function expectRefusal(res: Promise<Response>, status: number, code: string): Promise<void> {
  tried++;
  const r = await res;
  expect({ status: r.status, code: await codeOf(r) }).toEqual({ status, code });
  handled++;
}

describe('multipart uploads', () => {
  it('stores a file sent in parts, exactly as declared', async () => {
    const size = PART_SIZE_BYTES + 1000;
    const s = await start(size);
    expect(s.parts).toBe(2);
    const first = new Uint8Array(PART_SIZE_BYTES).fill(7);
    const last = new Uint8Array(1000).fill(9);
    const p2 = await putPart(s, 2, last);
    const p1 = await putPart(s, 1, first);
    expect([p1.status, p2.status]).toEqual([200, 200]);
    const parts = [await p1.json(), await p2.json()];
    const done = await complete(s, parts);
    expect(done.status).toBe(201);
    expect(await done.json()).toMatchObject({ id: s.id, size, input: { upload: s.id } });
    const stored = await env.BUCKET.get(`uploads/${await tenantOf(KEYS.one)}/${s.id}`);
    const bytes = new Uint8Array(await stored!.arrayBuffer());
    expect(bytes.length).toBe(size);
    expect(bytes[0]).toBe(7);
    expect(bytes[size - 1]).toBe(9);
  });

  it('refuses sizes that are missing or too large before storing anything', async () => {
    await expectRefusal(send('/api/uploads/multipart', { method: 'POST' }), 411, 'upload.length_required');
    await expectRefusal(send('/api/uploads/multipart?size=-5', { method: 'POST' }), 411, 'upload.length_required');
    await expectRefusal(send('/api/uploads/multipart?size=0', { method: 'POST' }), 411, 'upload.length_required');
    await expectRefusal(send(`/api/uploads/multipart?size=${10 ** 13}`, { method: 'POST' }), 413, 'upload.too_large');
  });

  it('refuses parts out of range or of the wrong length', async () => {
    const s = await start(1000);
    await expectRefusal(putPart(s, 0, new Uint8Array(1000)), 400, 'upload.bad_part');
    await expectRefusal(putPart(s, 2, new Uint8Array(1000)), 400, 'upload.bad_part');
    await expectRefusal(putPart(s, 1, new Uint8Array(2000)), 413, 'upload.bad_part');
    await expectRefusal(putPart(s, 1, new Uint8Array(10)), 400, 'upload.bad_part');
    await expectRefusal(putPart(s, 1, new Uint8Array(500), 1000), 400, 'upload.incomplete');
  });

  it('answers 404 for forged, foreign and garbled tokens and ids', async () => {
    const s = await start(1000);
    const other = await start(1000, 'two');
    const forged = { ...s, token: `${s.token.split('.')[0]}.${'A'.repeat(43)}` };
    await expectRefusal(putPart(forged, 1, new Uint8Array(1000)), 404, 'upload.not_found');
    await expectRefusal(putPart(s, 1, new Uint8Array(1000), 1000, 'two'), 404, 'upload.not_found');
    await expectRefusal(putPart({ ...other, token: s.token }, 1, new Uint8Array(1000)), 404, 'upload.not_found');
    await expectRefusal(putPart({ ...s, id: '../../etc/passwd' }, 1, new Uint8Array(1000)), 404, 'route.not_found');
    await expectRefusal(
      putPart({ ...s, id: 'aaaaaaaaaaaaaaaaaaaa' }, 1, new Uint8Array(1000)),
      404,
      'upload.not_found',
    );
    await expectRefusal(putPart({ ...s, token: 'garbage' }, 1, new Uint8Array(1000)), 404, 'upload.not_found');
    await expectRefusal(complete(s, [], 'two'), 404, 'upload.not_found');
  });

  it('refuses to complete with missing or wrong parts, and stores nothing', async () => {
    const s = await start(PART_SIZE_BYTES + 10);
    const p1 = await (await putPart(s, 1, new Uint8Array(PART_SIZE_BYTES))).json();
    await expectRefusal(complete(s, [p1]), 400, 'upload.bad_part');
    await expectRefusal(complete(s, [p1, { partNumber: 2, etag: 'made-up' }]), 400, 'upload.incomplete');
    await expectRefusal(complete(s, 'nope' as unknown as unknown[]), 400, 'upload.bad_part');
    const head = await env.BUCKET.head(`uploads/${await tenantOf(KEYS.one)}/${s.id}`);
    expect(head).toBeNull();
  });

  it('can be abandoned', async () => {
    const s = await start(1000);
    const res = await send(`/api/uploads/multipart/${s.id}?token=${s.token}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
  });
});

describe('GET /api/usage', () => {
  it("shows the caller's own day against its quotas", async () => {
    const res = await send('/api/usage', {}, 'two');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { tasks: { used: number; limit: number }; resetsInSeconds: number };
    expect(body.tasks.used).toBe(0);
    expect(body.tasks.limit).toBeGreaterThan(0);
    expect(body.resetsInSeconds).toBeGreaterThan(0);
    expect(
      (
        await worker.fetch(
          new Request(`${ORIGIN}/api/usage`),
          { ...env, API_KEYS: 'x' } as Env,
          createExecutionContext(),
        )
      ).status,
    ).toBe(401);
  });
});
