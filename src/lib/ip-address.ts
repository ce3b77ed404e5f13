/**
 * IP addresses: parsing every spelling (IPv4 as the URL parser and inet_aton read it: decimal,
 * octal, hex, short forms; IPv6 with zones, brackets and dotted tails) and saying which addresses
 * clipyard must never connect to, with the reason. IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is
 * judged by the IPv4 address it reaches.
 *
 * Pure; used by url-safety.ts (the Worker and the runner) and by the per-IP rate limit.
 */

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
