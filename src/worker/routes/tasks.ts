/**
 * /api/tasks: create, read, subscribe, cancel, retry, delete, and output links.
 *
 * Every handler reaches the task's own Durable Object by id; the object is the only place the task's
 * state lives, so any isolate anywhere answers the same. A create is taken in by the tenant alone
 * (TenantObject.intake): the task's object is made when its slot comes or when it is first looked
 * at, and it answers every call as if it had always been there (task-intake.ts).
 */
import { Hono } from 'hono';
import { idFromIdempotencyKey, isTaskId, newTaskId } from '../../lib/ids.ts';
import { checkUrl } from '../../lib/url-safety.ts';
import { allowHosts, dailyLimits, taskConfig } from '../../objects/config.ts';
import { retryOnReset } from '../../objects/idle-release.ts';
import { type CreateTaskInit, intakeSnapshot } from '../../objects/task-intake.ts';
import type { CreateAnswer } from '../../objects/task-object.ts';
import type { IntakeAnswer } from '../../objects/tenant-object.ts';
import { ClipyardError, type RpcResult, unwrap } from '../../protocol/errors.ts';
import { createTaskSchema, TASK_STATUSES, type TaskSnapshot, type TaskStatus } from '../../protocol/task.ts';
import type { AppEnv } from '../auth.ts';
import { TooManyRequests } from '../rate-limit.ts';
import { forwardSubscription } from '../subscribe.ts';
import { jsonBody } from '../validate.ts';
import { resolveWebhook } from '../webhook-target.ts';

export const tasks = new Hono<AppEnv>();

function taskStub(env: Env, id: string) {
  if (!isTaskId(id)) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
  return env.TASKS.getByName(id);
}

type TaskStub = ReturnType<typeof taskStub>;

/**
 * One call to a task's object, made once more through a new stub if the object was releasing itself
 * from memory in the instant the call arrived (idle-release.ts): a task that exists always answers.
 */
function taskCall<R>(env: Env, id: string, call: (stub: TaskStub) => R): Promise<Awaited<R>> {
  return retryOnReset(() => taskStub(env, id), call);
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function links(origin: string, id: string) {
  return {
    self: `${origin}/api/tasks/${id}`,
    events: `${origin.replace(/^http/, 'ws')}/api/tasks/${id}/events`,
    web: `${origin}/#task=${id}`,
  };
}

tasks.post('/', async (c) => {
  const body = await jsonBody(c.req.raw, createTaskSchema);
  const tenant = c.get('tenant');
  const origin = new URL(c.req.url).origin;
  let inputKey: string | null = null;
  if ('url' in body.input) {
    const check = checkUrl(body.input.url, allowHosts(c.env));
    if (!check.ok) throw new ClipyardError(check.code, check.message, { status: 400 });
    body.input = { url: check.url.href };
  } else if ('upload' in body.input) {
    const key = `uploads/${tenant}/${body.input.upload}`;
    if (!/^[a-z2-7]{20}$/.test(body.input.upload) || !(await c.env.BUCKET.head(key))) {
      throw new ClipyardError('input.invalid', `no upload with id ${body.input.upload}`, { status: 400 });
    }
    inputKey = key;
  } else {
    const output = body.input.output;
    inputKey = (await unwrap(taskCall(c.env, body.input.task, (s) => s.outputKey(tenant, output)))).key;
  }
  const webhook = await resolveWebhook(c.env, tenant, body.webhook);
  const idemKey = c.req.header('idempotency-key');
  if (idemKey !== undefined && (idemKey.length === 0 || idemKey.length > 200)) {
    throw new ClipyardError('request.invalid', 'Idempotency-Key must be 1-200 characters', { status: 400 });
  }
  const id = idemKey ? await idFromIdempotencyKey(tenant, idemKey) : newTaskId();
  const init: CreateTaskInit = {
    id,
    tenant,
    body,
    inputKey,
    // only a replayed Idempotency-Key is ever compared with it: a fresh id needs no hash
    bodyHash: idemKey ? await sha256Hex(JSON.stringify(body)) : '',
    origin,
    webhook,
    limits: dailyLimits(c.env),
  };
  const config = taskConfig(c.env);
  // One call: the tenant takes the task in (quota, index row, slot or place in line, its init kept).
  let answer: IntakeAnswer;
  try {
    answer = await c.env.TENANTS.getByName(tenant).intake(init, config.maxConcurrentTasks, init.limits!);
  } catch (err) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'tenant intake failed', task: id, error: String(err) }));
    throw new ClipyardError('tenant.unavailable', 'the task could not be admitted just now; try again', {
      status: 503,
      retryable: true,
    });
  }
  if (answer.kind === 'refused') {
    const r = answer.refusal;
    throw new TooManyRequests(r.code, r.message, r.retryAfterSeconds, false);
  }
  if (answer.kind === 'conflict') {
    throw new ClipyardError('task.exists', 'this Idempotency-Key was already used for a different task', {
      status: 409,
    });
  }
  if (answer.kind === 'created') {
    const snapshot = intakeSnapshot(init, answer.at, body.maxAttempts ?? config.maxAttempts);
    return c.json({ id, status: snapshot.status, created: true, links: links(origin, id), task: snapshot }, 202);
  }
  // a replay: the task answers for itself (checked by its object when the tenant could not)
  const snapshot = answer.verified
    ? ((await unwrap(taskCall(c.env, id, (s) => s.get(tenant, origin)))) as TaskSnapshot)
    : await replayed(c.env, init);
  return c.json({ id, status: snapshot.status, created: false, links: links(origin, id), task: snapshot }, 200);
});

