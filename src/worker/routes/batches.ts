/**
 * /api/batches: many tasks at once. Create (up to MAX_BATCH_TASKS task bodies, each validated and
 * checked like POST /api/tasks before anything is created), the batch's snapshot, its event stream,
 * cancel (every unfinished task), and a zip of all its outputs.
 *
 * Each handler reaches the batch's own Durable Object by id; the children are ordinary tasks.
 */
import { Hono } from 'hono';
import { isTaskId, newTaskId } from '../../lib/ids.ts';
import { checkUrl } from '../../lib/url-safety.ts';
import type { NewChild } from '../../objects/batch-store.ts';
import { allowHosts } from '../../objects/config.ts';
import { createBatchSchema, MAX_BATCH_BODY_BYTES, MAX_BATCH_TASKS } from '../../protocol/batch.ts';
import { ClipyardError, knownError, unwrap } from '../../protocol/errors.ts';
import { type CreateTaskBody, createTaskSchema } from '../../protocol/task.ts';
import type { AppEnv } from '../auth.ts';
import { expandPlaylist } from '../playlist-batch.ts';
import { admitTasks } from '../rate-limit.ts';
import { forwardSubscription } from '../subscribe.ts';
import { jsonBody, validate } from '../validate.ts';
import { checkWebhookTarget, resolveWebhook } from '../webhook-target.ts';
import { archiveResponse } from './batch-archive.ts';

export const batches = new Hono<AppEnv>();

const encoder = new TextEncoder();
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

