/**
 * WebhookOutbox: the webhook deliveries of one task or batch object, kept in that object's SQLite so
 * a pending retry survives an eviction or a redeploy (at least once).
 *
 * The owning object calls `setTarget` when it is created, `enqueue` when an event happens (a task's
 * terminal status, a batch finishing), `deliverDue` from its alarm, schedules its alarm no later than
 * `nextDueAt`, `clear`s it on delete (so a deleted task delivers nothing more) and shows `deliveries`
 * in its snapshot. Each delivery keeps its id (the `webhook-id` header) across retries; each attempt
 * is signed afresh (Standard Webhooks, see webhook-signature.ts) with the tenant's current secrets.
 *
 * Its tables exist in an object whose schema created them (a batch, a task older than schema 7) or
 * once a target has been set: a new task object without a webhook never creates them (creating a
 * table writes rows), and every read answers "nothing" without them.
 *
 * The target URL passes the same rules as inputs (url-safety.ts) when the task is created and again
 * before every attempt; redirects are never followed. (Cloudflare's network does not reach private
 * addresses from a Worker, so a name that resolves to one later fails to connect.)
 */

import { checkUrl } from '../lib/url-safety.ts';
import { nextAttemptAt, verdictOf } from '../lib/webhook-schedule.ts';
import { webhookHeaders } from '../lib/webhook-signature.ts';
import type { ErrorCode } from '../protocol/errors.ts';
import {
  type DeliveryState,
  WEBHOOK_EVENTS,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookTarget,
} from '../protocol/webhook.ts';
import { allowHosts, webhookConfig } from './config.ts';

/** The outbox's tables: append this to the owning object's migration list. */
export const WEBHOOK_OUTBOX_MIGRATION = `
  CREATE TABLE webhook_target (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    origin TEXT NOT NULL
  );
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','delivered','failed','gone')),
    created_at INTEGER NOT NULL,
    next_at INTEGER
  );
  CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    at INTEGER NOT NULL,
    status INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, n)
  );
`;

/** Deliveries attempted in one deliverDue call (the rest stay due for the next alarm). */
const MAX_PER_RUN = 10;

export interface OutboxConfig {
  /** the tenant's signing secrets, current first */
  secrets: () => Promise<string[]>;
  allowHosts: readonly string[];
  delaysMs: readonly number[];
  timeoutMs: number;
  fetch?: typeof fetch;
}

type Row = Record<string, SqlStorageValue>;

/** The outbox configuration of an object owned by `tenant`, from the Worker's vars. */
export function outboxConfig(env: Env, tenant: () => string | null): OutboxConfig {
  const { delaysMs, timeoutMs } = webhookConfig(env);
  return {
    secrets: async () => {
      const t = tenant();
      if (!t) throw new Error('the owner of this outbox is gone');
      return env.TENANTS.getByName(t).webhookSigningSecrets();
    },
    allowHosts: allowHosts(env),
    delaysMs,
    timeoutMs,
  };
}

