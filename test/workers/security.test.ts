/**
 * The security suite inside workerd: a table of hostile requests against the public API, each with
 * the exact status and error code it must get, and checks that nothing was created, written or
 * leaked. API keys are configured here (several tenants), and a few vars are lowered per request to
 * reach the limits. Prints the count tried and the count handled as designed.
 */
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idFromIdempotencyKey } from '../../src/lib/ids.ts';
import { signLink } from '../../src/lib/links.ts';
import { tenantOf } from '../../src/worker/auth.ts';
import worker from '../../src/worker/index.ts';
import { clientKey } from '../../src/worker/rate-limit.ts';
import { ORIGIN } from './helpers.ts';

const KEYS = {
  alpha: 'key-alpha-7f3c1d9e2b',
  bravo: 'key-bravo-4a8e6c0f1d',
  charlie: 'key-charlie-9b2d7e5a3c',
  delta: 'key-delta-1c6f8a2e9d',
  echo: 'key-echo-5e9a3c7b1f',
  foxtrot: 'key-foxtrot-8d4b2f6e0a',
  golf: 'key-golf-3f7a9c1e5b',
} as const;
type Who = keyof typeof KEYS;

interface SendOptions {
  as?: Who;
  vars?: Record<string, string>;
  ip?: string;
}

/** Call the Worker with API keys configured (and any vars overridden), as a client would. */
async function send(path: string, init: RequestInit = {}, o: SendOptions = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (o.as) headers.set('authorization', `Bearer ${KEYS[o.as]}`);
  if (o.ip) headers.set('cf-connecting-ip', o.ip);
  const vars = { API_KEYS: Object.values(KEYS).join(','), ...o.vars };
  const request = new Request(`${ORIGIN}${path}`, { redirect: 'manual', ...init, headers });
  return worker.fetch(request, { ...env, ...vars } as Env, createExecutionContext());
}

function json(body: unknown, o: SendOptions = {}, headers: Record<string, string> = {}) {
  return (path: string) =>
    send(
      path,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) },
      o,
    );
}

async function errorCode(res: Response): Promise<string | null> {
  if (res.status === 101 || res.status < 400) return null;
  const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
  return body?.error?.code ?? null;
}

const ALLOWED_URL = 'http://127.0.0.1:1/clip.mp4';
const audioTask = (url: string) => ({ input: { url }, steps: [{ op: 'audio', format: 'mp3' }] });

let tried = 0;
let handled = 0;
afterAll(() => {
  console.log(`security (workerd): ${tried} hostile requests tried, ${handled} handled as designed`);
});

/** Run one hostile request and check its exact answer. */
async function expectRefusal(run: () => Promise<Response>, status: number, code: string | null): Promise<Response> {
  tried++;
  const res = await run();
  expect({ status: res.status, code: await errorCode(res.clone()) }).toEqual({ status, code });
  handled++;
  return res;
}

// shared fixtures: a task and an upload of tenant alpha
let alphaTask = '';
let alphaUpload = '';
let alphaTenant = '';

beforeAll(async () => {
  alphaTenant = await tenantOf(KEYS.alpha);
  const created = await json(audioTask(ALLOWED_URL), { as: 'alpha' })('/api/tasks');
  expect(created.status).toBe(202);
  alphaTask = ((await created.json()) as { id: string }).id;
  const up = await send(
    '/api/uploads?filename=a.mp4',
    { method: 'POST', body: new Uint8Array(100), headers: { 'content-length': '100' } },
    { as: 'alpha' },
  );
  expect(up.status).toBe(201);
  alphaUpload = ((await up.json()) as { id: string }).id;
});

