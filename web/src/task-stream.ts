/**
 * One task's live subscription: a WebSocket to /api/tasks/:id/events that reconnects by itself and
 * resumes with `after=<last seq>`, so a dropped connection loses nothing. The server closes the socket
 * with 1000 once the task has ended; any other close is a drop, retried with a short backoff.
 *
 * Owners get every new TaskView and every connection state change; the page shows both.
 */

import type { TaskEvent, TaskSnapshot } from '../../src/protocol/task.ts';
import { parseSubscriptionMessage } from '../../src/protocol/wire.ts';
import { eventsUrl, getTask } from './api.ts';
import { applyEvent, applySnapshot, newView, type TaskView } from './task-model.ts';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'gone';

const RECONNECT_DELAYS_MS = [250, 1_000, 2_000, 4_000, 8_000];
/** The object answers "ping" with "pong" for free; a live task's socket is pinged this often. */
const PING_INTERVAL_MS = 5_000;
/**
 * No word at all (not even a pong) for this long while the task runs: the connection is dead even
 * if the browser has not noticed (a network that vanished closes nothing). The card says so and
 * the stream reconnects instead of showing a frozen "35% · 28 s left" as if it were live.
 */
const STALE_AFTER_MS = 12_000;
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

export interface StreamListener {
  view(view: TaskView): void;
  connection(state: ConnectionState, detail: string): void;
}

export class TaskStream {
  readonly id: string;
  view: TaskView;
  state: ConnectionState = 'connecting';
  /** how many times the socket dropped and was reopened (shown, and read by the browser tests) */
  reconnects = 0;
  private socket: WebSocket | null = null;
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ping: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private lastHeardAt = 0;
  private readonly listener: StreamListener;

  constructor(view: TaskView, listener: StreamListener) {
    this.id = view.snap.id;
    this.view = view;
    this.listener = listener;
  }

  static forSnapshot(snap: TaskView['snap'], listener: StreamListener): TaskStream {
    return new TaskStream(newView(snap), listener);
  }

  /** Open (or reopen) the socket, unless the task has ended and nothing more can come. */
  start(): void {
    this.stopped = false;
    this.clearTimers();
    const old = this.socket;
    this.socket = null;
    old?.close(1000, 'resubscribing');
    this.open();
  }

