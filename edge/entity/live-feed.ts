// Live subscribers of one entity's log: Server-Sent Events and hibernatable WebSockets. A
// subscriber names the last sequence it has; the backlog after it and every later event reach it
// exactly once and in order.
//
// Every subscriber carries a cursor (the last seq it was given). It is either catching up — its
// next events are read from the log a bounded page at a time, only when it can take them — or
// live, when it has reached the head and later events are pushed to it as they are recorded.
// The switch happens in the same synchronous step that reads the last page, and `publish` runs
// synchronously after a commit, so no event falls between the two; pushing only seq > cursor
// keeps it exactly once even if they overlap.
//
// Each subscriber also carries the principal that opened it; the feed re-checks every open
// principal's standing every `revalidateMs` and ends the subscriptions of a revoked key or a
// suspended tenant (README: "Live streams end within 60 s").
import type { RecordedEvent } from "../../src/core/model/envelope.js";

const encoder = new TextEncoder();
/** Live pushes a subscriber may leave unread before it is sent back to catching up from the log. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Events read from the log per page, for an SSE read or a WebSocket send. */
export const PAGE_EVENTS = 100;
const HEARTBEAT_MS = 25_000;

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

/** Whether a principal may still read: what the tenant gate answers for it. */
export type Standing = "ok" | "revoked" | "suspended";

/** The log as the feed reads it: synchronous, so a page and the switch to live are one step. */
export interface LiveSource {
  /** Events with seq > `after`, oldest first, at most `limit`. */
  page(after: number, limit: number): RecordedEvent[];
}

export interface LiveFeedOptions {
  /** Interval between standing checks, ms. */
  readonly revalidateMs: number;
  /** Asks the authority (the tenant gate) whether a tenant's key may still read. */
  readonly standing: (principal: LivePrincipal & { readonly keyId: string }) => Promise<Standing>;
}

interface SseSubscriber {
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  readonly principal: LivePrincipal;
  readonly source: LiveSource;
  cursor: number;
  live: boolean;
}

/** What a WebSocket keeps across hibernation (serializeAttachment). */
interface SocketAttachment {
  readonly cursor: number;
  readonly tenant: string;
  readonly keyId: string | null;
}

/** The live subscribers of one entity object: its SSE streams and hibernatable WebSockets. */
export class LiveFeed {
  readonly #ctx: DurableObjectState;
  readonly #options: LiveFeedOptions;
  readonly #source: () => LiveSource | undefined;
  readonly #streams = new Set<SseSubscriber>();
  /** Sockets still sending their backlog page by page; `publish` leaves them to their pager. */
  readonly #paging = new Set<WebSocket>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastHeartbeat = 0;
  #checking = false;

  /** `source` gives the log once the entity is loaded (undefined before). */
  constructor(ctx: DurableObjectState, options: LiveFeedOptions, source: () => LiveSource | undefined) {
    this.#ctx = ctx;
    this.#options = options;
    this.#source = source;
    // Sockets survive hibernation and resets; their standing checks must resume with the object.
    if (ctx.getWebSockets().length > 0) this.#startTimer();
  }