describe('SSRF through POST /api/tasks', () => {
  const urls: [string, string][] = [
    ['http://2130706433:1/clip.mp4', 'input.url.private'],
    ['http://0x7f.1:1/clip.mp4', 'input.url.private'],
    ['http://017700000001:1/clip.mp4', 'input.url.private'],
    ['http://127.1:1/clip.mp4', 'input.url.private'],
    ['http://127.0.0.1.:1/clip.mp4', 'input.url.private'],
    ['http://localhost:1/clip.mp4', 'input.url.private'],
    ['http://[::1]:1/clip.mp4', 'input.url.private'],
    ['http://[::ffff:127.0.0.1]:1/clip.mp4', 'input.url.private'],
    ['http://[::ffff:7f00:1]:1/clip.mp4', 'input.url.private'],
    ['http://[64:ff9b::7f00:1]/', 'input.url.private'],
    ['http://[2002:7f00:1::]/', 'input.url.private'],
    ['http://169.254.169.254/latest/meta-data/', 'input.url.private'],
    ['http://[fd00:ec2::254]/latest/meta-data/', 'input.url.private'],
    ['http://100.64.0.1/', 'input.url.private'],
    ['http://10.0.0.1/', 'input.url.private'],
    ['http://192.168.0.1/', 'input.url.private'],
    ['http://0.0.0.0/', 'input.url.private'],
    ['http://224.0.0.1/', 'input.url.private'],
    ['http://255.255.255.255/', 'input.url.private'],
    ['http://metadata.google.internal/', 'input.url.private'],
    ['http://evil@127.0.0.1:1/clip.mp4', 'input.url.credentials'],
    ['http://127.0.0.1:1@evil.example/clip.mp4', 'input.url.credentials'],
    ['file:///etc/passwd', 'input.url.scheme'],
    ['gopher://127.0.0.1:6379/_FLUSHALL', 'input.url.scheme'],
    ['http://127.0.0.1\t.evil.example/', 'input.url.invalid'],
  ];
  it.each(urls)('%s -> %s', async (url, code) => {
    await expectRefusal(() => json(audioTask(url), { as: 'charlie' })('/api/tasks'), 400, code);
  });

  it('created nothing for the refused URLs (so nothing was fetched)', async () => {
    const res = await send('/api/tasks', {}, { as: 'charlie' });
    expect(((await res.json()) as { tasks: unknown[] }).tasks).toEqual([]);
  });
});

