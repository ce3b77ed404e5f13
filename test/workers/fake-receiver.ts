/**
 * A scripted webhook receiver for the workerd tests, reached through miniflare's outbound service at
 * http://hooks.test (it runs in Node, outside workerd). Each path names a behaviour and a key:
 *   /ok/<key>       200
 *   /fail2/<key>    500 twice, then 200
 *   /fail/<key>     always 500
 *   /gone/<key>     410
 *   /redirect/<key> 302 to /ok/<key> (which must never be followed)
 * GET /_log/<key> answers every delivery received under that key (headers and body), oldest first.
 */
interface Received {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
}

const log = new Map<string, Received[]>();

export async function fakeReceiver(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const [, behaviour, key = ''] = url.pathname.split('/');
  if (request.method === 'GET' && behaviour === '_log') return Response.json(log.get(key) ?? []);
  const got = log.get(key) ?? [];
  got.push({
    path: url.pathname,
    id: request.headers.get('webhook-id') ?? '',
    timestamp: request.headers.get('webhook-timestamp') ?? '',
    signature: request.headers.get('webhook-signature') ?? '',
    body: await request.text(),
  });
  log.set(key, got);
  const mine = got.filter((r) => r.path === url.pathname).length;
  switch (behaviour) {
    case 'ok':
      return new Response('ok');
    case 'fail2':
      return new Response(mine <= 2 ? 'down' : 'ok', { status: mine <= 2 ? 500 : 200 });
    case 'gone':
      return new Response('unsubscribed', { status: 410 });
    case 'redirect':
      return new Response(null, { status: 302, headers: { location: `http://hooks.test/ok/${key}` } });
    default:
      return new Response('down', { status: 500 });
  }
}
