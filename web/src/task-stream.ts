/**
 * One task's live subscription on the page, through the client's own subscription
 * (src/client/subscribe.ts, the one the typed client and the CLI use): a WebSocket to
 * /api/tasks/:id/events that reconnects by itself with `after=<last seq>`, so a dropped connection
 * loses nothing, and that gives up a connection which has said nothing (not even a pong) for
 * STALE_AFTER_MS, since a network that vanished closes nothing. The stream ends at the terminal
 * status event instead of waiting for the server's close frame, which can arrive seconds late.
 *
 * Owners get every new TaskView and every connection state change; the page shows both.
 */

import { SubscriptionControl, subscribe } from '../../src/client/subscribe.ts';
import { isTerminalStatus, parseWireMessage, type WireMessage } from '../../src/protocol/task.ts';
import { eventsUrl, getTask } from './api.ts';
import { applyEvent, applySnapshot, newView, type TaskView } from './task-model.ts';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'gone';

const RECONNECT_DELAYS_MS = [250, 1_000, 2_000, 4_000, 8_000];
/** The object answers "ping" with "pong" for free; a live task's socket is pinged this often. */
const PING_INTERVAL_MS = 5_000;
/** No word at all for this long: the card says it shows the last known state, and reconnects. */
const STALE_AFTER_MS = 12_000;
/** A page stays subscribed through any number of drops; it shows each one. */
const MAX_RECONNECTS = 1_000_000;

export interface StreamListener {
  view(view: TaskView): void;
  connection(state: ConnectionState, detail: string): void;
}

/** Thrown from beforeReconnect to end the subscription: the task no longer exists. */
class Gone extends Error {}

export class TaskStream {
  readonly id: string;
  view: TaskView;
  state: ConnectionState = 'connecting';
  /** how many times the connection dropped and was reopened (shown, and read by the browser tests) */
  reconnects = 0;
  private abort: AbortController | null = null;
  private control = new SubscriptionControl();
  /** what the last HTTP check found out about a drop (a missing key), shown instead of the close code */
  private dropNote = '';
  private readonly listener: StreamListener;

  constructor(view: TaskView, listener: StreamListener) {
    this.id = view.snap.id;
    this.view = view;
    this.listener = listener;
  }

  static forSnapshot(snap: TaskView['snap'], listener: StreamListener): TaskStream {
    return new TaskStream(newView(snap), listener);
  }

  /** Subscribe (again), from the last event seen. */
  start(): void {
    this.abort?.abort();
    const abort = new AbortController();
    const control = new SubscriptionControl();
    this.abort = abort;
    this.control = control;
    if (this.state !== 'reconnecting') this.setState('connecting');
    void this.run(abort.signal, control);
  }

  /** Close for good (the card was removed). */
  stop(): void {
    this.abort?.abort();
    this.abort = null;
  }

  /** Drop the connection as a network failure would; the stream recovers by itself. For tests, too. */
  drop(): void {
    this.control.drop(4000);
  }

  /** Reconnect now (the browser came back online, or the user asked). */
  reconnectNow(): void {
    if (!this.abort || this.state === 'ended' || this.state === 'gone') return;
    // After an offline spell the open socket may be dead without knowing it: replace it.
    if (this.state === 'reconnecting') this.control.drop(4000);
    this.control.reconnectNow();
  }

  /** The browser went offline: what the card shows is the last known state, not live. */
  offline(): void {
    if (!this.abort || this.state === 'ended' || this.state === 'gone') return;
    this.setState('reconnecting', 'offline: this is the last known state; reconnecting when the network is back');
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

  private async run(signal: AbortSignal, control: SubscriptionControl): Promise<void> {
    const messages = subscribe<WireMessage>((after) => eventsUrl(this.id, after), parseWireMessage, {
      after: this.view.lastSeq,
      signal,
      control,
      reconnectDelaysMs: RECONNECT_DELAYS_MS,
      maxReconnects: MAX_RECONNECTS,
      pingIntervalMs: PING_INTERVAL_MS,
      staleAfterMs: STALE_AFTER_MS,
      onConnection: (c) => {
        if (c.state === 'open') {
          this.setState('live');
          return;
        }
        this.reconnects++;
        const why = this.dropNote || c.why;
        this.setState(
          'reconnecting',
          `${why}; this is the last known state, reconnecting in ${Math.ceil(c.retryInMs / 1000)} s`,
        );
      },
      beforeReconnect: (drop) => this.whyDropped(drop.failures),
    });
    try {
      for await (const m of messages) {
        if (this.abort?.signal !== signal) return;
        if (m.type === 'snapshot') {
          this.update(applySnapshot(this.view, m.snapshot));
          if (isTerminalStatus(m.snapshot.status) && m.snapshot.seq <= this.view.lastSeq) break;
          continue;
        }
        const before = this.view.snap.attempt;
        this.update(applyEvent(this.view, m.event));
        if (this.state !== 'live') this.setState('live');
        if (m.event.kind !== 'status') continue;
        // The terminal status is the last event: stop here rather than wait for the close frame.
        if (isTerminalStatus(m.event.status)) break;
        if (m.event.attempt !== before) void this.refresh();
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof Gone) {
        this.setState('gone', 'this task no longer exists');
        return;
      }
    }
    if (signal.aborted || this.abort?.signal !== signal) return;
    this.abort = null;
    // Events carry no download links; the snapshot has fresh signed ones.
    await this.refresh();
    this.setState('ended');
  }

  /** Before reconnecting after repeated failures, ask over HTTP why (a deleted task, a missing key). */
  private async whyDropped(failures: number): Promise<void> {
    this.dropNote = '';
    if (failures < 2) return;
    try {
      this.offer(await getTask(this.id));
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 404) throw new Gone();
      if (status === 401) this.dropNote = 'an API key is needed (set one with the key button)';
    }
  }

  private async refresh(): Promise<void> {
    try {
      this.offer(await getTask(this.id));
    } catch {
      /* the stream carries on; the next snapshot will do */
    }
  }
}
