/**
 * Safe download filenames for Content-Disposition: no header injection, no path parts, unicode kept
 * through RFC 5987 `filename*`, with a plain ASCII fallback.
 */

export function sanitizeFilename(name: string, fallback = 'download'): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  // drop control characters, quotes and characters that are awkward in headers or file systems
  const cleaned = Array.from(base)
    .filter((ch) => {
      const c = ch.codePointAt(0) ?? 0;
      return c >= 0x20 && c !== 0x7f && !'"\\;:*?<>|'.includes(ch);
    })
    .join('')
    .replace(/^\.+/, '')
    .trim()
    .slice(0, 150);
  return cleaned || fallback;
}

export function contentDisposition(name: string, disposition: 'attachment' | 'inline' = 'attachment'): string {
  const safe = sanitizeFilename(name);
  const ascii = Array.from(safe)
    .map((ch) => ((ch.codePointAt(0) ?? 0) < 0x7f ? ch : '_'))
    .join('');
  const encoded = encodeURIComponent(safe).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
