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
 * Pure: no bindings, no DNS; runs in the Worker, the runner (Node) and plain unit tests.
 */

export type UrlRefusalCode = 'input.url.invalid' | 'input.url.scheme' | 'input.url.private' | 'input.url.credentials';

export type UrlCheck = { ok: true; url: URL } | { ok: false; code: UrlRefusalCode; message: string };

/** Longest URL accepted, in characters. */
export const MAX_URL_LENGTH = 4096;
/** Redirects the runner follows before giving up. */
export const MAX_REDIRECTS = 5;

// ---- IPv4 ---------------------------------------------------------------------------------------

function parseIPv4Part(part: string): number | null {
  if (part === '') return null;
  let digits = part;
  let radix = 10;
  if (/^0x/i.test(part)) {
    digits = part.slice(2);
    radix = 16;
    if (digits === '') return 0;
    if (!/^[0-9a-f]+$/i.test(digits)) return null;
  } else if (part.length > 1 && part.startsWith('0')) {
    digits = part.slice(1);
    radix = 8;
    if (!/^[0-7]+$/.test(digits)) return null;
  } else if (!/^[0-9]+$/.test(part)) {
    return null;
  }
  if (digits.length > 32) return null;
  const n = Number.parseInt(digits, radix);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * An IPv4 address in any spelling the URL parser or inet_aton accepts (`127.0.0.1`, `127.1`,
 * `2130706433`, `0x7f.1`, `017700000001`, a trailing dot), as a 32-bit unsigned number; null when
 * the text is not one.
 */
export function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length > 1 && parts.at(-1) === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    const n = parseIPv4Part(p);
    if (n === null) return null;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255)) return null;
  if (last >= 256 ** (4 - nums.length)) return null;
  let value = last;
  nums.forEach((n, i) => {
    value += n * 256 ** (3 - i);
  });
  return value >>> 0;
}

function v4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

const V4_BLOCKS: readonly [base: number, prefix: number, what: string][] = [
  [v4(0, 0, 0, 0), 8, 'an unspecified ("this network") address'],
  [v4(10, 0, 0, 0), 8, 'a private address'],
  [v4(100, 64, 0, 0), 10, 'a carrier-grade NAT address'],
  [v4(127, 0, 0, 0), 8, 'a loopback address'],
  [v4(169, 254, 169, 254), 32, 'the cloud metadata address'],
  [v4(169, 254, 0, 0), 16, 'a link-local address'],
  [v4(172, 16, 0, 0), 12, 'a private address'],
  [v4(192, 0, 0, 0), 24, 'an IETF protocol address'],
  [v4(192, 0, 2, 0), 24, 'a documentation address'],
  [v4(192, 88, 99, 0), 24, 'a 6to4 relay address'],
  [v4(192, 168, 0, 0), 16, 'a private address'],
  [v4(198, 18, 0, 0), 15, 'a benchmarking address'],
  [v4(198, 51, 100, 0), 24, 'a documentation address'],
  [v4(203, 0, 113, 0), 24, 'a documentation address'],
  [v4(224, 0, 0, 0), 4, 'a multicast address'],
  [v4(255, 255, 255, 255), 32, 'the broadcast address'],
  [v4(240, 0, 0, 0), 4, 'a reserved address'],
];

function inV4Block(addr: number, base: number, prefix: number): boolean {
  if (prefix === 0) return true;
  const mask = prefix === 32 ? 0xffffffff : ~(0xffffffff >>> prefix) >>> 0;
  return (addr & mask) >>> 0 === (base & mask) >>> 0;
}

/** Why an IPv4 address must not be fetched from, or null when it is an ordinary public address. */
function classifyV4(addr: number): string | null {
  for (const [base, prefix, what] of V4_BLOCKS) if (inV4Block(addr, base, prefix)) return what;
  return null;
}

function v4Text(addr: number): string {
  return [addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255].join('.');
}

// ---- IPv6 ---------------------------------------------------------------------------------------

/**
 * An IPv6 address (brackets and a `%zone` allowed, a dotted IPv4 tail allowed) as eight 16-bit
 * groups; null when the text is not one.
 */
