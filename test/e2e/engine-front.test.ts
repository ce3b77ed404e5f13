/**
 * The local engine's front door (scripts/engine-front.worker.js), over real HTTP and WebSocket: what
 * Miniflare's entry worker and assets router did that clipyard relies on still happens without them.
 * The page and its files are served, the API and /docs reach the Worker, a path that is neither is
 * the Worker's JSON 404, a client's own CF-Connecting-IP is not the address the rate limiter counts,
 * X-Forwarded-Proto sets the scheme of the links, and event sockets are not compressed. Under
 * wrangler dev, or with CLIPYARD_ENGINE_FRONT=entry, the last three do not hold: skipped there.
 */
import { describe, expect, it } from 'vitest';
import { api, baseUrl, createTask, mediaUrl, waitForStatus } from './client.ts';

const front = process.env.CLIPYARD_ENGINE !== 'wrangler' && process.env.CLIPYARD_ENGINE_FRONT !== 'entry';
/** RATE_LIMIT_IP's limit per period in wrangler.toml. */
const IP_LIMIT = 300;

describe('the page and the API behind the front door', () => {
  it('serves the page, its script and /docs, and answers other paths from the Worker', async () => {
    const page = await api('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/<html/i);
    const script = await api('/app.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    await script.body?.cancel();
    const docs = await api('/docs');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/<html/i);
    const missing = await api('/no-such-page');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('route.not_found');
  });
});

describe.runIf(front)('what the front door decides', () => {
  it('counts a client by its socket, not by a CF-Connecting-IP it wrote', async () => {
    // Through a door that kept the client's header, this address would be limited after IP_LIMIT.
    const statuses = new Map<number, number>();
    for (let sent = 0; sent < IP_LIMIT + 20; sent += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, () =>
          api('/api/tasks?limit=1', { headers: { 'cf-connecting-ip': '203.0.113.77' } }).then(async (r) => {
            await r.body?.cancel();
            return r.status;
          }),
        ),
      );
      for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: IP_LIMIT + 20 });
  });

  it('signs links for the scheme X-Forwarded-Proto names', async () => {
    const created = await createTask(
      { input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'probe' }] },
      {
        'x-forwarded-proto': 'https',
      },
    );
    const { links } = created as unknown as { links: { self: string; events: string } };
    expect(links.self).toMatch(/^https:\/\//);
    expect(links.events).toMatch(/^wss:\/\//);
    await waitForStatus(created.id, ['succeeded']);
  });

  it('sends event frames without permessage-deflate', async () => {
    const { id } = await createTask({ input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'probe' }] });
    const ws = new WebSocket(`${baseUrl().replace(/^http/, 'ws')}/api/tasks/${id}/events`);
    const first = await new Promise<string>((resolve, reject) => {
      ws.addEventListener('message', (m) => resolve(String(m.data)), { once: true });
      ws.addEventListener('error', () => reject(new Error('socket failed')), { once: true });
    });
    // Node's WebSocket offers permessage-deflate; the 101 agreed to none
    expect(ws.extensions).toBe('');
    expect(JSON.parse(first).type).toBe('snapshot');
    ws.close();
    await waitForStatus(id, ['succeeded']);
  });
});
