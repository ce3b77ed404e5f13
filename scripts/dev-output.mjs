// What `npm start` shows of the Worker's output (wrangler dev's or the local engine's). wrangler decorates every console.warn/error of the
// Worker as a coloured "▲ [WARNING]" / "✘ [ERROR]" block, so each 4xx request line became a yellow
// block, with raw escape codes when the terminal is a file; and it warns about cron triggers, which a
// user of clipyard cannot act on (the sweep runs in production; locally the task alarms do the work).
// This filter turns request lines into one readable line, keeps other warnings as plain text, drops
// the cron notice, and strips colour unless the output is a terminal. Pure: unit-tested in
// test/unit/dev-output.test.ts.

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escape codes is the point
const ANSI = /\u001b\[[0-9;]*m/g;
const DECORATED = /^(?:▲ \[WARNING\]|✘ \[ERROR\]) (.*)$/;
const CRON_NOTICE = /^▲ \[WARNING\] Scheduled Workers are not automatically triggered/;

export function stripAnsi(s) {
  return s.replace(ANSI, '');
}

/** One request-log JSON line (src/worker/request-log.ts) as people read it, or null if it is not one. */
export function formatRequestLine(text) {
  if (!text.startsWith('{')) return null;
  let r;
  try {
    r = JSON.parse(text);
  } catch {
    return null;
  }
  if (r?.msg !== 'request' || typeof r.status !== 'number') return null;
  const code = r.code ? ` ${r.code}` : '';
  const ms = typeof r.ms === 'number' ? ` (${r.ms} ms)` : '';
  return `${r.method} ${r.path} -> ${r.status}${code}${ms}`;
}

/**
 * A stateful line filter for the Worker's output: give it each line, get back the line to print or
 * null to drop it. `color` (the output is a terminal) keeps a yellow/red level word.
 */
export function createWorkerFilter({ color = false } = {}) {
  let skipping = false;
  return (raw) => {
    const line = stripAnsi(raw);
    if (CRON_NOTICE.test(line)) {
      skipping = true;
      return null;
    }
    if (skipping) {
      // the notice's indented lines and the blank line after it
      if (line.startsWith('  ') || line.trim() === '') return null;
      skipping = false;
    }
    if (line.trim() === '') return null;
    const label = (error) => {
      const word = error ? 'error' : 'warn';
      return color ? `\u001b[${error ? 31 : 33}m${word}\u001b[0m` : word;
    };
    const m = DECORATED.exec(line);
    if (!m) {
      // The local engine (Miniflare) prints the Worker's console lines undecorated: the JSON itself.
      const level = /^\{"level":"(warn|error)"/.exec(line)?.[1];
      const request = level ? formatRequestLine(line) : null;
      return request ? `${label(level === 'error')} ${request}` : line;
    }
    return `${label(line.startsWith('✘'))} ${formatRequestLine(m[1]) ?? m[1]}`;
  };
}
