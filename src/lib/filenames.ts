/**
 * Safe download filenames for Content-Disposition: no header injection, no path parts, unicode kept
 * through RFC 5987 `filename*`, with a plain ASCII fallback.
 *
 * Dropped: control characters (CR/LF included), quotes, backslashes and other characters that are
 * special in headers or file systems, lone surrogates (they cannot be percent-encoded), and
 * invisible formatting characters such as the bidi overrides that make `evil\u202Egpj.exe` display
 * as `evilexe.jpg`. Names that would mean something to a file system (`..`, `CON`, `nul.txt`) get a
 * harmless prefix. Used by uploads (the stored name) and signed downloads (the header).
 */

/** Longest filename kept, in characters. */
export const MAX_FILENAME_LENGTH = 150;

/** Names Windows reserves whatever their extension. */
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

function keep(ch: string): boolean {
  const c = ch.codePointAt(0) ?? 0;
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return false; // C0 and C1 controls, DEL
  if (c >= 0xd800 && c <= 0xdfff) return false; // a lone surrogate (pairs arrive as one code point)
  if (c === 0x2028 || c === 0x2029) return false; // line and paragraph separators
  if (/\p{Cf}/u.test(ch)) return false; // bidi overrides, zero-width joiners, BOM, soft hyphen
  return !'"\\;:*?<>|'.includes(ch);
}

export function sanitizeFilename(name: string, fallback = 'download'): string {
  const base = String(name).normalize('NFC').split(/[\\/]/).pop() ?? '';
  const cleaned = Array.from(base)
    .filter(keep)
    .join('')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '')
    .slice(0, MAX_FILENAME_LENGTH);
  if (!cleaned) return fallback;
  return RESERVED.test(cleaned) ? `_${cleaned}` : cleaned;
}

export function contentDisposition(name: string, disposition: 'attachment' | 'inline' = 'attachment'): string {
  const safe = sanitizeFilename(name);
  const ascii = Array.from(safe)
    .map((ch) => ((ch.codePointAt(0) ?? 0) < 0x7f && ch !== '%' ? ch : '_'))
    .join('');
  const encoded = encodeURIComponent(safe).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * Types we are willing to name when serving a stored file; anything else is served as a download of
 * opaque bytes. SVG is an image that can carry script, so it is not on the list.
 */
const SAFE_TYPES = /^(audio|video|image)\/[\w.+-]+$|^application\/json$|^text\/plain(; charset=utf-8)?$/;
const UNSAFE_TYPES = /^image\/svg\+xml$|xml|html|javascript/i;

export function safeContentType(type: string): string {
  return SAFE_TYPES.test(type) && !UNSAFE_TYPES.test(type) ? type : 'application/octet-stream';
}