describe('keys and tenants', () => {
  const rows: [string, () => Promise<Response>, number, string][] = [
    ['no key', () => send('/api/tasks'), 401, 'auth.required'],
    ['wrong key', () => send('/api/tasks', { headers: { authorization: 'Bearer nope' } }), 401, 'auth.invalid'],
    [
      'another scheme',
      () => send('/api/tasks', { headers: { authorization: `Basic ${KEYS.alpha}` } }),
      401,
      'auth.invalid',
    ],
    [
      'a key prefix',
      () => send('/api/tasks', { headers: { authorization: `Bearer ${KEYS.alpha.slice(0, -1)}` } }),
      401,
      'auth.invalid',
    ],
    [
      'an oversize key',
      () => send('/api/tasks', { headers: { authorization: `Bearer ${'k'.repeat(5000)}` } }),
      401,
      'auth.invalid',
    ],
    ['the key in the query of a non-subscription', () => send(`/api/tasks?key=${KEYS.alpha}`), 401, 'auth.required'],
    ['no key for an upload', () => send('/api/uploads', { method: 'POST', body: 'x' }), 401, 'auth.required'],
  ];
  it.each(rows)('%s', async (_name, run, status, code) => {
    await expectRefusal(run, status, code);
  });

  it('another tenant sees 404 for every route of a task, never 403', async () => {
    const id = alphaTask;
    const cases: [string, () => Promise<Response>][] = [
      ['get', () => send(`/api/tasks/${id}`, {}, { as: 'bravo' })],
      ['cancel', () => send(`/api/tasks/${id}/cancel`, { method: 'POST' }, { as: 'bravo' })],
      ['retry', () => send(`/api/tasks/${id}/retry`, { method: 'POST' }, { as: 'bravo' })],
      ['delete', () => send(`/api/tasks/${id}`, { method: 'DELETE' }, { as: 'bravo' })],
      ['output', () => send(`/api/tasks/${id}/outputs/audio.mp3`, {}, { as: 'bravo' })],
      ['events (ws)', () => send(`/api/tasks/${id}/events`, { headers: { upgrade: 'websocket' } }, { as: 'bravo' })],
      [
        'events (sse)',
        () => send(`/api/tasks/${id}/events`, { headers: { accept: 'text/event-stream' } }, { as: 'bravo' }),
      ],
      [
        'events with ?key=',
        () => send(`/api/tasks/${id}/events?key=${KEYS.bravo}`, { headers: { upgrade: 'websocket' } }),
      ],
      [
        'chained as input',
        () =>
          json({ input: { task: id, output: 'audio.mp3' }, steps: [{ op: 'probe' }] }, { as: 'bravo' })('/api/tasks'),
      ],
    ];
    for (const [, run] of cases) await expectRefusal(run, 404, 'task.not_found');
    // the owner still sees it, untouched
    const own = await send(`/api/tasks/${id}`, {}, { as: 'alpha' });
    expect(own.status).toBe(200);
  });

  it("another tenant's upload id is no input (the same answer as an unknown id)", async () => {
    await expectRefusal(
      () => json({ input: { upload: alphaUpload }, steps: [{ op: 'probe' }] }, { as: 'bravo' })('/api/tasks'),
      400,
      'input.invalid',
    );
    await expectRefusal(
      () => json({ input: { upload: '../alpha/x' }, steps: [{ op: 'probe' }] }, { as: 'bravo' })('/api/tasks'),
      400,
      'input.invalid',
    );
  });

  it('lists and idempotency keys are per tenant', async () => {
    const list = (await (await send('/api/tasks', {}, { as: 'bravo' })).json()) as { tasks: { id: string }[] };
    expect(list.tasks.map((t) => t.id)).not.toContain(alphaTask);
    const a = await json(audioTask(ALLOWED_URL), { as: 'alpha' }, { 'idempotency-key': 'same-key' })('/api/tasks');
    const b = await json(audioTask(ALLOWED_URL), { as: 'bravo' }, { 'idempotency-key': 'same-key' })('/api/tasks');
    const [ia, ib] = [((await a.json()) as { id: string }).id, ((await b.json()) as { id: string }).id];
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(ia).not.toBe(ib);
  });
});

describe('path traversal and header injection', () => {
  const rows: [string, () => Promise<Response>, number, string][] = [
    ['a task id with dots', () => send('/api/tasks/..%2F..%2Fetc', {}, { as: 'alpha' }), 404, 'task.not_found'],
    ['a task id too long', () => send(`/api/tasks/${'a'.repeat(300)}`, {}, { as: 'alpha' }), 404, 'task.not_found'],
    [
      'an output name with dots',
      () => send(`/api/tasks/${alphaTask}/outputs/..%2F..%2Fuploads`, {}, { as: 'alpha' }),
      404,
      'output.not_found',
    ],
    [
      'an oversize Idempotency-Key',
      () => json(audioTask(ALLOWED_URL), { as: 'alpha' }, { 'idempotency-key': 'k'.repeat(201) })('/api/tasks'),
      400,
      'request.invalid',
    ],
    [
      'an oversize JSON body',
      () => json({ ...audioTask(ALLOWED_URL), label: 'x'.repeat(300_000) }, { as: 'alpha' })('/api/tasks'),
      413,
      'request.invalid',
    ],
    [
      'a file key with dots',
      () => send('/files/tasks/..%2F..%2Fuploads%2Fx?exp=9999999999&sig=AAAA'),
      403,
      'link.invalid',
    ],
  ];
  it.each(rows)('%s', async (_name, run, status, code) => {
    await expectRefusal(run, status, code);
  });
});

