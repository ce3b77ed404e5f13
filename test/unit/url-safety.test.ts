/**
 * URL safety (SSRF): a table of hostile URLs, each with the exact refusal code, plus the addresses a
 * resolver may return and redirects the runner may be asked to follow. Prints how many were tried and
 * how many were handled as designed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  addressRefusal,
  checkProxyTarget,
  checkRedirect,
  checkResolvedAddress,
  checkUrl,
  isPrivateAddress,
  literalHost,
  parseIPv4,
  parseIPv6,
} from '../../src/lib/url-safety.ts';

const ALLOW = ['127.0.0.1'];
type Expect = 'ok' | 'input.url.invalid' | 'input.url.scheme' | 'input.url.private' | 'input.url.credentials';

/** [url, expected code] with the test allow-list `127.0.0.1` in force, as in local testing. */
const URLS: readonly [string, Expect][] = [
  // loopback in every spelling; only the literal allowed host passes
  ['http://127.0.0.1:8080/clip.mp4', 'ok'],
  ['http://2130706433/', 'input.url.private'],
  ['http://0x7f.1/', 'input.url.private'],
  ['http://0x7f000001/', 'input.url.private'],
  ['http://017700000001/', 'input.url.private'],
  ['http://0177.0.0.1/', 'input.url.private'],
  ['http://127.1/', 'input.url.private'],
  ['http://127.0.1/', 'input.url.private'],
  ['http://127.0.0.1./', 'input.url.private'],
  ['http://127.0.0.2/', 'input.url.private'],
  ['http://127.255.255.254/', 'input.url.private'],
  ['http://0x7F.0x00.0x00.0x01/', 'input.url.private'],
  ['http://127.0.0.%31/', 'input.url.private'],
  ['http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/', 'input.url.private'],
  ['http://localhost/', 'input.url.private'],
  ['http://LOCALHOST:8080/', 'input.url.private'],
  ['http://localhost./', 'input.url.private'],
  ['http://foo.localhost/', 'input.url.private'],
  ['http://[::1]/', 'input.url.private'],
  ['http://[0:0:0:0:0:0:0:1]/', 'input.url.private'],
  ['http://[::ffff:127.0.0.1]/', 'input.url.private'],
  ['http://[::ffff:7f00:1]/', 'input.url.private'],
  ['http://[::127.0.0.1]/', 'input.url.private'],
  ['http://[64:ff9b::127.0.0.1]/', 'input.url.private'],
  ['http://[64:ff9b::7f00:1]/', 'input.url.private'],
  ['http://[2002:7f00:1::]/', 'input.url.private'],
  // unspecified
  ['http://0.0.0.0/', 'input.url.private'],
  ['http://0/', 'input.url.private'],
  ['http://0.1.2.3/', 'input.url.private'],
  ['http://[::]/', 'input.url.private'],
  // private, CGNAT, link-local, metadata
  ['http://10.0.0.1/', 'input.url.private'],
  ['http://167772161/', 'input.url.private'],
  ['http://172.16.0.1/', 'input.url.private'],
  ['http://172.31.255.255/', 'input.url.private'],
  ['http://192.168.1.1/', 'input.url.private'],
  ['http://0xc0a80101/', 'input.url.private'],
  ['http://100.64.0.1/', 'input.url.private'],
  ['http://100.127.255.254/', 'input.url.private'],
  ['http://100.100.100.200/', 'input.url.private'],
  ['http://169.254.169.254/latest/meta-data/', 'input.url.private'],
  ['http://2852039166/', 'input.url.private'],
  ['http://0xa9.0xfe.0xa9.0xfe/', 'input.url.private'],
  ['http://169.254.1.1/', 'input.url.private'],
  ['http://[fd00:ec2::254]/', 'input.url.private'],
  ['http://[fd12:3456::1]/', 'input.url.private'],
  ['http://[fe80::1]/', 'input.url.private'],
  ['http://[::ffff:169.254.169.254]/', 'input.url.private'],
  ['http://[::ffff:a9fe:a9fe]/', 'input.url.private'],
  ['http://[::ffff:10.1.2.3]/', 'input.url.private'],
  ['http://[64:ff9b::a9fe:a9fe]/', 'input.url.private'],
  ['http://[64:ff9b::192.168.0.1]/', 'input.url.private'],
  ['http://[64:ff9b:1::1]/', 'input.url.private'],
  ['http://[2002:c0a8:101::1]/', 'input.url.private'],
  ['http://[2002:a9fe:a9fe::]/', 'input.url.private'],
  ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'input.url.private'],
  ['http://metadata.google.internal/computeMetadata/v1/', 'input.url.private'],
  ['http://printer.local/', 'input.url.private'],
  ['http://router.home.arpa/', 'input.url.private'],
  ['http://intranet/', 'input.url.private'],
  // multicast, broadcast, reserved, documentation
  ['http://224.0.0.1/', 'input.url.private'],
  ['http://239.255.255.250/', 'input.url.private'],
  ['http://255.255.255.255/', 'input.url.private'],
  ['http://4294967295/', 'input.url.private'],
  ['http://240.0.0.1/', 'input.url.private'],
  ['http://192.0.0.192/', 'input.url.private'],
  ['http://198.18.0.1/', 'input.url.private'],
  ['http://[ff02::1]/', 'input.url.private'],
  ['http://[2001:db8::1]/', 'input.url.private'],
  ['http://[fec0::1]/', 'input.url.private'],
  ['http://[100::1]/', 'input.url.private'],
  // userinfo tricks
  ['http://evil@127.0.0.1/', 'input.url.credentials'],
  ['http://evil.com@127.0.0.1/', 'input.url.credentials'],
  ['http://127.0.0.1@evil.com/', 'input.url.credentials'],
  ['http://user:pass@example.com/', 'input.url.credentials'],
  ['http://@example.com/', 'input.url.credentials'],
  ['http://a%40b@10.0.0.1/', 'input.url.credentials'],
  // schemes
  ['file:///etc/passwd', 'input.url.scheme'],
  ['ftp://example.com/a.mp4', 'input.url.scheme'],
  ['gopher://127.0.0.1:6379/_INFO', 'input.url.scheme'],
  ['data:video/mp4;base64,AAAA', 'input.url.scheme'],
  ['javascript:alert(1)', 'input.url.scheme'],
  ['concat:/etc/passwd|/etc/hosts', 'input.url.scheme'],
  ['ws://example.com/', 'input.url.scheme'],
  // not URLs at all
  ['', 'input.url.invalid'],
  ['not a url', 'input.url.invalid'],
  ['/etc/passwd', 'input.url.invalid'],
  ['http://', 'input.url.invalid'],
  ['http://[::1/', 'input.url.invalid'],
  ['http://256.256.256.256/', 'input.url.invalid'],
  ['http://example.com:0/', 'input.url.invalid'],
  ['http://127.0.0.1\t.evil.com/', 'input.url.invalid'],
  ['http://exa\nmple.com/', 'input.url.invalid'],
  [`http://example.com/${'a'.repeat(5000)}`, 'input.url.invalid'],
  // ordinary public URLs stay accepted
  ['https://example.com/watch?v=abc', 'ok'],
  ['http://93.184.216.34/a.mp4', 'ok'],
  ['http://8.8.8.8/', 'ok'],
  ['https://[2606:4700:4700::1111]/', 'ok'],
  ['http://[::ffff:8.8.8.8]/', 'ok'],
  ['https://example.com./clip.mp4', 'ok'],
  ['https://xn--bcher-kva.example/', 'ok'],
  ['http://100.128.0.1/', 'ok'],
  ['http://172.32.0.1/', 'ok'],
];

