/**
 * A webhook receiver for the end-to-end suite: a plain Node HTTP server that verifies every delivery's
 * signature with the published `standardwebhooks` package (a client nobody here wrote) and answers
 * by path: /ok, /fail2 (500 twice, then 200), /fail (always 500), /gone (410), /hang (never answers).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Delivery {
  path: string;
  id: string;
  at: number;
  /** did the signature verify with the secret the receiver was given? */
  verified: boolean;
  payload: { type: string; data: { id: string; status: string } } | null;
}

export interface Receiver {
  base: string;
  deliveries: Delivery[];
  setSecret(secret: string): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  let wh: Webhook | null = null;
  const deliveries: Delivery[] = [];
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?')[0]!;
      let payload: Delivery['payload'] = null;
      let verified = false;
      try {
        payload = wh?.verify(body, req.headers as Record<string, string>) as Delivery['payload'];
        verified = payload !== null && payload !== undefined;
      } catch {
        verified = false;
      }
      deliveries.push({ path, id: String(req.headers['webhook-id'] ?? ''), at: Date.now(), verified, payload });
      const seen = deliveries.filter((d) => d.path === path).length;
      const kind = path.split('/')[1];
      if (kind === 'hang') {
        hanging.push(res);
        return;
      }
      const status = kind === 'ok' ? 200 : kind === 'fail2' ? (seen <= 2 ? 500 : 200) : kind === 'gone' ? 410 : 500;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    deliveries,
    setSecret: (s) => {
      wh = new Webhook(s);
    },
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