describe('uploads', () => {
  async function storedUploads(): Promise<number> {
    return (await env.BUCKET.list({ prefix: `uploads/${alphaTenant}/` })).objects.length;
  }
  function streamOf(bytes: number): ReadableStream<Uint8Array> {
    return new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array(bytes));
        c.close();
      },
    });
  }
  const up = (init: RequestInit, query = '?filename=x.mp4') =>
    send(`/api/uploads${query}`, { method: 'POST', ...init }, { as: 'alpha' });

  it.each([
    ['no Content-Length', () => up({ body: streamOf(10) }), 411, 'upload.length_required'],
    [
      'a non-numeric Content-Length',
      () => up({ body: 'abc', headers: { 'content-length': 'abc' } }),
      411,
      'upload.length_required',
    ],
    [
      'a negative Content-Length',
      () => up({ body: 'abc', headers: { 'content-length': '-3' } }),
      411,
      'upload.length_required',
    ],
    [
      'an oversize Content-Length',
      () => up({ body: streamOf(10), headers: { 'content-length': String(10 ** 12) } }),
      413,
      'upload.too_large',
    ],
    ['an empty body', () => up({ body: '', headers: { 'content-length': '0' } }), 400, 'upload.incomplete'],
    [
      'a truncated body',
      () => up({ body: streamOf(1000), headers: { 'content-length': '5000' } }),
      400,
      'upload.incomplete',
    ],
    [
      'a body longer than announced',
      () => up({ body: streamOf(5000), headers: { 'content-length': '1000' } }),
      400,
      'upload.incomplete',
    ],
  ] as [string, () => Promise<Response>, number, string][])('%s', async (_name, run, status, code) => {
    const before = await storedUploads();
    await expectRefusal(run, status, code);
    expect(await storedUploads()).toBe(before);
  });

  it('refuses an oversize upload before reading the body', async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(64 * 1024));
      },
    });
    await expectRefusal(
      () => up({ body, headers: { 'content-length': String(10 ** 12) }, duplex: 'half' } as RequestInit),
      413,
      'upload.too_large',
    );
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it('keeps only a safe base name of a hostile filename', async () => {
    tried++;
    const res = await up(
      { body: new Uint8Array(10), headers: { 'content-length': '10' } },
      `?filename=${encodeURIComponent('../../etc/pa"ss\r\nSet-Cookie: a=b\u202Egpj.exe')}`,
    );
    expect(res.status).toBe(201);
    const { filename } = (await res.json()) as { filename: string };
    expect(filename).toBe('passSet-Cookie a=bgpj.exe');
    handled++;
  });
});

