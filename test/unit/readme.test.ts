/**
 * The README as a newcomer reads it: every code block opens and closes on a line of its own (a
 * broken fence swallows the prose after it), and the API table lists each route once.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const README = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
const lines = README.split('\n');

describe('the README', () => {
  it('has balanced code fences, each alone on its line', () => {
    const fences = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.includes('```'));
    for (const { l, i } of fences) expect(l, `line ${i + 1}`).toMatch(/^```[a-z]*$/);
    expect(fences.length % 2).toBe(0);
    // Every second fence closes a block: a bare ``` (no language).
    fences.forEach(({ l, i }, n) => {
      if (n % 2 === 1) expect(l, `line ${i + 1} should close a block`).toBe('```');
    });
  });

  it('lists each API route once', () => {
    const rows = lines.filter((l) => /^\| `(GET|POST|PUT|DELETE) /.test(l)).map((l) => l.split('|')[1]!.trim());
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.filter((r, i) => rows.indexOf(r) !== i)).toEqual([]);
  });

  it('says how to deploy without Docker, from CI, on a custom domain, and where the runner gets its settings', () => {
    const deploy = README.slice(README.indexOf('## Deploy to Cloudflare'));
    expect(deploy).toContain('--containers-rollout=none');
    expect(deploy).toContain('CLOUDFLARE_API_TOKEN');
    expect(deploy).toMatch(/custom_domain = true/);
    for (const v of ['TRANSCRIBE_ENGINE', 'CF_ACCOUNT_ID', 'CF_AI_TOKEN']) expect(deploy).toContain(v);
  });
});
