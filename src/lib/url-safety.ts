/**
 * URL safety (interim version; the runner work replaces it with the full table).
 */
export type UrlCheck =
  | { ok: true; url: URL }
  | { ok: false; code: 'input.url.invalid' | 'input.url.scheme' | 'input.url.private'; message: string };

export function isPrivateAddress(ip: string): boolean {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
  }
  const v6 = ip.toLowerCase().replace(/^\[|\]$/g, '');
  return v6 === '::1' || v6 === '::' || v6.startsWith('fc') || v6.startsWith('fd') || v6.startsWith('fe80') || v6.startsWith('::ffff:');
}

export function checkUrl(raw: string, allowHosts: readonly string[]): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, code: 'input.url.invalid', message: 'not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, code: 'input.url.scheme', message: 'only http and https URLs' };
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (allowHosts.includes(host)) return { ok: true, url };
  if (host === 'localhost' || host.endsWith('.localhost') || isPrivateAddress(host)) return { ok: false, code: 'input.url.private', message: 'private address' };
  return { ok: true, url };
}