async function sha256Hex(text: string): Promise<string> {
  return Array.from(await sha256(text), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** An id in the task id alphabet derived from `text` (unguessable when `text` holds a random id). */
async function derivedId(text: string): Promise<string> {
  return Array.from((await sha256(text)).slice(0, 20), (b) => ALPHABET[b & 31]).join('');
}

function batchStub(env: Env, id: string) {
  if (!isTaskId(id)) throw new ClipyardError('batch.not_found', 'no such batch', { status: 404 });
  return env.BATCHES.getByName(id);
}

function links(origin: string, id: string) {
  return {
    self: `${origin}/api/batches/${id}`,
    events: `${origin.replace(/^http/, 'ws')}/api/batches/${id}/events`,
    archive: `${origin}/api/batches/${id}/archive`,
  };
}

/** Re-say a task's validation error for the task at `index`, keeping its code. */
function forTask(index: number, thrown: unknown): unknown {
  const err = knownError(thrown);
  if (!err) return thrown;
  const at = `tasks[${index}]`;
  const m = err.message;
  const message = m.startsWith('body') ? at + m.slice(4) : m.startsWith('[') ? at + m : `${at}.${m}`;
  return new ClipyardError(err.code, message, { status: err.status, retryable: err.retryable });
}

/** Check one task's input the way POST /api/tasks does; returns its R2 key when it has one. */
async function resolveInput(env: Env, tenant: string, body: CreateTaskBody): Promise<string | null> {
  if ('url' in body.input) {
    const check = checkUrl(body.input.url, allowHosts(env));
    if (!check.ok) throw new ClipyardError(check.code, `input.url: ${check.message}`, { status: 400 });
    body.input = { url: check.url.href };
    return null;
  }
  if ('upload' in body.input) {
    const key = `uploads/${tenant}/${body.input.upload}`;
    if (!/^[a-z2-7]{20}$/.test(body.input.upload) || !(await env.BUCKET.head(key))) {
      throw new ClipyardError('input.invalid', `input: no upload with id ${body.input.upload}`, { status: 400 });
    }
    return key;
  }
  if (!isTaskId(body.input.task)) {
    throw new ClipyardError('input.invalid', `input: no task with id ${body.input.task}`, { status: 400 });
  }
  const source = env.TASKS.getByName(body.input.task);
  return (await unwrap(source.outputKey(tenant, body.input.output))).key;
}

batches.post('/', async (c) => {
  const envelope = await jsonBody(c.req.raw, createBatchSchema, MAX_BATCH_BODY_BYTES);
  const tenant = c.get('tenant');
  const origin = new URL(c.req.url).origin;
  if (envelope.playlist === undefined && envelope.steps !== undefined) {
    throw new ClipyardError('request.invalid', 'steps go with playlist; a list of tasks names steps in each', {
      status: 400,
    });
  }
  const given =
    envelope.playlist !== undefined
      ? await expandPlaylist(c.env, envelope)
      : { tasks: envelope.tasks ?? [], label: envelope.label ?? null };
  const taskBodies = given.tasks;
  if (taskBodies.length === 0) {
    throw new ClipyardError('request.invalid', 'tasks: give at least one task body', { status: 400 });
  }
  if (taskBodies.length > MAX_BATCH_TASKS) {
    throw new ClipyardError(
      'batch.too_many',
      `tasks: ${taskBodies.length} task bodies; a batch holds at most ${MAX_BATCH_TASKS}`,
      { status: 400 },
    );
  }
  const bodies = taskBodies.map((t, i) => {
    try {
      const body = validate(createTaskSchema, t);
      if (body.webhook) body.webhook = checkWebhookTarget(c.env, body.webhook);
      return body;
    } catch (err) {
      throw forTask(i, err);
    }
  });
  // Every input is checked before anything is created; the first bad one (by index) is the answer.
  const resolved = await Promise.allSettled(bodies.map((b) => resolveInput(c.env, tenant, b)));
  const inputKeys = resolved.map((r, i) => {
    if (r.status === 'rejected') throw forTask(i, r.reason);
    return r.value;
  });

  const webhook = await resolveWebhook(c.env, tenant, envelope.webhook);
  const idemKey = c.req.header('idempotency-key');
  if (idemKey !== undefined && (idemKey.length === 0 || idemKey.length > 200)) {
    throw new ClipyardError('request.invalid', 'Idempotency-Key must be 1-200 characters', { status: 400 });
  }
  const id = idemKey ? await derivedId(`batch\n${tenant}\n${idemKey}`) : newTaskId();
  const children: NewChild[] = await Promise.all(
    bodies.map(async (body, i) => ({
      taskId: await derivedId(`batch-child\n${id}\n${i}`),
      body,
      inputKey: inputKeys[i] ?? null,
      bodyHash: await sha256Hex(JSON.stringify(body)),
    })),
  );
  // Every child counts against the tenant's daily quota; the batch is admitted whole or not at all,
  // in one tenant call (each child's own create then finds its id admitted and is not counted again).
  const giveBack = await admitTasks(
    c.env,
    tenant,
    children.map((ch) => ch.taskId),
  );
  const bodyHash = await sha256Hex(JSON.stringify(envelope));
  const { snapshot, created } = await unwrap(
    batchStub(c.env, id).create({ id, tenant, label: given.label, bodyHash, origin, children, webhook }),
  ).catch(async (err: unknown) => {
    await giveBack();
    throw err;
  });
  return c.json(
    {
      id,
      status: snapshot.status,
      created,
      taskIds: snapshot.children.map((ch) => ch.id),
      links: links(origin, id),
      batch: snapshot,
    },
    created ? 202 : 200,
  );
});

batches.get('/:id', async (c) => {
  const snapshot = await unwrap(batchStub(c.env, c.req.param('id')).get(c.get('tenant')));
  return c.json(snapshot);
});

batches.post('/:id/cancel', async (c) => {
  const snapshot = await unwrap(batchStub(c.env, c.req.param('id')).cancel(c.get('tenant'), new URL(c.req.url).origin));
  return c.json(snapshot);
});

batches.get('/:id/events', (c) => forwardSubscription(c, batchStub(c.env, c.req.param('id'))));

batches.get('/:id/archive', async (c) => {
  const plan = await unwrap(batchStub(c.env, c.req.param('id')).archive(c.get('tenant')));
  return archiveResponse(c.env.BUCKET, plan);
});
