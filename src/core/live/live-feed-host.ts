// The live feed's whole effect sequence, one implementation for the entity's Durable Object
// (edge/entity/live-feed.ts gives it ports over ReadableStreams, hibernatable WebSockets, the
// SQLite log and the tenant gate) and the simulator (src/simulation/entity-host.ts gives it ports
// over its log model, simulated sockets and the gate model): SSE and WebSocket subscribers of one
// entity's log, their backlog read a page at a time, live pushes after a commit, the buffered
// bytes bound back to catching up, heartbeats, and the periodic re-check of every subscriber's
// principal that ends the ones of a revoked key or a suspended tenant (README: "Live streams end
// within 60 s"). The rule each push follows is src/core/live/subscription.ts; this file owns the
// order of the effects. Build one per object incarnation: SSE streams live in its memory and die
// with it; WebSockets are the runtime's, outlive it, and are found again through `sockets()` with
// their cursor and principal in their serialized attachment.
import type { RecordedEvent } from "../model/envelope.js";
import { utf8Length } from "../protocol/cloud-event.js";
import { livePush, type LivePush } from "./subscription.js";

const encoder = new TextEncoder();
/** Live pushes an SSE subscriber may leave unread before it is sent back to catching up from the log, bytes. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Events read from the log per page, for an SSE read or a WebSocket send. */
export const PAGE_EVENTS = 100;
/** Longest an SSE subscriber with nothing unread goes without a write (a comment), ms. */
export const HEARTBEAT_MS = 25_000;

/** WebSocket close codes the feed sends (4000-4999 is the application range). */
export const CLOSE_REVOKED = 4401;
export const CLOSE_SUSPENDED = 4403;
/** The backlog went past what one connection is sent: reconnect with `?after=` the last seq received. */
export const CLOSE_RESUME = 4000;
/** Bytes of backlog one WebSocket connection is sent at most (its events' JSON, UTF-8). */
export const WS_BACKLOG_BYTES = 4 * 1024 * 1024;

/** Who opened a subscription: the tenant and, for an API key, its id (null for the operator). */
export interface LivePrincipal {
  readonly tenant: string;
  readonly keyId: string | null;
}

/** A principal whose standing the tenant gate answers for (the operator's is not its to answer). */
export type KeyedPrincipal = LivePrincipal & { readonly keyId: string };

/** Whether a principal may still read: what the tenant gate answers for it. */
export type Standing = "ok" | "revoked" | "suspended";

/** What a WebSocket keeps across hibernation and evictions (its serialized attachment). */
export interface SocketAttachment {
  /** The last seq the socket was sent. */
  readonly cursor: number;
  readonly tenant: string;
  readonly keyId: string | null;
}

/** One SSE response body as the feed writes it (production: a ReadableStream's controller). */
export interface LiveStreamSink {
  /** Queues bytes for the reader; throws when the stream is gone. */
  enqueue(bytes: Uint8Array): void;
  /** The stream's desired size in bytes: negative by what is queued unread, 0 when a read may be waiting. */
  desiredSize(): number;
  /** Ends the response cleanly (already ended: no effect). */
  close(): void;
}

/**
 * The object's side of the feed. `W` is the runtime's socket. Errors: `page` may throw (a failed
 * storage read) and `send` throws on a socket that is closing; the host handles both.
 */
export interface LiveFeedPorts<W> {
  /** The log's events with seq > `after`, oldest first, at most `limit`; undefined while the entity is not loaded. Synchronous, so a page and the switch to live are one step. */
  readonly page: (after: number, limit: number) => readonly RecordedEvent[] | undefined;
  /** The object's open WebSockets (production: `ctx.getWebSockets()`), including those of earlier incarnations. */
  readonly sockets: () => readonly W[];
  /** A socket's deserialized attachment (anything: the host checks its shape). */
  readonly attachment: (socket: W) => unknown;
  readonly setAttachment: (socket: W, attachment: SocketAttachment) => void;
  /** Sends one text message; throws when the socket is closing. */
  readonly send: (socket: W, text: string) => void;
  readonly isOpen: (socket: W) => boolean;
  /** Closes a socket with a code and reason; no effect on one already closing. */
  readonly close: (socket: W, code: number, reason: string) => void;
  /** Asks the tenant gate whether a key of a tenant may still read; may reject (the check is retried). */
  readonly standing: (principal: KeyedPrincipal) => Promise<Standing>;
  /** Wall clock, ms. */
  readonly now: () => number;
  /** Yields one turn of the object (between backlog pages, so commands interleave). */
  readonly turn: () => Promise<void>;
  /** Calls `tick` every `ms` until the returned stop is called (timers die with the incarnation). */
  readonly every: (ms: number, tick: () => void) => () => void;
}

