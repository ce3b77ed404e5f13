/**
 * The cron sweep: deletes R2 objects that no task still owns. Each task's alarm deletes its own
 * outputs when they expire; this catches what a missed alarm or a crash mid-delete left behind,
 * and uploads nobody used within a day.
 */

const UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;
/** Objects looked at per cron run; the next run continues where this one stopped. */
const MAX_OBJECTS_PER_RUN = 5_000;
const CURSOR_KEY = 'sweep/cursor';
/** Objects younger than this are never touched: a task may be recording one right now. */
const GRACE_MS = 10 * 60 * 1000;

export interface SweepResult {
  scanned: number;
  deleted: number;
}

export async function sweep(env: Env, now = Date.now()): Promise<SweepResult> {
  let scanned = 0;
  let deleted = 0;
  const cursorObj = await env.BUCKET.get(CURSOR_KEY);
  let cursor: string | undefined = cursorObj ? await cursorObj.text() : undefined;
  while (scanned < MAX_OBJECTS_PER_RUN) {
    const page: R2Objects = await env.BUCKET.list({ cursor, limit: 500 });
    const doomed: string[] = [];
    for (const object of page.objects) {
      scanned++;
      if (now - object.uploaded.getTime() < GRACE_MS) continue;
      if (object.key.startsWith('uploads/')) {
        if (now - object.uploaded.getTime() > UPLOAD_TTL_MS) doomed.push(object.key);
        continue;
      }
      const m = /^tasks\/([a-z2-7]{20})\//.exec(object.key);
      if (!m) continue;
      const owned = await env.TASKS.getByName(m[1]!).ownsKey(object.key, now);
      if (!owned) doomed.push(object.key);
    }
    if (doomed.length > 0) {
      await env.BUCKET.delete(doomed);
      deleted += doomed.length;
    }
    if (!page.truncated) {
      cursor = undefined;
      break;
    }
    cursor = page.cursor;
  }
  if (cursor) await env.BUCKET.put(CURSOR_KEY, cursor);
  else await env.BUCKET.delete(CURSOR_KEY);
  return { scanned, deleted };
}