function deliveryId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `msg_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The outbox's tables one statement each, created when missing (see the header). */
const CREATE_IF_MISSING = WEBHOOK_OUTBOX_MIGRATION.split(';')
  .map((s) => s.trim())
  .filter(Boolean)
  .map((s) => s.replace('CREATE TABLE ', 'CREATE TABLE IF NOT EXISTS '));

export class WebhookOutbox {
  /** Bumped by clear(): an attempt in flight across a delete records nothing. */
  private generation = 0;
  /** whether the outbox's tables exist; undefined: not looked up yet (or the storage was cleared) */
  private tables: boolean | undefined;

  private readonly storage: DurableObjectStorage;
  private readonly config: () => OutboxConfig;

  constructor(storage: DurableObjectStorage, config: () => OutboxConfig) {
    this.storage = storage;
    this.config = config;
  }

  private get sql() {
    return this.storage.sql;
  }

  /**
   * Where this object's events go (null: nowhere); `origin` is the API origin the payload's links
   * point at (the one the object was created through).
   */
  setTarget(target: WebhookTarget | null, origin: string): void {
    if (!target) {
      if (this.hasTables()) this.sql.exec('DELETE FROM webhook_target');
      return;
    }
    for (const statement of CREATE_IF_MISSING) this.sql.exec(statement);
    this.tables = true;
    this.sql.exec('DELETE FROM webhook_target');
    const events = target.events ?? [...WEBHOOK_EVENTS];
    this.sql.exec(
      'INSERT INTO webhook_target (one, url, events, origin) VALUES (1, ?, ?, ?)',
      target.url,
      JSON.stringify(events),
      origin,
    );
  }

  /** The origin given with the target (null without a target). */
  origin(): string | null {
    if (!this.hasTables()) return null;
    const r = this.sql.exec<{ origin: string }>('SELECT origin FROM webhook_target').toArray()[0];
    return r ? r.origin : null;
  }

  target(): WebhookTarget | null {
    if (!this.hasTables()) return null;
    const r = this.sql.exec<Row>('SELECT url, events FROM webhook_target').toArray()[0];
    return r ? { url: String(r.url), events: JSON.parse(String(r.events)) as WebhookEvent[] } : null;
  }

  /**
   * Queue one delivery of `event` with `data` (the snapshot) when the target wants it; returns the
   * delivery's id, or null when there is no target or it did not ask for this event.
   */
  enqueue(event: WebhookEvent, data: unknown, now: number = Date.now()): string | null {
    const target = this.target();
    if (!target || !(target.events ?? WEBHOOK_EVENTS).includes(event)) return null;
    const id = deliveryId();
    const body = JSON.stringify({ type: event, timestamp: new Date(now).toISOString(), data });
    this.sql.exec(
      `INSERT INTO webhook_deliveries (id, event, url, body, state, created_at, next_at)
       VALUES (?, ?, ?, ?, 'pending', ?, ?)`,
      id,
      event,
      target.url,
      body,
      now,
      now,
    );
    return id;
  }

  /** When the earliest pending attempt is due, or null when nothing is pending. */
  nextDueAt(): number | null {
    if (!this.hasTables()) return null;
    const r = this.sql
      .exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM webhook_deliveries WHERE state = 'pending'")
      .one();
    return r.at ?? null;
  }

  /** Attempt every delivery that is due (each at most once per call). */
  async deliverDue(now: number = Date.now()): Promise<void> {
    if (!this.hasTables()) return;
    const due = this.sql
      .exec<Row>(
        `SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?`,
        now,
        MAX_PER_RUN,
      )
      .toArray()
      .map((r) => String(r.id));
    await Promise.all(due.map((id) => this.attempt(id)));
  }

  /**
   * The owner just created its schema without the outbox's tables (a new task object's baseline,
   * task-schema.ts): they are known missing, so no read asks sqlite_master. `setTarget` creates them.
   */
  noTables(): void {
    this.tables = false;
  }

  /** Forget every delivery and the target (the owner was deleted). */
  clear(): void {
    this.generation++;
    if (this.hasTables()) {
      this.sql.exec('DELETE FROM webhook_attempts');
      this.sql.exec('DELETE FROM webhook_deliveries');
      this.sql.exec('DELETE FROM webhook_target');
    }
    // the owner may wipe its storage next: look again
    this.tables = undefined;
  }

  private hasTables(): boolean {
    this.tables ??=
      this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'webhook_deliveries'").toArray()
        .length > 0;
    return this.tables;
  }

  /** Every delivery with its attempts, oldest first (for the snapshot). */
  deliveries(): WebhookDelivery[] {
    if (!this.hasTables()) return [];
    const attempts = new Map<string, WebhookAttempt[]>();
    for (const a of this.sql.exec<Row>('SELECT * FROM webhook_attempts ORDER BY delivery_id, n')) {
      const list = attempts.get(String(a.delivery_id)) ?? [];
      list.push({
        n: Number(a.n),
        at: Number(a.at),
        status: a.status == null ? null : Number(a.status),
        latencyMs: Number(a.latency_ms),
        error: a.error == null ? null : (JSON.parse(String(a.error)) as WebhookAttempt['error']),
      });
      attempts.set(String(a.delivery_id), list);
    }
    return this.sql
      .exec<Row>('SELECT id, event, url, state, created_at, next_at FROM webhook_deliveries ORDER BY created_at, id')
      .toArray()
      .map((r) => ({
        id: String(r.id),
        event: r.event as WebhookEvent,
        url: String(r.url),
        state: r.state as DeliveryState,
        createdAt: Number(r.created_at),
        nextAttemptAt: r.next_at == null ? null : Number(r.next_at),
        attempts: attempts.get(String(r.id)) ?? [],
      }));
  }

  private row(id: string): Row | undefined {
    if (!this.hasTables()) return undefined;
    return this.sql.exec<Row>('SELECT * FROM webhook_deliveries WHERE id = ?', id).toArray()[0];
  }

  private async attempt(id: string): Promise<void> {
    const gen = this.generation;
    const d = this.row(id);
    if (d?.state !== 'pending') return;
    const cfg = this.config();
    const n =
      Number(
        this.sql.exec<{ c: number }>('SELECT COUNT(*) AS c FROM webhook_attempts WHERE delivery_id = ?', id).one().c,
      ) + 1;
    const url = String(d.url);
    const at = Date.now();
    const check = checkUrl(url, cfg.allowHosts);
    if (!check.ok) {
      this.record(gen, id, n, at, null, 0, { code: check.code, message: `webhook.url: ${check.message}` }, 'failed');
      return;
    }
    let status: number | null = null;
    let error: WebhookAttempt['error'] = null;
    try {
      const body = String(d.body);
      const headers = await webhookHeaders(await cfg.secrets(), id, Math.floor(Date.now() / 1000), body);
      const res = await (cfg.fetch ?? fetch)(check.url.href, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'clipyard-webhooks/1', ...headers },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(cfg.timeoutMs),
      });
      status = res.status;
      await res.body?.cancel().catch(() => {});
      if (status >= 300 && status < 400) {
        error = { code: 'webhook.redirect', message: `the receiver answered ${status}; redirects are not followed` };
      } else if (verdictOf(status) === 'retry') {
        error = { code: 'webhook.http_status', message: `the receiver answered ${status}` };
      } else if (verdictOf(status) === 'gone') {
        error = { code: 'webhook.http_status', message: 'the receiver answered 410 Gone: no more attempts' };
      }
    } catch (err) {
      error = attemptError(err, cfg.timeoutMs);
    }
    const latencyMs = Date.now() - at;
    const verdict = status === null || error?.code === 'webhook.redirect' ? 'retry' : verdictOf(status);
    let state: DeliveryState = 'pending';
    let next: number | null = null;
    if (verdict === 'delivered') state = 'delivered';
    else if (verdict === 'gone') state = 'gone';
    else {
      next = nextAttemptAt(n, at, cfg.delaysMs);
      if (next === null) state = 'failed';
    }
    this.record(gen, id, n, at, status, latencyMs, error, state, next);
  }

  private record(
    gen: number,
    id: string,
    n: number,
    at: number,
    status: number | null,
    latencyMs: number,
    error: WebhookAttempt['error'],
    state: DeliveryState,
    next: number | null = null,
  ): void {
    // Deleted meanwhile (or the row is gone): nothing more is written, nothing more is sent.
    if (gen !== this.generation || !this.row(id)) return;
    this.storage.transactionSync(() => {
      this.sql.exec(
        'INSERT OR REPLACE INTO webhook_attempts (delivery_id, n, at, status, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)',
        id,
        n,
        at,
        status,
        latencyMs,
        error ? JSON.stringify(error) : null,
      );
      this.sql.exec('UPDATE webhook_deliveries SET state = ?, next_at = ? WHERE id = ?', state, next, id);
    });
  }
}

function attemptError(err: unknown, timeoutMs: number): { code: ErrorCode; message: string } {
  const name = err instanceof Error ? err.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return { code: 'webhook.timeout', message: `no answer within ${Math.round(timeoutMs / 1000)} s` };
  }
  return { code: 'webhook.unreachable', message: `could not reach the receiver: ${String(err).slice(0, 200)}` };
}