export interface LiveFeedOptions {
  /** Interval between standing checks, ms (LIVE_REVALIDATE_MS). */
  readonly revalidateMs: number;
}

/** Test-only switches that re-introduce a defect (`npm run sim:mutants`); production never sets them. */
export interface LiveMutations {
  /** L1: a live push takes every newly recorded event, whatever the subscriber's cursor. */
  readonly livePushIgnoresCursor?: boolean;
}

/** An SSE subscriber: its cursor, and whether it is live (pushed to) or catching up (paged on reads). */
export interface LiveStream {
  readonly cursor: number;
  readonly live: boolean;
}

interface StreamState extends LiveStream {
  readonly sink: LiveStreamSink;
  readonly principal: LivePrincipal;
  cursor: number;
  live: boolean;
}

/** The live subscribers of one entity object, for one incarnation of it. */
export class LiveFeedHost<W> {
  readonly #ports: LiveFeedPorts<W>;
  readonly #options: LiveFeedOptions;
  readonly #mutations: LiveMutations;
  readonly #streams = new Set<StreamState>();
  /** Sockets still sending their backlog page by page; `publish` leaves them to their pager. */
  readonly #paging = new Set<W>();
  /**
   * Sockets found from an earlier incarnation: their principal was last checked by an object that
   * no longer exists, so nothing is sent to them until a standing check of this one answers.
   */
  readonly #unverified = new Set<W>();
  /** Sockets whose pager stopped on a failed page read; the next tick resumes them. */
  readonly #stalled = new Set<W>();
  #stopTimer: (() => void) | undefined;
  #lastHeartbeat = 0;
  #checking = false;

  constructor(ports: LiveFeedPorts<W>, options: LiveFeedOptions, mutations: LiveMutations = {}) {
    this.#ports = ports;
    this.#options = options;
    this.#mutations = mutations;
    const outlived = ports.sockets();
    if (outlived.length === 0) return;
    for (const socket of outlived) this.#unverified.add(socket);
    // Their checks resume with the object, the first at once: it is what lets them be sent anything.
    this.#startTimer();
    void this.revalidate();
  }

  /** Opens an SSE subscriber after `after`; its backlog is paged by `pull`, one page per call. */
  openStream(sink: LiveStreamSink, after: number, principal: LivePrincipal): LiveStream {
    const stream: StreamState = { sink, principal, cursor: after, live: false };
    this.#streams.add(stream);
    sink.enqueue(encoder.encode(": subscribed\nretry: 1000\n\n"));
    this.#startTimer();
    return stream;
  }

  /** The stream's reader wants more: the next page of its backlog (nothing once it is live). */
  pull(stream: LiveStream): void {
    const s = this.#stream(stream);
    if (s && !s.live) this.#page(s);
  }

  /** The stream's reader went away. */
  cancel(stream: LiveStream): void {
    const s = this.#stream(stream);
    if (s) this.#dropStream(s);
  }

  /** A WebSocket the runtime accepted for this object: the backlog after `after` a page per turn, then live. */
  openWebSocket(socket: W, after: number, principal: LivePrincipal): void {
    this.#ports.setAttachment(socket, { cursor: after, tenant: principal.tenant, keyId: principal.keyId });
    this.#startTimer();
    void this.#pageSocket(socket);
  }

