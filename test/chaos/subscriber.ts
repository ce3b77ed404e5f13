/**
 * A WebSocket client that behaves like a careful user's script: it assembles a task's event log from
 * the live stream, reconnects with `after=<last seq>` whenever the connection drops (for any reason:
 * a test dropping it on purpose, wrangler dev going away), and stops once it has seen the terminal
 * status event. The chaos scenarios then check that what it assembled is exactly 1..N.
 */
import type { TaskEvent, TaskSnapshot, WireMessage } from '../../src/protocol/task.ts';
import { sleep } from './harness.ts';

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

export interface Assembled {
  events: TaskEvent[];
  /** Events received again after a reconnect (must stay 0). */
  duplicates: number;
  /** Connections opened, the first included. */
  connections: number;
  /** The snapshot of the latest connection. */
  snapshot: TaskSnapshot | null;
}

export class Subscriber {
  readonly events: TaskEvent[] = [];
  duplicates = 0;
  connections = 0;
  snapshot: TaskSnapshot | null = null;
  private socket: WebSocket | null = null;
  private stopped = false;
  private readonly done: Promise<void>;
  private finish!: () => void;
  private readonly url: () => string;
  private readonly onEvent: ((e: TaskEvent) => void) | undefined;

  constructor(baseUrl: () => string, id: string, onEvent?: (e: TaskEvent) => void) {
    this.url = () => `${baseUrl().replace(/^http/, 'ws')}/api/tasks/${id}/events?after=${this.lastSeq}`;
    this.onEvent = onEvent;
    this.done = new Promise((r) => {
      this.finish = r;
    });
    this.connect();
  }

  get lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }

  get ended(): boolean {
    const last = this.events.at(-1);
    return last?.kind === 'status' && TERMINAL.has(last.status);
  }

  private connect(): void {
    if (this.stopped) return;
    this.connections++;
    const ws = new WebSocket(this.url());
    this.socket = ws;
    ws.addEventListener('message', (m) => {
      const msg = JSON.parse(String(m.data)) as WireMessage;
      if (msg.type === 'snapshot') {
        this.snapshot = msg.snapshot;
        return;
      }
      if (msg.event.seq <= this.lastSeq) {
        this.duplicates++;
        return;
      }
      this.events.push(msg.event);
      this.onEvent?.(msg.event);
      if (this.ended) this.stop();
    });
    ws.addEventListener('close', () => {
      if (this.socket !== ws || this.stopped) return;
      // Dropped before the end: come back for what was missed (after a pause if the server is gone).
      void sleep(this.connections > 50 ? 500 : 100).then(() => this.connect());
    });
  }

  /** Drop the connection from the client side, as a flaky network would; it reconnects by itself. */
  drop(): void {
    this.socket?.close();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.socket?.close();
    this.finish();
  }

  /** Resolves once the terminal status event arrived (or rejects after `timeoutMs`). */
  async untilEnded(timeoutMs = 90_000): Promise<Assembled> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no terminal event after ${timeoutMs} ms; last ${this.lastSeq}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return { events: this.events, duplicates: this.duplicates, connections: this.connections, snapshot: this.snapshot };
  }
}

/** Seqs missing from 1..last (events lost), given everything a client assembled. */
export function lostSeqs(events: readonly TaskEvent[], last: number): number[] {
  const seen = new Set(events.map((e) => e.seq));
  const lost: number[] = [];
  for (let s = 1; s <= last; s++) if (!seen.has(s)) lost.push(s);
  return lost;
}

export function statusesOf(events: readonly TaskEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'status' ? [e.status] : []));
}
