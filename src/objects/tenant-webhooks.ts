/**
 * The tenant's webhook configuration, kept in the TenantObject's SQLite: its signing secret (created
 * on first use), the secrets being rotated out with the time each stops signing, and the default
 * target used by tasks and batches created without a `webhook` of their own.
 *
 * Rotation: the new secret signs at once; the old one keeps signing alongside it (a second signature
 * in the header) until the overlap ends, so receivers can switch over without missing a delivery.
 */
import { newWebhookSecret } from '../lib/webhook-signature.ts';
import type { WebhookTarget } from '../protocol/webhook.ts';

/** Append to the tenant object's migration list. */
export const TENANT_WEBHOOKS_MIGRATION = `
  CREATE TABLE webhook_secrets (
    secret TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    retires_at INTEGER
  );
  CREATE TABLE webhook_default (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    target TEXT NOT NULL
  );
`;

export interface SecretInfo {
  secret: string;
  createdAt: number;
  /** the secrets still signing alongside it, with when each stops */
  previous: { retiresAt: number }[];
}

export class TenantWebhooks {
  private readonly storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
  }

  private get sql() {
    return this.storage.sql;
  }

  /** The current secret (made now if there is none yet) and the ones still in their overlap. */
  current(now: number): SecretInfo {
    let row = this.sql
      .exec<{ secret: string; created_at: number }>(
        'SELECT secret, created_at FROM webhook_secrets WHERE retires_at IS NULL',
      )
      .toArray()[0];
    if (!row) {
      row = { secret: newWebhookSecret(), created_at: now };
      this.sql.exec('INSERT INTO webhook_secrets (secret, created_at) VALUES (?, ?)', row.secret, now);
    }
    const previous = this.sql
      .exec<{ retires_at: number }>(
        'SELECT retires_at FROM webhook_secrets WHERE retires_at > ? ORDER BY retires_at DESC',
        now,
      )
      .toArray()
      .map((r) => ({ retiresAt: Number(r.retires_at) }));
    return { secret: row.secret, createdAt: Number(row.created_at), previous };
  }

  /** Every secret that signs now: the current one first, then those inside their overlap. */
  signingSecrets(now: number): string[] {
    const current = this.current(now).secret;
    const older = this.sql
      .exec<{ secret: string }>('SELECT secret FROM webhook_secrets WHERE retires_at > ? ORDER BY retires_at DESC', now)
      .toArray()
      .map((r) => r.secret);
    return [current, ...older];
  }

  /** A new current secret; the old one signs alongside it for `overlapMs` more. */
  rotate(now: number, overlapMs: number): SecretInfo {
    this.storage.transactionSync(() => {
      this.current(now);
      this.sql.exec('DELETE FROM webhook_secrets WHERE retires_at IS NOT NULL AND retires_at <= ?', now);
      this.sql.exec('UPDATE webhook_secrets SET retires_at = ? WHERE retires_at IS NULL', now + overlapMs);
      this.sql.exec('INSERT INTO webhook_secrets (secret, created_at) VALUES (?, ?)', newWebhookSecret(), now);
    });
    return this.current(now);
  }

  defaultTarget(): WebhookTarget | null {
    const r = this.sql.exec<{ target: string }>('SELECT target FROM webhook_default').toArray()[0];
    return r ? (JSON.parse(r.target) as WebhookTarget) : null;
  }

  setDefault(target: WebhookTarget | null): void {
    this.sql.exec('DELETE FROM webhook_default');
    if (target) this.sql.exec('INSERT INTO webhook_default (one, target) VALUES (1, ?)', JSON.stringify(target));
  }
}
