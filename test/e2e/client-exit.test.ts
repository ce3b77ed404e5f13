/**
 * The typed client from a user's own script, as a child process: it exits as soon as `cy.run()` has
 * the terminal event (no socket or timer keeps it alive until the server's close arrives), and its
 * onProgress calls are not repeated for updates that change nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseUrl, mediaUrl } from './client.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LOCAL_NODE = path.join(ROOT, 'node_modules/.bin/node');
const NODE = existsSync(LOCAL_NODE) ? LOCAL_NODE : process.execPath;
/** Far below the 15 s a lingering WebSocket close kept such a script alive; far above a normal exit. */
const EXIT_WITHIN_MS = 3_000;

interface Result {
  status: string;
  seen: { status: string; stage: string | null; progress: number; message: string }[];
  doneAt: number;
}

function runScript(): Promise<{ result: Result; exitedAt: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      NODE,
      [path.join(import.meta.dirname, 'scripts/run-once.ts'), baseUrl(), mediaUrl('clip.mp4')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const exitedAt = Date.now();
      try {
        resolve({ result: JSON.parse(stdout) as Result, exitedAt, code, stderr });
      } catch {
        reject(new Error(`no result (exit ${code}): ${stdout}${stderr}`));
      }
    });
  });
}

describe('the typed client in a script of its own', () => {
  it('exits as soon as cy.run() has the result, and reports each distinct update once', async () => {
    const { result, exitedAt, code, stderr } = await runScript();
    expect(code, stderr).toBe(0);
    expect(result.status).toBe('succeeded');
    expect(exitedAt - result.doneAt).toBeLessThan(EXIT_WITHIN_MS);
    const keys = result.seen.map((p) => JSON.stringify(p));
    const repeats = keys.filter((k, i) => i > 0 && k === keys[i - 1]);
    expect(repeats).toEqual([]);
    expect(result.seen.at(-1)).toMatchObject({ status: 'succeeded', progress: 100 });
  });
});
