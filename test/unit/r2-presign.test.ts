/**
 * Presigned R2 links. The signature is checked by a SigV4 query-string verifier written here from the
 * AWS specification (not the signer the product uses), which itself must reproduce AWS's published
 * example (the "GET object" presigned URL of the S3 docs) before it is trusted.
 */
import { describe, expect, it } from 'vitest';
import { MAX_PRESIGN_SECONDS, presignR2Get, type R2Credentials } from '../../src/lib/r2-presign.ts';

const enc = new TextEncoder();
const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
const sha256 = async (s: string) => hex(await crypto.subtle.digest('SHA-256', enc.encode(s)));
async function hmac(key: ArrayBuffer | Uint8Array, msg: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, enc.encode(msg));
}
/** RFC 3986 unreserved characters stay, everything else is %XX (what SigV4 canonical forms use). */
const uriEncode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The signature a presigned GET URL should carry, recomputed from its own parts. */
async function expectedSignature(url: URL, secret: string, region: string): Promise<string> {
  const params = [...url.searchParams].filter(([k]) => k !== 'X-Amz-Signature');
  const query = params
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const path = url.pathname
    .split('/')
    .map((seg) => uriEncode(decodeURIComponent(seg)))
    .join('/');
  const canonical = ['GET', path, query, `host:${url.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const datetime = url.searchParams.get('X-Amz-Date')!;
  const scope = `${datetime.slice(0, 8)}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', datetime, scope, await sha256(canonical)].join('\n');
  let key = await hmac(enc.encode(`AWS4${secret}`), datetime.slice(0, 8));
  for (const part of [region, 's3', 'aws4_request']) key = await hmac(key, part);
  return hex(await hmac(key, toSign));
}

const creds: R2Credentials = {
  accountId: '0123456789abcdef0123456789abcdef',
  bucket: 'clipyard-media',
  accessKeyId: 'r2-access-key-id',
  secretAccessKey: 'r2-secret-access-key',
};
const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);

describe('presigned R2 links', () => {
  it("the test's own verifier reproduces AWS's published presigned URL example", async () => {
    const url = new URL(
      'https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
        '&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
        '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host',
    );
    expect(await expectedSignature(url, 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'us-east-1')).toBe(
      'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    );
  });

  it('signs a GET of the object on the account endpoint, naming the download and a safe type', async () => {
    const link = await presignR2Get(creds, 'tasks/abcdefghijklmnopqrst/audio.mp3', 3600, {
      filename: 'audio.mp3',
      contentType: 'audio/mpeg',
      nowMs: NOW,
    });
    const url = new URL(link);
    expect(url.origin).toBe(`https://${creds.accountId}.r2.cloudflarestorage.com`);
    expect(url.pathname).toBe('/clipyard-media/tasks/abcdefghijklmnopqrst/audio.mp3');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'r2-access-key-id/20261124/auto/s3/aws4_request',
      'X-Amz-Date': '20261124T120000Z',
      'X-Amz-Expires': '3600',
      'X-Amz-SignedHeaders': 'host',
      'response-content-type': 'audio/mpeg',
    });
    expect(url.searchParams.get('response-content-disposition')).toMatch(/^attachment; filename="audio\.mp3"/);
    expect(url.searchParams.get('X-Amz-Signature')).toBe(await expectedSignature(url, creds.secretAccessKey, 'auto'));
    expect(link).not.toContain(creds.secretAccessKey);
  });

  it('a changed key, expiry or filename no longer matches the signature', async () => {
    const url = new URL(
      await presignR2Get(creds, 'tasks/abcdefghijklmnopqrst/audio.mp3', 600, { filename: 'audio.mp3', nowMs: NOW }),
    );
    const sig = url.searchParams.get('X-Amz-Signature');
    const tampered = [
      (u: URL) => {
        u.pathname = u.pathname.replace('abcdefghijklmnopqrst', 'bbbbbbbbbbbbbbbbbbbb');
      },
      (u: URL) => u.searchParams.set('X-Amz-Expires', '604800'),
      (u: URL) => u.searchParams.set('response-content-disposition', 'inline'),
    ];
    for (const change of tampered) {
      const u = new URL(url);
      change(u);
      expect(await expectedSignature(u, creds.secretAccessKey, 'auto')).not.toBe(sig);
    }
  });

  it('caps the lifetime at the S3 limit, sanitizes the filename and never names an unsafe type', async () => {
    const url = new URL(
      await presignR2Get(creds, 'tasks/abcdefghijklmnopqrst/page.html', 10 * MAX_PRESIGN_SECONDS, {
        filename: 'evil"\r\nX-Injected: 1.html',
        contentType: 'text/html',
        nowMs: NOW,
      }),
    );
    expect(url.searchParams.get('X-Amz-Expires')).toBe(String(MAX_PRESIGN_SECONDS));
    expect(url.searchParams.get('response-content-type')).toBe('application/octet-stream');
    const disposition = url.searchParams.get('response-content-disposition')!;
    expect(disposition).not.toMatch(/[\r\n"]X-Injected|\r|\n/);
    expect(url.searchParams.get('X-Amz-Signature')).toBe(await expectedSignature(url, creds.secretAccessKey, 'auto'));
  });
});
