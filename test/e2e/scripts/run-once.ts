/**
 * A user's script with the typed client, run as its own Node process by client-exit.test.ts:
 * `cy.run()` one task, print what onProgress saw, and end without calling process.exit, so the
 * process lives exactly as long as the client keeps it alive.
 */
import { Clipyard, type TaskProgress } from '../../../src/client/index.ts';

const [url, media] = process.argv.slice(2) as [string, string];
const cy = new Clipyard({ url });
const seen: Pick<TaskProgress, 'status' | 'stage' | 'progress' | 'message'>[] = [];
const task = await cy.run(
  { input: { url: media }, steps: [{ op: 'audio', format: 'mp3' }] },
  { onProgress: (p) => seen.push({ status: p.status, stage: p.stage, progress: p.progress, message: p.message }) },
);
process.stdout.write(`${JSON.stringify({ status: task.status, seen, doneAt: Date.now() })}\n`);
