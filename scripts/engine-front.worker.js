// The local engine's front door (scripts/local-engine.mjs): a worker of one function on its own
// socket, bound to loopback only, in place of Miniflare's entry worker and the static-assets router
// (four JavaScript hops per request and per WebSocket before the Worker: entry, RPC proxy, router,
// router's inner entrypoint). It does what of theirs the Worker relies on and nothing else:
// - the paths wrangler.toml's `run_worker_first` names go straight to the Worker; any other path is
//   a static asset when one exists (ASSETS, the web page) and the Worker's otherwise, as the assets
//   router decides in production;
// - `CF-Connecting-IP` is the socket's peer: this socket listens on a loopback address only, so the
//   peer is loopback, whatever header the client sent (the entry worker kept a client's own
//   header; the Worker's rate limiter must never read one a client wrote);
// - `X-Forwarded-Proto` (http or https) sets the URL's scheme, as the entry worker does for a page
//   served through a TLS tunnel, so signed links and the Origin check see the URL the client used.
// Bindings: WORKER (the Worker), ASSETS (the static assets), ROUTES (JSON: the assets' router
// config's static_routing: `user_worker` and `asset_worker` patterns such as "/api/*"),
// PEER_ADDRESS (the loopback address the socket listens on).
import { WorkerEntrypoint } from 'cloudflare:workers';

/** A run_worker_first pattern ("/api/*", "/docs") as a regular expression over the path. */
function patternRegExp(pattern) {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

let routes = null;

export class Front extends WorkerEntrypoint {
  async fetch(request) {
    const env = this.env;
    routes ??= {
      worker: (env.ROUTES.user_worker ?? []).map(patternRegExp),
      assets: (env.ROUTES.asset_worker ?? []).map(patternRegExp),
    };
    const url = new URL(request.url);
    const proto = request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
    if (proto === 'https' || proto === 'http') url.protocol = `${proto}:`;
    const forwarded = new Request(url, request);
    forwarded.headers.set('cf-connecting-ip', env.PEER_ADDRESS);
    const path = url.pathname;
    if (routes.assets.some((r) => r.test(path))) return env.ASSETS.fetch(forwarded);
    if (routes.worker.some((r) => r.test(path))) return env.WORKER.fetch(forwarded);
    const probe = new Request(url, { method: request.method, headers: request.headers });
    return (await env.ASSETS.unstable_canFetch(probe)) ? env.ASSETS.fetch(forwarded) : env.WORKER.fetch(forwarded);
  }
}

export default { fetch: () => new Response('clipyard: use the front socket', { status: 404 }) };