export function parseIPv6(text: string): number[] | null {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(':') || !/^[0-9a-f:.]+$/i.test(s)) return null;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(tail)) return null;
    const octets = tail.split('.').map(Number);
    if (octets.some((o) => o > 255)) return null;
    const [a, b, c, d] = octets as [number, number, number, number];
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const gap = s.indexOf('::');
  if (gap !== s.lastIndexOf('::')) return null;
  let groups: string[];
  if (gap >= 0) {
    const head = s.slice(0, gap) ? s.slice(0, gap).split(':') : [];
    const rest = s.slice(gap + 2) ? s.slice(gap + 2).split(':') : [];
    if (head.length + rest.length > 7) return null;
    groups = [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  } else {
    groups = s.split(':');
    if (groups.length !== 8) return null;
  }
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16));
}

/** The IPv4 address in the last 32 bits of an IPv6 address (or at bits 16-47 for 6to4). */
function embeddedV4(g: readonly number[], at: number): number {
  return ((g[at]! << 16) | g[at + 1]!) >>> 0;
}

function embeddedReason(how: string, addr: number): string | null {
  const why = classifyV4(addr);
  return why ? `${why} (${v4Text(addr)}, ${how})` : null;
}

/** Why an IPv6 address must not be fetched from, or null when it is an ordinary public address. */
function classifyV6(g: readonly number[]): string | null {
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return 'the unspecified address';
  if (zeroUpTo(7) && g[7] === 1) return 'a loopback address';
  // ::ffff:a.b.c.d, IPv4-mapped: the socket talks IPv4 to the embedded address
  if (zeroUpTo(5) && g[5] === 0xffff) return embeddedReason('IPv4-mapped', embeddedV4(g, 6));
  // 64:ff9b::/96, NAT64: a translator forwards to the embedded IPv4 address
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    return embeddedReason('NAT64', embeddedV4(g, 6));
  }
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'a local-use NAT64 address';
  if (zeroUpTo(6)) return 'an IPv4-compatible (deprecated) address';
  const first = g[0]!;
  if (first === 0xfd00 && g[1] === 0x0ec2 && g.slice(2, 7).every((x) => x === 0) && g[7] === 0x254) {
    return 'the cloud metadata address';
  }
  if ((first & 0xfe00) === 0xfc00) return 'a unique-local (private) address';
  if ((first & 0xffc0) === 0xfe80) return 'a link-local address';
  if ((first & 0xffc0) === 0xfec0) return 'a site-local address';
  if ((first & 0xff00) === 0xff00) return 'a multicast address';
  // only 2000::/3 is global unicast; everything else left is reserved
  if ((first & 0xe000) !== 0x2000) return 'a reserved address';
  if (first === 0x2001 && g[1]! < 0x200) return 'an IETF special-purpose address (Teredo, benchmarking, ORCHID)';
  if (first === 0x2001 && g[1] === 0x0db8) return 'a documentation address';
  if ((first & 0xfff0) === 0x3ff0) return 'a documentation address';
  // 2002::/16, 6to4: the embedded IPv4 address is the tunnel's far end
  if (first === 0x2002) return embeddedReason('6to4', embeddedV4(g, 1));
  return null;
}

// ---- addresses ----------------------------------------------------------------------------------

/**
 * Why this IP address must not be fetched from ("a loopback address", ...), or null when it is an
 * ordinary public address or not an IP address at all.
 */
export function addressRefusal(ip: string): string | null {
  const text = ip.trim();
  const six = parseIPv6(text);
  if (six) return classifyV6(six);
  const four = parseIPv4(text);
  if (four !== null) return classifyV4(four);
  return null;
}

/** Is `text` an IP address (IPv4 in any spelling, or IPv6)? */
export function isIpAddress(text: string): boolean {
  return parseIPv6(text) !== null || parseIPv4(text.trim()) !== null;
}

/**
 * True for an address clipyard must not connect to: loopback, private, link-local, CGNAT, metadata,
 * multicast, broadcast, unspecified, reserved; IPv4 in any spelling, IPv6 in any form (with a zone,
 * brackets, or IPv4 embedded by mapping, NAT64 or 6to4). The runner calls it on every address its
 * resolver returns. A host name (not an IP address) answers false: names are judged after resolving.
 */
export function isPrivateAddress(ip: string): boolean {
  return addressRefusal(ip) !== null;
}

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