  /** An SSE response: the backlog after `after` is read page by page as the client reads. */
  openEventStream(source: LiveSource, after: number, principal: LivePrincipal): Response {
    let subscriber: SseSubscriber | undefined;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          subscriber = { controller, principal, source, cursor: after, live: false };
          this.#streams.add(subscriber);
          controller.enqueue(encoder.encode(": subscribed\nretry: 1000\n\n"));
          this.#startTimer();
        },
        // Called only when the reader wants more (high-water mark 0): one page per call.
        pull: () => {
          if (subscriber && !subscriber.live && this.#streams.has(subscriber)) this.#page(subscriber);
        },
        cancel: () => {
          if (subscriber) this.#dropStream(subscriber);
        },
      },
      { highWaterMark: 0, size: (chunk) => chunk.byteLength },
    );
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" },
    });
  }

  /** A WebSocket: the backlog is sent a page per turn, then later events as they are recorded. */
  openWebSocket(source: LiveSource, after: number, principal: LivePrincipal): Response {
    const { 0: client, 1: server } = new WebSocketPair();
    this.#ctx.acceptWebSocket(server);
    setAttachment(server, { cursor: after, tenant: principal.tenant, keyId: principal.keyId });
    this.#startTimer();
    void this.#pageSocket(server, source);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * Hands events just committed (oldest first, contiguous) to the live subscribers; called in the
   * same synchronous step as the commit. Subscribers still catching up read them from the log.
   */
  publish(events: readonly RecordedEvent[]): void {
    if (events.length === 0) return;
    for (const s of this.#streams) {
      if (!s.live) continue;
      const fresh = events.filter((e) => e.seq > s.cursor);
      const head = fresh[0];
      if (!head) continue;
      // A gap means the subscriber missed something: let it catch up from the log instead.
      if (head.seq !== s.cursor + 1 || !this.#push(s, fresh.map(sseMessage).join(""))) {
        s.live = false;
        // With nothing unread it may have a read waiting, which no later pull would answer.
        if ((s.controller.desiredSize ?? 0) >= 0) this.#page(s);
        continue;
      }
      s.cursor = fresh[fresh.length - 1]!.seq;
    }
    for (const socket of this.#ctx.getWebSockets()) {
      if (this.#paging.has(socket)) continue;
      const attachment = getAttachment(socket);
      const fresh = attachment ? events.filter((e) => e.seq > attachment.cursor) : [...events];
      const head = fresh[0];
      if (!head) continue;
      if (attachment && head.seq !== attachment.cursor + 1) {
        // Its pager was lost (the object was reset while it paged): resume paging from the log.
        const source = this.#source();
        if (source) void this.#pageSocket(socket, source);
        continue;
      }
      try {
        for (const event of fresh) socket.send(JSON.stringify(event));
        if (attachment) setAttachment(socket, { ...attachment, cursor: fresh[fresh.length - 1]!.seq });
      } catch {
        // A socket that is closing misses nothing: its client resumes from the last seq it saw.
      }
    }
  }

  /** Ends the subscriptions a principal check refused; exposed for the periodic check. */
  async revalidate(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      // The operator's subscriptions (no key) answer to ADMIN_TOKEN, not to the tenant's standing.
      const principals = new Map<string, LivePrincipal & { readonly keyId: string }>();
      for (const { principal: p } of this.#streams)
        if (p.keyId !== null) principals.set(principalKey(p), { tenant: p.tenant, keyId: p.keyId });
      for (const socket of this.#ctx.getWebSockets()) {
        const a = getAttachment(socket);
        if (a && a.keyId !== null) principals.set(principalKey(a), { tenant: a.tenant, keyId: a.keyId });
      }
      const refused = new Map<string, Standing>();
      await Promise.all(
        [...principals].map(async ([key, principal]) => {
          const standing = await this.#options.standing(principal).catch((): Standing => "ok");
          if (standing !== "ok") refused.set(key, standing);
        }),
      );
      if (refused.size === 0) return;
      for (const s of [...this.#streams]) {
        if (!refused.has(principalKey(s.principal))) continue;
        this.#dropStream(s);
        // Closing (not erroring) ends the response cleanly; the client's reconnect meets 401/403.
        try {
          s.controller.close();
        } catch {
          // Already closed or errored.
        }
      }
      for (const socket of this.#ctx.getWebSockets()) {
        const a = getAttachment(socket);
        const standing = a && refused.get(principalKey(a));
        if (!standing) continue;
        this.#paging.delete(socket);
        try {
          socket.close(standing === "revoked" ? CLOSE_REVOKED : CLOSE_SUSPENDED, standing);
        } catch {
          // Already closing.
        }
      }
    } finally {
      this.#checking = false;
      this.#stopTimerIfIdle();
    }
  }

  /** A socket went away (closed or dropped): forget its pager. */
  forgetSocket(socket: WebSocket): void {
    this.#paging.delete(socket);
    this.#stopTimerIfIdle();
  }

  /**
   * Sends a socket's backlog one page per turn, reading each page just before it is sent, so the
   * log is never read whole and commands interleave between pages. workerd gives a server socket
   * no `bufferedAmount` to pace by (cloudflare/workerd#988), so what one connection may be sent of
   * its backlog is bounded instead: past WS_BACKLOG_BYTES the socket is closed with
   * CLOSE_RESUME, after the data, and the client reconnects with `?after=` its last seq.
   */
  async #pageSocket(socket: WebSocket, source: LiveSource): Promise<void> {
    if (this.#paging.has(socket)) return;
    this.#paging.add(socket);
    let sent = 0;
    try {
      for (;;) {
        const attachment = getAttachment(socket);
        if (!attachment || !this.#paging.has(socket) || socket.readyState !== WebSocket.OPEN) return;
        const page = source.page(attachment.cursor, PAGE_EVENTS);
        const last = page[page.length - 1];
        for (const event of page) {
          const text = JSON.stringify(event);
          socket.send(text);
          sent += encoder.encode(text).byteLength;
        }
        if (last) setAttachment(socket, { ...attachment, cursor: last.seq });
        // Reached the head in this same step: from here `publish` pushes to it.
        if (page.length < PAGE_EVENTS) return;
        if (sent >= WS_BACKLOG_BYTES) {
          this.#paging.delete(socket);
          socket.close(CLOSE_RESUME, `resume after ${last?.seq ?? attachment.cursor}`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch {
      // The socket closed under us; its client resumes from the last seq it saw.
    } finally {
      this.#paging.delete(socket);
    }
  }

  /**
   * Queues the subscriber's next page from the log; a short page means it reached the head, and
   * from this same synchronous step on `publish` pushes to it.
   */
  #page(s: SseSubscriber): void {
    const page = s.source.page(s.cursor, PAGE_EVENTS);
    if (page.length < PAGE_EVENTS) s.live = true;
    const last = page[page.length - 1];
    if (!last) return;
    s.cursor = last.seq;
    try {
      s.controller.enqueue(encoder.encode(page.map(sseMessage).join("")));
    } catch {
      this.#dropStream(s);
    }
  }

  /** Queues a live write unless the subscriber already has the bound unread; false if not sent. */
  #push(s: SseSubscriber, text: string): boolean {
    const bytes = encoder.encode(text);
    const unread = -(s.controller.desiredSize ?? 0);
    if (unread + bytes.byteLength > MAX_BUFFERED_BYTES) return false;
    try {
      s.controller.enqueue(bytes);
      return true;
    } catch {
      this.#dropStream(s);
      return false;
    }
  }

  #dropStream(s: SseSubscriber): void {
    this.#streams.delete(s);
    this.#stopTimerIfIdle();
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    const every = Math.max(10, Math.min(this.#options.revalidateMs, HEARTBEAT_MS));
    this.#lastHeartbeat = Date.now();
    this.#timer = setInterval(() => {
      const now = Date.now();
      // Sent on the last tick before HEARTBEAT_MS would pass without one.
      if (now - this.#lastHeartbeat + every > HEARTBEAT_MS) {
        this.#lastHeartbeat = now;
        // Only to subscribers with nothing unread: they are the ones a proxy might time out.
        for (const s of this.#streams) if ((s.controller.desiredSize ?? 0) >= 0) this.#push(s, ": heartbeat\n\n");
      }
      void this.revalidate();
    }, every);
  }

  #stopTimerIfIdle(): void {
    if (this.#timer === undefined || this.#checking) return;
    if (this.#streams.size > 0 || this.#ctx.getWebSockets().length > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function sseMessage(event: RecordedEvent): string {
  return `id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`;
}

function principalKey(p: { readonly tenant: string; readonly keyId: string | null }): string {
  return `${p.tenant}\n${p.keyId ?? ""}`;
}

function getAttachment(socket: WebSocket): SocketAttachment | undefined {
  const raw: unknown = socket.deserializeAttachment();
  if (typeof raw !== "object" || raw === null) return undefined;
  const { cursor, tenant, keyId } = raw as Record<string, unknown>;
  if (typeof cursor !== "number" || typeof tenant !== "string" || (keyId !== null && typeof keyId !== "string"))
    return undefined;
  return { cursor, tenant, keyId };
}

function setAttachment(socket: WebSocket, attachment: SocketAttachment): void {
  socket.serializeAttachment(attachment);
}