describe('signed links', () => {
  let key = '';
  beforeAll(async () => {
    key = `tasks/${crypto.randomUUID()}/audio.mp3`;
    await env.BUCKET.put(key, new Uint8Array(100), { httpMetadata: { contentType: 'audio/mpeg' } });
  });
  const q = (path: string) => new URL(path, ORIGIN).searchParams;

  it('refuses forged, expired, re-targeted and tampered links', async () => {
    const good = await signLink(env.LINK_SECRET, key, 60);
    const other = `tasks/${crypto.randomUUID()}/secret.mp3`;
    await env.BUCKET.put(other, new Uint8Array(10));
    const exp = q(good.path).get('exp')!;
    const sig = q(good.path).get('sig')!;
    const expired = await signLink(env.LINK_SECRET, key, 60, Date.now() - 3_600_000);
    const foreign = await signLink('some-other-secret', key, 60);
    const rows: [string, number, string][] = [
      [`/files/${other}?exp=${exp}&sig=${sig}`, 403, 'link.invalid'],
      [`/files/${key}?exp=${Number(exp) + 1000}&sig=${sig}`, 403, 'link.invalid'],
      [`/files/${key}?exp=${exp}&sig=${sig.slice(0, -2)}AA`, 403, 'link.invalid'],
      [`/files/${key}?exp=${exp}`, 403, 'link.invalid'],
      [`/files/${key}?sig=${sig}`, 403, 'link.invalid'],
      [`/files/${key}?exp=${exp}&sig=${'A'.repeat(500)}`, 403, 'link.invalid'],
      [`/files/${key}?exp=-1&sig=${sig}`, 403, 'link.invalid'],
      [`/files/${key}?exp=99999999999999&sig=${sig}`, 403, 'link.invalid'],
      [foreign.path, 403, 'link.invalid'],
      [expired.path, 403, 'link.expired'],
      [`/files/${key.replace('audio', '%E0%A4%A')}?exp=${exp}&sig=${sig}`, 403, 'link.invalid'],
    ];
    for (const [path, status, code] of rows) await expectRefusal(() => send(path), status, code);
    const ok = await send(good.path);
    expect(ok.status).toBe(200);
    const rotated = await signLink(env.LINK_SECRET_PREVIOUS!, key, 60);
    expect((await send(rotated.path)).status).toBe(200);
  });

  it('serves hostile names and types safely', async () => {
    const cases: [name: string, type: string, expectType: string][] = [
      ['a"b\r\nSet-Cookie: x=1.mp3', 'audio/mpeg', 'audio/mpeg'],
      ['evil\u202Egpj.exe', 'application/x-msdownload', 'application/octet-stream'],
      ['page.html', 'text/html', 'application/octet-stream'],
      ['pic.svg', 'image/svg+xml', 'application/octet-stream'],
      ['видео 🎬.mp4', 'video/mp4', 'video/mp4'],
      ['zero\u200Bwidth\uFEFF.mp3', 'audio/mpeg', 'audio/mpeg'],
      ['CON', 'text/plain', 'text/plain'],
    ];
    for (const [name, type, expectType] of cases) {
      tried++;
      const k = `tasks/${crypto.randomUUID()}/${name}`;
      await env.BUCKET.put(k, new Uint8Array(5), { httpMetadata: { contentType: type } });
      const res = await send((await signLink(env.LINK_SECRET, k, 60)).path);
      expect(res.status, JSON.stringify(name)).toBe(200);
      const cd = res.headers.get('content-disposition') ?? '';
      // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for injected control characters
      expect(cd).not.toMatch(/[\r\n\u0000-\u001f\u202e]/);
      expect(cd).toMatch(/^attachment; filename="[^"\\]*"; filename\*=UTF-8''[\w%!.~-]*$/);
      expect(res.headers.get('content-type')).toBe(expectType);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      handled++;
    }
  });
});

