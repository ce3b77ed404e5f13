/**
 * A filtering forward proxy on 127.0.0.1 for tools that open their own connections (yt-dlp).
 *
 * yt-dlp fetches pages, APIs and media URLs it finds inside them; none of those pass through the
 * runner's own SSRF-checked fetch. So yt-dlp is started with `--proxy` pointing here, and every
 * CONNECT (https) or absolute-URL request (plain http) is checked like any other URL: the target as
 * written (checkProxyTarget), then every address its name resolves to (checkResolvedAddress), and
 * the connection goes to the vetted address, so a second DNS answer cannot swap in a private one.
 * Refusals are counted per job token so the job can report `input.url.private` instead of yt-dlp's
 * generic "unable to download" message.
 */
import { lookup } from 'node:dns/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkProxyTarget, checkResolvedAddress } from '../../../src/lib/url-safety.ts';

export interface ProxyRefusal {
  target: string;
  code: string;
  message: string;
}

/** Resolve and vet a host:port; returns the address to dial or the refusal. */
async function vet(
  authority: string,
  allowHosts: readonly string[],
): Promise<{ ok: true; host: string; port: number } | { ok: false; refusal: ProxyRefusal }> {
  const check = checkProxyTarget(authority, allowHosts);
  if (!check.ok) return { ok: false, refusal: { target: authority, code: check.code, message: check.message } };
  const hostname = check.url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(check.url.port || 80);
  let addresses: { address: string }[];
  try {
    addresses = net.isIP(hostname) ? [{ address: hostname }] : await lookup(hostname, { all: true });
  } catch {
    return {
      ok: false,
      refusal: { target: authority, code: 'source.unreachable', message: `${hostname} does not resolve` },
    };
  }
  for (const a of addresses) {
    const r = checkResolvedAddress(hostname, a.address, allowHosts);
    if (!r.ok) return { ok: false, refusal: { target: authority, code: r.code, message: r.message } };
  }
  if (addresses.length === 0) {
    return {
      ok: false,
      refusal: { target: authority, code: 'source.unreachable', message: `${hostname} has no address` },
    };
  }
  return { ok: true, host: addresses[0]!.address, port };
}

export class EgressProxy {
  private readonly server: http.Server;
  private readonly allowHosts: readonly string[];
  /** Refusals since start, newest last (bounded). */
  readonly refusals: ProxyRefusal[] = [];

  constructor(allowHosts: readonly string[]) {
    this.allowHosts = allowHosts;
    this.server = http.createServer((req, res) => void this.forward(req, res));
    this.server.on(
      'connect',
      (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.tunnel(req, socket, head),
    );
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): void {
    this.server.close();
  }

  private refuse(refusal: ProxyRefusal): void {
    this.refusals.push(refusal);
    if (this.refusals.length > 100) this.refusals.shift();
  }

  /** https: CONNECT host:port, then bytes both ways. */
  private async tunnel(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const v = await vet(req.url ?? '', this.allowHosts);
    if (!v.ok) {
      this.refuse(v.refusal);
      socket.end(`HTTP/1.1 403 Forbidden\r\nx-clipyard-refused: ${v.refusal.code}\r\n\r\n`);
      return;
    }
    const upstream = net.connect(v.port, v.host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  }

  /** plain http: an absolute-URL request, forwarded to the vetted address. */
  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (url.protocol !== 'http:') {
      this.refuse({ target: url.href.slice(0, 200), code: 'input.url.scheme', message: 'only http through the proxy' });
      res.writeHead(403).end();
      return;
    }
    const v = await vet(url.host, this.allowHosts);
    if (!v.ok) {
      this.refuse(v.refusal);
      res.writeHead(403, { 'x-clipyard-refused': v.refusal.code }).end();
      return;
    }
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: url.host };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const upstream = http.request(
      { host: v.host, port: v.port, method: req.method, path: `${url.pathname}${url.search}`, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}