  /** Close for good (the card was removed). */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.socket?.close(1000, 'closed by the page');
    this.socket = null;
  }

  /** Drop the connection as a network failure would; the stream recovers by itself. For tests, too. */
  drop(): void {
    this.socket?.close(4000, 'dropped');
  }

  /** Reconnect now (the browser came back online, or the user asked). */
  reconnectNow(): void {
    if (this.stopped || this.state === 'ended' || this.state === 'gone') return;
    if (this.socket && this.socket.readyState <= WebSocket.OPEN && this.state !== 'reconnecting') return;
    this.clearTimers();
    this.abandonSocket();
    this.open();
  }

  /** The browser went offline: what the card shows is the last known state, not live. */
  offline(): void {
    if (this.stopped || this.state === 'ended' || this.state === 'gone') return;
    this.setState('reconnecting', 'offline: this is the last known state; reconnecting when the network is back');
  }

  /** Stop listening to the current socket (it is dead or being replaced) without waiting for its close. */
  private abandonSocket(): void {
    const ws = this.socket;
    this.socket = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'reconnecting');
  }

  /** Take a snapshot fetched elsewhere (after a button press), unless events already moved past it. */
  offer(snap: TaskView['snap']): void {
    if (snap.seq < Math.max(this.view.lastSeq, this.view.snap.seq)) return;
    this.update(applySnapshot(this.view, snap));
  }

  private setState(state: ConnectionState, detail = ''): void {
    this.state = state;
    this.listener.connection(state, detail);
  }

  private update(view: TaskView): void {
    this.view = view;
    this.listener.view(view);
  }

  private open(): void {
    const ws = new WebSocket(eventsUrl(this.id, this.view.lastSeq));
    this.socket = ws;
    if (this.state !== 'reconnecting') this.setState('connecting');
    ws.addEventListener('open', () => {
      if (this.socket !== ws) return;
      this.failures = 0;
      this.lastHeardAt = Date.now();
      this.setState('live');
      this.ping = setInterval(() => this.checkAlive(ws), PING_INTERVAL_MS);
    });
    ws.addEventListener('message', (m) => {
      if (this.socket !== ws) return;
      this.lastHeardAt = Date.now();
      if (this.state === 'reconnecting') this.setState('live');
      const msg = parseSubscriptionMessage<TaskSnapshot, TaskEvent>(m.data);
      if (!msg) return;
      if (msg.type === 'snapshot') {
        this.update(applySnapshot(this.view, msg.snapshot));
        return;
      }
      const before = this.view.snap.attempt;
      this.update(applyEvent(this.view, msg.event));
      if (msg.event.kind !== 'status') return;
      if (TERMINAL.has(msg.event.status)) void this.settle(ws);
      else if (msg.event.attempt !== before) void this.refresh();
    });
    ws.addEventListener('close', (e) => {
      if (this.socket !== ws) return;
      this.socket = null;
      this.clearTimers();
      if (this.stopped) return;
      if (e.code === 1000 && TERMINAL.has(this.view.snap.status)) {
        this.setState('ended');
        // Events carry no download links; the snapshot has fresh signed ones.
        void this.refresh();
        return;
      }
      void this.afterDrop(e.code);
    });
  }

  /** Ping a live socket; one that has said nothing for STALE_AFTER_MS is given up and replaced. */
  private checkAlive(ws: WebSocket): void {
    if (this.socket !== ws || ws.readyState !== WebSocket.OPEN) return;
    const silentMs = Date.now() - this.lastHeardAt;
    if (silentMs < STALE_AFTER_MS || TERMINAL.has(this.view.snap.status)) {
      ws.send('ping');
      return;
    }
    this.clearTimers();
    this.abandonSocket();
    void this.afterDrop(4000, `no word from the server for ${Math.round(silentMs / 1000)} s`);
  }

  private async afterDrop(code: number, why = `connection lost (code ${code})`): Promise<void> {
    this.failures++;
    if (this.failures >= 2) {
      // Repeated failures to even connect: ask over HTTP why (deleted task, missing key).
      try {
        const snap = await getTask(this.id);
        this.offer(snap);
      } catch (err) {
        const status = (err as { status?: number }).status;
        if (status === 404) {
          this.setState('gone', 'this task no longer exists');
          return;
        }
        if (status === 401) {
          this.setState('reconnecting', 'an API key is needed (set one with the key button)');
        }
      }
    }
    if (this.stopped) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(this.failures - 1, RECONNECT_DELAYS_MS.length - 1)]!;
    this.reconnects++;
    this.setState('reconnecting', `${why}; this is the last known state, reconnecting in ${Math.ceil(delay / 1000)} s`);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.open();
    }, delay);
  }

  /**
   * A terminal status arrived: fetch the snapshot (it has the signed download links events lack) and,
   * when nothing came after the end, close our side. The server closes too, but its close frame can
   * arrive seconds late (seen through wrangler dev), and the page should not wait on it.
   */
  private async settle(ws: WebSocket): Promise<void> {
    let snap: TaskView['snap'];
    try {
      snap = await getTask(this.id);
    } catch {
      return;
    }
    this.offer(snap);
    if (this.socket !== ws || !TERMINAL.has(snap.status) || snap.seq > this.view.lastSeq) return;
    this.socket = null;
    this.clearTimers();
    ws.close(1000, 'task ended');
    this.setState('ended');
  }

  private async refresh(): Promise<void> {
    try {
      this.offer(await getTask(this.id));
    } catch {
      /* the socket carries on; the next snapshot will do */
    }
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.ping) clearInterval(this.ping);
    this.timer = null;
    this.ping = null;
  }
}