/** A replay the tenant could not check (the task no longer keeps its init there): its object compares. */
async function replayed(env: Env, init: CreateTaskInit) {
  const result = (await unwrap(
    taskCall(env, init.id, (s) => s.create(init)) as Promise<unknown> as Promise<RpcResult<CreateAnswer>>,
  )) as CreateAnswer;
  if ('refused' in result) {
    const r = result.refused;
    throw new TooManyRequests(r.code, r.message, r.retryAfterSeconds, false);
  }
  return result.snapshot;
}

tasks.get('/', async (c) => {
  const status = c.req.query('status');
  if (status && !(TASK_STATUSES as readonly string[]).includes(status)) {
    throw new ClipyardError('request.invalid', `status is one of ${TASK_STATUSES.join(', ')}`, { status: 400 });
  }
  const limit = Number(c.req.query('limit') ?? 50);
  const page = await c.env.TENANTS.getByName(c.get('tenant')).list({
    status: status as TaskStatus | undefined,
    q: c.req.query('q')?.slice(0, 200),
    limit: Number.isFinite(limit) ? limit : 50,
    cursor: c.req.query('cursor'),
  });
  return c.json(page);
});

tasks.get('/:id', async (c) => {
  const id = c.req.param('id');
  const snapshot = await unwrap(taskCall(c.env, id, (s) => s.get(c.get('tenant'), new URL(c.req.url).origin)));
  return c.json(snapshot);
});

tasks.get('/:id/events', (c) => {
  const id = c.req.param('id');
  taskStub(c.env, id);
  return forwardSubscription(c, { fetch: (request) => taskCall(c.env, id, (s) => s.fetch(request)) });
});

tasks.post('/:id/cancel', async (c) => {
  const origin = new URL(c.req.url).origin;
  const snapshot = await unwrap(taskCall(c.env, c.req.param('id'), (s) => s.cancel(c.get('tenant'), origin)));
  return c.json(snapshot);
});

tasks.post('/:id/retry', async (c) => {
  const origin = new URL(c.req.url).origin;
  const snapshot = await unwrap(taskCall(c.env, c.req.param('id'), (s) => s.retry(c.get('tenant'), origin)));
  return c.json(snapshot, 202);
});

tasks.delete('/:id', async (c) => {
  await unwrap(taskCall(c.env, c.req.param('id'), (s) => s.remove(c.get('tenant'))));
  return c.body(null, 204);
});

tasks.get('/:id/outputs/:name', async (c) => {
  const origin = new URL(c.req.url).origin;
  const url = await unwrap(
    taskCall(c.env, c.req.param('id'), (s) => s.outputLink(c.get('tenant'), c.req.param('name'), origin)),
  );
  if (!url) throw new ClipyardError('internal', 'download links are not configured (LINK_SECRET)', { status: 500 });
  c.header('cache-control', 'no-store');
  return c.redirect(url, 302);
});
