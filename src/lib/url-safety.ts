/**
 * URL safety: which URLs clipyard is willing to fetch (SSRF defence).
 *
 * Used twice: by the Worker before it accepts a task (`checkUrl`), and by the media runner at connect
 * time, on every address DNS hands back (`isPrivateAddress`) and on every redirect (`checkRedirect`),
 * because a public name can resolve to a private address later (DNS rebinding) and a public server
 * can redirect anywhere.
 *
 * Refused: anything but http/https; credentials in the URL; names that only mean something locally
 * (localhost, *.local, *.internal, single-label names); and addresses that are loopback, private,
 * link-local, CGNAT, metadata, multicast, broadcast, unspecified, reserved or documentation ranges,
 * in every spelling (decimal, octal, hex and short IPv4; IPv6 with IPv4 embedded through mapping,
 * NAT64 or 6to4).
 *
 * The allow-list (CLIPYARD_ALLOW_HOSTS, for local testing) matches the host exactly as written in
 * the URL: allowing `127.0.0.1` does not allow `2130706433`, `127.1`, `127.0.0.1.` or `localhost`,
 * which the URL parser would otherwise turn into the same address.
 *
 * Pure: no bindings, no DNS; runs in the Worker, the runner (Node) and plain unit tests. The address
 * rules themselves live in ip-address.ts (re-exported here for the runner).
 */

import { addressRefusal, isIpAddress } from './ip-address.ts';

export type UrlRefusalCode = 'input.url.invalid' | 'input.url.scheme' | 'input.url.private' | 'input.url.credentials';

export type UrlCheck = { ok: true; url: URL } | { ok: false; code: UrlRefusalCode; message: string };

/** Longest URL accepted, in characters. */
export const MAX_URL_LENGTH = 4096;
/** Redirects the runner follows before giving up. */
export const MAX_REDIRECTS = 5;

export { addressRefusal, isIpAddress, isPrivateAddress, parseIPv4, parseIPv6 } from './ip-address.ts';

// ---- host names ---------------------------------------------------------------------------------

const LOCAL_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback', 'broadcasthost']);
const LOCAL_SUFFIXES = [
  '.localhost',
  '.local',
  '.localdomain',
  '.internal',
  '.intranet',
  '.lan',
  '.home',
  '.corp',
  '.home.arpa',
  '.in-addr.arpa',
  '.ip6.arpa',
];

/** Why a host name (not an IP) is local-only, or null. `name` is lower-case without a trailing dot. */
function nameRefusal(name: string): string | null {
  if (LOCAL_NAMES.has(name) || LOCAL_SUFFIXES.some((s) => name.endsWith(s))) return 'a local host name';
  if (!name.includes('.')) return 'a single-label (local) host name';
  return null;
}

/**
 * The host exactly as written in a URL string (lower-cased, brackets kept, userinfo and port
 * dropped), before the URL parser normalizes it; null when it cannot be read plainly.
 */