let tried = 0;
let handled = 0;

afterAll(() => {
  console.log(`url-safety: ${tried} hostile or edge inputs tried, ${handled} handled as designed`);
});

describe('checkUrl: hostile URLs', () => {
  it.each(URLS)('%s -> %s', (url, expected) => {
    tried++;
    const check = checkUrl(url, ALLOW);
    expect(check.ok ? 'ok' : check.code).toBe(expected);
    handled++;
  });

  it('has a table of at least 60 hostile inputs', () => {
    expect(URLS.filter(([, e]) => e !== 'ok').length).toBeGreaterThanOrEqual(60);
  });

  it('refuses loopback outright when nothing is allowed (a plain npm start)', () => {
    const check = checkUrl('http://127.0.0.1:8080/clip.mp4', []);
    expect(check.ok ? 'ok' : check.code).toBe('input.url.private');
  });

  it('says why, naming the address', () => {
    const check = checkUrl('http://0xa9.0xfe.0xa9.0xfe/', []);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.message).toContain('metadata');
  });

  it('returns the normalized URL that is safe to hand on', () => {
    const check = checkUrl('  https://Example.COM:443/a b.mp4  ', []);
    expect(check.ok ? 'ok' : check.code).toBe('input.url.invalid');
    const fine = checkUrl('https://Example.COM:443/a%20b.mp4', []);
    expect(fine.ok && fine.url.href).toBe('https://example.com/a%20b.mp4');
  });
});