  /**
   * Hands events just committed (oldest first, contiguous) to the live subscribers; called in the
   * same synchronous step as the commit. Subscribers still catching up read them from the log.
   */
  publish(events: readonly RecordedEvent[]): void {
    if (events.length === 0) return;
    for (const s of this.#streams) {
      if (!s.live) continue;
      const push = this.#livePush(s.cursor, events);
      if (push.kind === "none") continue;
      // A gap means the subscriber missed something: let it catch up from the log instead.
      if (push.kind === "catch-up" || !this.#push(s, events.slice(push.from).map(sseMessage).join(""))) {
        s.live = false;
        // With nothing unread it may have a read waiting, which no later pull would answer.
        if (s.sink.desiredSize() >= 0) this.#page(s);
        continue;
      }
      s.cursor = push.cursor;
    }
    for (const socket of this.#ports.sockets()) {
      if (this.#paging.has(socket) || this.#unverified.has(socket)) continue;
      const attachment = readAttachment(this.#ports.attachment(socket));
      if (!attachment) continue;
      const push = this.#livePush(attachment.cursor, events);
      if (push.kind === "none") continue;
      // Its pager stopped (a failed read, or the object was reset while it paged): page from the log.
      if (push.kind === "catch-up") {
        void this.#pageSocket(socket);
        continue;
      }
      this.#sendAll(socket, attachment, events.slice(push.from));
    }
  }

  /** Re-checks every open subscriber's principal; ends the refused ones, lets unverified sockets be sent to. */
  async revalidate(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      // The operator's subscriptions (no key) answer to ADMIN_TOKEN, not to the tenant's standing.
      const principals = new Map<string, KeyedPrincipal>();
      for (const { principal: p } of this.#streams)
        if (p.keyId !== null) principals.set(principalKey(p), { tenant: p.tenant, keyId: p.keyId });
      for (const socket of this.#ports.sockets()) {
        const a = readAttachment(this.#ports.attachment(socket));
        if (a && a.keyId !== null) principals.set(principalKey(a), { tenant: a.tenant, keyId: a.keyId });
      }
      const answers = new Map<string, Standing>();
      await Promise.all(
        [...principals].map(async ([key, principal]) => {
          // A failed check leaves things as they were: open ones go on, unverified ones wait for the next.
          const standing = await this.#ports.standing(principal).catch(() => undefined);
          if (standing) answers.set(key, standing);
        }),
      );
      for (const s of [...this.#streams]) {
        const standing = answers.get(principalKey(s.principal));
        if (standing === undefined || standing === "ok") continue;
        this.#dropStream(s);
        // Closing (not erroring) ends the response cleanly; the client's reconnect meets 401/403.
        s.sink.close();
      }
      for (const socket of this.#ports.sockets()) {
        const a = readAttachment(this.#ports.attachment(socket));
        if (!a) continue;
        const standing = a.keyId === null ? "ok" : answers.get(principalKey(a));
        if (standing === undefined) continue;
        if (standing === "ok") {
          // Checked by this incarnation: from here it is sent to, starting with what it missed.
          if (this.#unverified.delete(socket)) void this.#pageSocket(socket);
          continue;
        }
        this.#forget(socket);
        this.#ports.close(socket, standing === "revoked" ? CLOSE_REVOKED : CLOSE_SUSPENDED, standing);
      }
    } finally {
      this.#checking = false;
      this.#stopTimerIfIdle();
    }
  }

  /** A socket went away (closed or dropped): forget what this incarnation holds of it. */
  forgetSocket(socket: W): void {
    this.#forget(socket);
    this.#stopTimerIfIdle();
  }

  #forget(socket: W): void {
    this.#paging.delete(socket);
    this.#unverified.delete(socket);
    this.#stalled.delete(socket);
  }

  #livePush(cursor: number, events: readonly RecordedEvent[]): LivePush {
    if (this.#mutations.livePushIgnoresCursor)
      return { kind: "push", from: 0, cursor: events[events.length - 1]?.seq ?? cursor };
    return livePush(cursor, events);
  }

  /**
   * Sends a socket's backlog one page per turn, reading each page just before it is sent, so the
   * log is never read whole and commands interleave between pages. workerd gives a server socket
   * no `bufferedAmount` to pace by (cloudflare/workerd#988), so what one connection may be sent of
   * its backlog is bounded instead: past WS_BACKLOG_BYTES the socket is closed with
   * CLOSE_RESUME, after the data, and the client reconnects with `?after=` its last seq. A page
   * that cannot be read stops the pager until the next tick.
   */
  async #pageSocket(socket: W): Promise<void> {
    if (this.#paging.has(socket) || this.#unverified.has(socket)) return;
    this.#paging.add(socket);
    this.#stalled.delete(socket);
    let sent = 0;
    try {
      for (;;) {
        const attachment = readAttachment(this.#ports.attachment(socket));
        if (!attachment || !this.#paging.has(socket) || !this.#ports.isOpen(socket)) return;
        const page = this.#readPage(attachment.cursor);
        if (page === undefined) {
          this.#stalled.add(socket);
          return;
        }
        sent += this.#sendAll(socket, attachment, page);
        if (!this.#ports.isOpen(socket)) return;
        // Reached the head in this same step: from here `publish` pushes to it.
        if (page.length < PAGE_EVENTS) return;
        if (sent >= WS_BACKLOG_BYTES) {
          this.#paging.delete(socket);
          this.#ports.close(socket, CLOSE_RESUME, `resume after ${page[page.length - 1]?.seq ?? attachment.cursor}`);
          return;
        }
        await this.#ports.turn();
      }
    } finally {
      this.#paging.delete(socket);
    }
  }

  /** The page of the log after `cursor`, or undefined when it cannot be read now. */
  #readPage(cursor: number): readonly RecordedEvent[] | undefined {
    try {
      return this.#ports.page(cursor, PAGE_EVENTS);
    } catch {
      return undefined;
    }
  }

  /** Sends events one message each and moves the cursor past those sent; bytes sent. */
  #sendAll(socket: W, attachment: SocketAttachment, events: readonly RecordedEvent[]): number {
    let bytes = 0;
    let cursor = attachment.cursor;
    try {
      for (const event of events) {
        const text = JSON.stringify(event);
        this.#ports.send(socket, text);
        cursor = event.seq;
        bytes += utf8Length(text);
      }
    } catch {
      // A socket that is closing misses nothing: its client resumes from the last seq it saw.
    }
    if (cursor !== attachment.cursor) this.#ports.setAttachment(socket, { ...attachment, cursor });
    return bytes;
  }

  /**
   * Queues the subscriber's next page from the log; a short page means it reached the head, and
   * from this same synchronous step on `publish` pushes to it. A page that cannot be read ends the
   * stream: its client resumes after the last id it received.
   */
  #page(s: StreamState): void {
    const page = this.#readPage(s.cursor);
    if (page === undefined) {
      this.#dropStream(s);
      s.sink.close();
      return;
    }
    if (page.length < PAGE_EVENTS) s.live = true;
    const last = page[page.length - 1];
    if (!last) return;
    s.cursor = last.seq;
    try {
      s.sink.enqueue(encoder.encode(page.map(sseMessage).join("")));
    } catch {
      this.#dropStream(s);
    }
  }

  /** Queues a live write unless the subscriber already has the bound unread; false if not sent. */
  #push(s: StreamState, text: string): boolean {
    const bytes = encoder.encode(text);
    const unread = -s.sink.desiredSize();
    if (unread + bytes.byteLength > MAX_BUFFERED_BYTES) return false;
    try {
      s.sink.enqueue(bytes);
      return true;
    } catch {
      this.#dropStream(s);
      return false;
    }
  }

  #stream(handle: LiveStream): StreamState | undefined {
    for (const s of this.#streams) if (s === handle) return s;
    return undefined;
  }

  #dropStream(s: StreamState): void {
    this.#streams.delete(s);
    this.#stopTimerIfIdle();
  }

  #startTimer(): void {
    if (this.#stopTimer !== undefined) return;
    const every = Math.max(10, Math.min(this.#options.revalidateMs, HEARTBEAT_MS));
    this.#lastHeartbeat = this.#ports.now();
    this.#stopTimer = this.#ports.every(every, () => {
      const now = this.#ports.now();
      // Sent on the last tick before HEARTBEAT_MS would pass without one.
      if (now - this.#lastHeartbeat + every > HEARTBEAT_MS) {
        this.#lastHeartbeat = now;
        // Only to subscribers with nothing unread: they are the ones a proxy might time out.
        for (const s of this.#streams) if (s.sink.desiredSize() >= 0) this.#push(s, ": heartbeat\n\n");
      }
      // A pager stopped by a failed read has no publish to wake it if the entity goes quiet.
      for (const socket of [...this.#stalled]) void this.#pageSocket(socket);
      void this.revalidate();
    });
  }

  #stopTimerIfIdle(): void {
    if (this.#stopTimer === undefined || this.#checking) return;
    // Open sockets only: the runtime lists a socket this feed closed until it lets it go, and a
    // running timer keeps the object awake, which is what keeps that socket's connection open.
    if (this.#streams.size > 0 || this.#ports.sockets().some((s) => this.#ports.isOpen(s))) return;
    this.#stopTimer();
    this.#stopTimer = undefined;
  }
}

/** One event as an SSE message: its seq as the id, so a reconnect resumes through Last-Event-ID. */
export function sseMessage(event: RecordedEvent): string {
  return `id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`;
}

function principalKey(p: LivePrincipal): string {
  return `${p.tenant}\n${p.keyId ?? ""}`;
}

/** A socket's attachment if it has the shape the feed wrote, else undefined (the socket is left alone). */
function readAttachment(raw: unknown): SocketAttachment | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const cursor: unknown = Reflect.get(raw, "cursor");
  const tenant: unknown = Reflect.get(raw, "tenant");
  const keyId: unknown = Reflect.get(raw, "keyId");
  if (typeof cursor !== "number" || typeof tenant !== "string" || (keyId !== null && typeof keyId !== "string"))
    return undefined;
  return { cursor, tenant, keyId };
}
