/** Download filenames against hostile names: header injection, paths, invisible and reserved names. */
import { describe, expect, it } from 'vitest';
import { contentDisposition, sanitizeFilename } from '../../src/lib/filenames.ts';
import { keyToPath, signLink, verifyLink } from '../../src/lib/links.ts';

const NAMES: readonly [string, string][] = [
  ['audio.mp3', 'audio.mp3'],
  ['../../etc/passwd', 'passwd'],
  ['..\\..\\windows\\win.ini', 'win.ini'],
  ['a"b\r\nSet-Cookie: x=1.mp3', 'abSet-Cookie x=1.mp3'],
  ['evil\u202Egpj.exe', 'evilgpj.exe'],
  ['zero\u200Bwidth\uFEFF.mp3', 'zerowidth.mp3'],
  ['lone\uD800surrogate.mp3', 'lonesurrogate.mp3'],
  ['line\u2028break.mp3', 'linebreak.mp3'],
  ['nul\u0000byte.mp3', 'nulbyte.mp3'],
  ['c1\u0085control.mp3', 'c1control.mp3'],
  ['...', 'download'],
  ['.hidden', 'hidden'],
  ['trailing. . ', 'trailing'],
  ['CON', '_CON'],
  ['nul.txt', '_nul.txt'],
  ['com1.mp3', '_com1.mp3'],
  ['a;b=c.mp3', 'ab=c.mp3'],
  ['e\u0301te\u0301.mp3', '\u00e9t\u00e9.mp3'],
  ['x'.repeat(400), 'x'.repeat(150)],
];

describe('sanitizeFilename', () => {
  it.each(NAMES)('%j -> %j', (name, expected) => {
    expect(sanitizeFilename(name)).toBe(expected);
  });
});

describe('contentDisposition', () => {
  it.each(NAMES)('%j stays one safe header value', (name) => {
    const value = contentDisposition(name);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for injected control characters
    expect(value).not.toMatch(/[\u0000-\u001f\u007f-\uffff]/);
    expect(value).toMatch(/^attachment; filename="[^"\\%]*"; filename\*=UTF-8''[\w%!.~-]*$/);
    expect(() => new Headers({ 'content-disposition': value })).not.toThrow();
  });

  it('keeps unicode through filename*', () => {
    expect(contentDisposition('видео.mp4')).toBe(
      `attachment; filename="_____.mp4"; filename*=UTF-8''%D0%B2%D0%B8%D0%B4%D0%B5%D0%BE.mp4`,
    );
    expect(contentDisposition('100%.mp3')).toBe(`attachment; filename="100_.mp3"; filename*=UTF-8''100%25.mp3`);
  });
});

describe('links to odd keys', () => {
  it('sign and verify keys with lone surrogates without throwing', async () => {
    const key = 'tasks/x/lone\uDC00.mp3';
    expect(keyToPath(key)).toBe('tasks/x/lone%EF%BF%BD.mp3');
    const { path } = await signLink('s', key, 60);
    const url = new URL(path, 'http://x');
    const decoded = url.pathname.slice('/files/'.length).split('/').map(decodeURIComponent).join('/');
    const check = await verifyLink(['s'], decoded, url.searchParams.get('exp'), url.searchParams.get('sig'));
    expect(check.ok).toBe(true);
  });
});