/** What a DNS resolver may return: [address, private?]. */
const ADDRESSES: readonly [string, boolean][] = [
  ['127.0.0.1', true],
  ['127.1', true],
  ['2130706433', true],
  ['0x7f.1', true],
  ['10.1.2.3', true],
  ['100.64.0.1', true],
  ['169.254.169.254', true],
  ['192.168.0.10', true],
  ['0.0.0.0', true],
  ['224.0.0.251', true],
  ['255.255.255.255', true],
  ['::1', true],
  ['::', true],
  ['::ffff:127.0.0.1', true],
  ['::ffff:7f00:1', true],
  ['0:0:0:0:0:ffff:7f00:1', true],
  ['[::ffff:127.0.0.1]', true],
  ['fe80::1%eth0', true],
  ['fd00:ec2::254', true],
  ['FD00:EC2::254', true],
  ['fc00::1', true],
  ['64:ff9b::a00:1', true],
  ['2002:a00:1::', true],
  ['ff05::1', true],
  ['8.8.8.8', false],
  ['1.1.1.1', false],
  ['93.184.216.34', false],
  ['2606:4700:4700::1111', false],
  ['::ffff:8.8.8.8', false],
  ['64:ff9b::808:808', false],
  ['2002:808:808::1', false],
];

describe('isPrivateAddress: what the resolver returns', () => {
  it.each(ADDRESSES)('%s -> private %s', (address, expected) => {
    tried++;
    expect(isPrivateAddress(address)).toBe(expected);
    handled++;
  });

  it('answers false for names (judged after resolving) and parses the spellings', () => {
    expect(isPrivateAddress('example.com')).toBe(false);
    expect(parseIPv4('0x7f.1')).toBe(0x7f000001);
    expect(parseIPv4('017700000001')).toBe(0x7f000001);
    expect(parseIPv4('1.2.3.4.5')).toBeNull();
    expect(parseIPv4('08.0.0.1')).toBeNull();
    expect(parseIPv6('1::2::3')).toBeNull();
    expect(parseIPv6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
    expect(addressRefusal('100.64.0.1')).toContain('carrier-grade NAT');
  });
});

describe('checkRedirect and connect-time checks (the runner)', () => {
  const from = 'http://127.0.0.1:9000/start';
  const cases: readonly [string, Expect][] = [
    ['/clip.mp4', 'ok'],
    ['clip.mp4', 'ok'],
    ['http://127.0.0.1:9000/clip.mp4', 'ok'],
    ['http://2130706433:9000/secret', 'input.url.private'],
    ['http://localhost:9000/secret', 'input.url.private'],
    ['//169.254.169.254/latest/meta-data/', 'input.url.private'],
    ['/\\169.254.169.254/', 'input.url.private'],
    ['http://[::ffff:127.0.0.1]:9000/', 'input.url.private'],
    ['file:///etc/passwd', 'input.url.scheme'],
    ['http://user@example.com/', 'input.url.credentials'],
  ];
  it.each(cases)('Location %s -> %s', (location, expected) => {
    tried++;
    const check = checkRedirect(location, from, ALLOW);
    expect(check.ok ? 'ok' : check.code).toBe(expected);
    handled++;
  });

  it('reads the host as written', () => {
    expect(literalHost('http://u@2130706433:80/x')).toBe('2130706433');
    expect(literalHost('http://[::1]:80/')).toBe('[::1]');
    expect(literalHost('HTTP:\\\\LocalHost\\x')).toBe('localhost');
  });

  it('refuses private resolved addresses unless the host is allowed', () => {
    expect(checkResolvedAddress('evil.example', '127.0.0.1', ALLOW).ok).toBe(false);
    expect(checkResolvedAddress('evil.example', 'not-an-ip', ALLOW).ok).toBe(false);
    expect(checkResolvedAddress('evil.example', '93.184.216.34', ALLOW).ok).toBe(true);
    expect(checkResolvedAddress('127.0.0.1', '127.0.0.1', ALLOW).ok).toBe(true);
  });
});

describe('checkProxyTarget (a filtering proxy in front of yt-dlp)', () => {
  const cases: readonly [string, Expect][] = [
    ['example.com:443', 'ok'],
    ['127.0.0.1:8080', 'ok'],
    ['2130706433:443', 'input.url.private'],
    ['169.254.169.254:80', 'input.url.private'],
    ['[::1]:443', 'input.url.private'],
    ['[fd00:ec2::254]:80', 'input.url.private'],
    ['localhost:80', 'input.url.private'],
    ['user@example.com:443', 'input.url.invalid'],
    ['example.com/path', 'input.url.invalid'],
  ];
  it.each(cases)('%s -> %s', (authority, expected) => {
    tried++;
    const check = checkProxyTarget(authority, ALLOW);
    expect(check.ok ? 'ok' : check.code).toBe(expected);
    handled++;
  });
});
