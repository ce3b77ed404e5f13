/**
 * `npm start`'s terminal: what wrangler dev printed (captured from a real run) becomes one plain line
 * per failed request, with no raw colour codes in a file and no cron notice a user cannot act on.
 */
import { describe, expect, it } from 'vitest';
import { createWorkerFilter } from '../../scripts/dev-output.mjs';

const E = '\u001b';
const CAPTURED = [
  `${E}[33m▲ ${E}[43;33m[${E}[43;30mWARNING${E}[43;33m]${E}[0m ${E}[1mScheduled Workers are not automatically triggered during local development.${E}[0m`,
  '  To manually trigger a scheduled event, run:',
  '    curl "http://127.0.0.1:18931/cdn-cgi/local/scheduled"',
  `  For more details, see ${E}[4mhttps://developers.cloudflare.com/workers/configuration/cron-triggers/#test-cron-triggers-locally${E}[0m`,
  '',
  `${E}[33m▲ ${E}[43;33m[${E}[43;30mWARNING${E}[43;33m]${E}[0m ${E}[1m{"level":"warn","msg":"request","method":"GET","path":"/api/tasks/nosuchtaskxxxxxxxxxx","status":404,"ms":8,"tenant":"local","task":"nosuchtaskxxxxxxxxxx","code":"task.not_found"}${E}[0m`,
  `${E}[31m✘ ${E}[41;31m[${E}[41;97mERROR${E}[41;31m]${E}[0m ${E}[1m{"level":"error","msg":"request","method":"POST","path":"/api/tasks","status":500,"ms":12,"code":"internal"}${E}[0m`,
  `${E}[33m▲ ${E}[43;33m[${E}[43;30mWARNING${E}[43;33m]${E}[0m ${E}[1mSomething else worth knowing${E}[0m`,
];

function run(lines: string[], color = false): string[] {
  const filter = createWorkerFilter({ color });
  return lines.map(filter).filter((l): l is string => l !== null);
}

describe("npm start's Worker output", () => {
  it('prints each failed request as one plain line and drops the cron notice, in a file', () => {
    expect(run(CAPTURED)).toEqual([
      'warn GET /api/tasks/nosuchtaskxxxxxxxxxx -> 404 task.not_found (8 ms)',
      'error POST /api/tasks -> 500 internal (12 ms)',
      'warn Something else worth knowing',
    ]);
  });

  it('colours only the level word on a terminal', () => {
    const [first] = run(CAPTURED.slice(5, 6), true);
    expect(first).toBe(`${E}[33mwarn${E}[0m GET /api/tasks/nosuchtaskxxxxxxxxxx -> 404 task.not_found (8 ms)`);
  });

  it("prints the local engine's undecorated request lines the same way", () => {
    const line =
      '{"level":"warn","msg":"request","method":"GET","path":"/api/tasks/x","status":404,"ms":6,"code":"task.not_found"}';
    expect(run([line])).toEqual(['warn GET /api/tasks/x -> 404 task.not_found (6 ms)']);
  });

  it('passes other lines through unchanged', () => {
    expect(run(['{"level":"info","msg":"request","status":200,"ms":1500}', 'Ready on http://127.0.0.1:8787'])).toEqual([
      '{"level":"info","msg":"request","status":200,"ms":1500}',
      'Ready on http://127.0.0.1:8787',
    ]);
  });
});