export function literalHost(raw: string): string | null {
  const m = /^[a-z][a-z0-9+.-]*:[\\/]*([^\\/?#]*)/i.exec(raw.trim());
  if (!m) return null;
  let authority = m[1]!;
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end < 0 ? null : authority.slice(0, end + 1).toLowerCase();
  }
  const colon = authority.indexOf(':');
  return (colon >= 0 ? authority.slice(0, colon) : authority).toLowerCase();
}

function bare(host: string): string {
  return host.replace(/^\[|\]$/g, '').toLowerCase();
}

/**
 * Is the URL's host on the allow-list? Only when the host is written exactly as listed (and the
 * parser agrees), so other spellings of an allowed address stay refused.
 */
export function isAllowedHost(raw: string, url: URL, allowHosts: readonly string[]): boolean {
  if (allowHosts.length === 0) return false;
  const written = literalHost(raw);
  if (written === null || bare(written) !== bare(url.hostname)) return false;
  return allowHosts.some((h) => bare(h) === bare(written));
}

// ---- URLs ---------------------------------------------------------------------------------------

function refuse(code: UrlRefusalCode, message: string): UrlCheck {
  return { ok: false, code, message };
}

/**
 * May clipyard fetch this URL? Returns the parsed (normalized) URL, or the refusal with its stable
 * code: input.url.invalid, input.url.scheme, input.url.credentials or input.url.private.
 * Hosts on `allowHosts` (written exactly so) skip the private-address check, nothing else.
 */
export function checkUrl(raw: string, allowHosts: readonly string[]): UrlCheck {
  if (typeof raw !== 'string' || raw.trim() === '') return refuse('input.url.invalid', 'the URL is empty');
  const text = raw.trim();
  if (text.length > MAX_URL_LENGTH) {
    return refuse('input.url.invalid', `the URL is longer than ${MAX_URL_LENGTH} characters`);
  }
  // The URL parser silently drops tabs and newlines and would join what they separate.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this looks for
  if (/[\u0000-\u0020\u007f]/.test(text)) {
    return refuse('input.url.invalid', 'the URL contains spaces or control characters');
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse('input.url.invalid', 'not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return refuse('input.url.scheme', `only http and https URLs are fetched, not ${url.protocol.slice(0, 20)}`);
  }
  if (url.username !== '' || url.password !== '' || /^[a-z]+:[\\/]*[^\\/?#]*@/i.test(text)) {
    return refuse('input.url.credentials', 'URLs with a user name or password are not accepted');
  }
  if (url.hostname === '') return refuse('input.url.invalid', 'the URL has no host');
  if (url.port === '0') return refuse('input.url.invalid', 'port 0 is not a port');
  if (isAllowedHost(text, url, allowHosts)) return { ok: true, url };

  const host = bare(url.hostname);
  const ipWhy = addressRefusal(host);
  if (ipWhy) return refuse('input.url.private', `${url.hostname} is ${ipWhy}`);
  if (!isIpAddress(host)) {
    const name = host.replace(/\.$/, '');
    const nameWhy = nameRefusal(name);
    if (nameWhy) return refuse('input.url.private', `${url.hostname} is ${nameWhy}`);
  }
  return { ok: true, url };
}

/**
 * Check a redirect the runner is about to follow: `location` is the raw Location header, `from`
 * the URL that answered with it. A relative location keeps the (already checked) host; an absolute
 * one is checked as written, so the allow-list still matches literally.
 */
export function checkRedirect(location: string, from: string | URL, allowHosts: readonly string[]): UrlCheck {
  const base = typeof from === 'string' ? new URL(from) : from;
  const loc = location.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(loc)) return checkUrl(loc, allowHosts);
  if (/^[\\/]{2}/.test(loc)) return checkUrl(`${base.protocol}${loc}`, allowHosts);
  let target: URL;
  try {
    target = new URL(loc, base);
  } catch {
    return refuse('input.url.invalid', 'the redirect location is not a URL');
  }
  if (target.host !== base.host) return checkUrl(target.href, []);
  return checkUrl(target.href, allowHosts);
}

/**
 * The runner's connect-time check for one resolved address of `hostname` (the host of a URL that
 * passed checkUrl). Allowed hosts skip it, as in checkUrl.
 */
export function checkResolvedAddress(
  hostname: string,
  address: string,
  allowHosts: readonly string[],
): { ok: true } | { ok: false; code: 'input.url.private'; message: string } {
  if (allowHosts.some((h) => bare(h) === bare(hostname))) return { ok: true };
  const why = addressRefusal(address) ?? (isIpAddress(address) ? null : 'not an IP address');
  return why
    ? { ok: false, code: 'input.url.private', message: `${hostname} resolves to ${address}: ${why}` }
    : { ok: true };
}

/**
 * For a filtering forward proxy in front of tools that fetch on their own (yt-dlp): may a request
 * go to this `host:port` (a CONNECT authority, or the Host of a plain proxied request)? The same
 * rules as checkUrl; the proxy must still check every address it resolves the host to
 * (checkResolvedAddress) before connecting.
 */
export function checkProxyTarget(authority: string, allowHosts: readonly string[]): UrlCheck {
  if (!/^(\[[0-9a-f:.%\w-]+\]|[^\s/?#@[\]]+)(:\d{1,5})?$/i.test(authority)) {
    return refuse('input.url.invalid', 'not a host:port');
  }
  return checkUrl(`http://${authority}/`, allowHosts);
}