describe('limits: rate, quotas, sockets', () => {
  it('limits requests per client address, with Retry-After', async () => {
    // The limiter counts in fixed windows; a window may roll over mid-loop, hence up to two windows.
    let last: Response | null = null;
    for (let i = 0; i < 602 && last?.status !== 429; i++) {
      last = await send('/api/tasks/nope', {}, { as: 'golf', ip: '8.8.4.4' });
    }
    tried++;
    expect(last!.status).toBe(429);
    expect(await errorCode(last!.clone())).toBe('rate.limited');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    handled++;
    // another address is not affected
    expect((await send('/api/tasks/nope', {}, { as: 'golf', ip: '8.8.8.8' })).status).toBe(404);
    // IPv6 clients are counted per /64, so rotating the interface bits does not help
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe(clientKey('2001:0db8:0001:0002:ffff::9'));
    expect(clientKey('2001:db8:1:2::1')).not.toBe(clientKey('2001:db8:1:3::1'));
  }, 120_000);

  it('limits requests per API key, with Retry-After', async () => {
    let last: Response | null = null;
    let sent = 0;
    for (; sent < 1_202 && last?.status !== 429; sent++) last = await send('/api/tasks/nope', {}, { as: 'delta' });
    expect(sent).toBeGreaterThan(600);
    tried++;
    expect(last!.status).toBe(429);
    expect(await errorCode(last!.clone())).toBe('rate.limited');
    expect(last!.headers.get('retry-after')).toBe('60');
    handled++;
    expect((await send('/api/tasks/nope', {}, { as: 'golf' })).status).toBe(404);
  }, 120_000);

  it('enforces the daily task quota with 429 and Retry-After, replays excepted', async () => {
    const vars = { MAX_TASKS_PER_DAY: '2' };
    const create = (k: string) =>
      json(audioTask(ALLOWED_URL), { as: 'echo', vars }, { 'idempotency-key': k })('/api/tasks');
    expect((await create('q1')).status).toBe(202);
    expect((await create('q2')).status).toBe(202);
    const third = await expectRefusal(() => create('q3'), 429, 'quota.tasks');
    const retryAfter = Number(third.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect((await create('q1')).status).toBe(200);
    // the refused task left nothing behind: no task, no row in the tenant's list, nothing counted
    const tenant = await tenantOf(KEYS.echo);
    const refusedId = await idFromIdempotencyKey(tenant, 'q3');
    expect((await send(`/api/tasks/${refusedId}`, {}, { as: 'echo' })).status).toBe(404);
    const listed = (await env.TENANTS.getByName(tenant).list({})).tasks.map((t) => t.id);
    expect(listed).not.toContain(refusedId);
    expect(await env.TENANTS.getByName(tenant).usage()).toMatchObject({ tasks: 2 });
  });

  it('enforces the daily output-bytes quota', async () => {
    const tenant = await tenantOf(KEYS.foxtrot);
    await env.TENANTS.getByName(tenant).addOutputBytes(5_000);
    await expectRefusal(
      () => json(audioTask(ALLOWED_URL), { as: 'foxtrot', vars: { MAX_OUTPUT_BYTES_PER_DAY: '4096' } })('/api/tasks'),
      429,
      'quota.output_bytes',
    );
    const usage = await env.TENANTS.getByName(tenant).usage();
    expect(usage).toMatchObject({ tasks: 0, outputBytes: 5_000 });
  });

  it('checks the Origin of subscriptions where configured', async () => {
    const vars = { ALLOWED_ORIGINS: 'https://app.example' };
    const sub = (origin?: string) =>
      send(
        `/api/tasks/${alphaTask}/events`,
        { headers: { upgrade: 'websocket', ...(origin ? { origin } : {}) } },
        { as: 'alpha', vars },
      );
    await expectRefusal(() => sub('https://evil.example'), 403, 'socket.origin');
    await expectRefusal(() => sub('null'), 403, 'socket.origin');
    for (const origin of ['https://app.example', ORIGIN, undefined]) {
      const res = await sub(origin);
      expect(res.status).toBe(101);
      res.webSocket!.accept();
      res.webSocket!.close();
    }
  });

  it('closes a socket that sends too much, or too big, or nothing at all', async () => {
    const created = await json(audioTask(ALLOWED_URL), { as: 'golf' })('/api/tasks');
    const id = ((await created.json()) as { id: string }).id;
    async function open() {
      const res = await send(`/api/tasks/${id}/events`, { headers: { upgrade: 'websocket' } }, { as: 'golf' });
      const ws = res.webSocket!;
      const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
      ws.accept();
      return { ws, closed };
    }
    const withTimeout = (p: Promise<number>) =>
      Promise.race([p, new Promise<number>((r) => setTimeout(() => r(-1), 5_000))]);

    tried++;
    const big = await open();
    big.ws.send('x'.repeat(4096));
    expect(await withTimeout(big.closed)).toBe(1009);
    handled++;

    tried++;
    const chatty = await open();
    for (let i = 0; i < 1_001; i++) chatty.ws.send('ping!');
    expect(await withTimeout(chatty.closed)).toBe(1008);
    handled++;

    tried++;
    const idle = await open();
    const stub = env.TASKS.getByName(id);
    await runInDurableObject(stub, (_instance, state) => {
      for (const ws of state.getWebSockets()) {
        const a = (ws.deserializeAttachment() as Record<string, unknown> | null) ?? {};
        ws.serializeAttachment({ ...a, seenAt: Date.now() - 3_600_000 });
      }
    });
    await runDurableObjectAlarm(stub);
    expect(await withTimeout(idle.closed)).toBe(4008);
    handled++;
  });
});
