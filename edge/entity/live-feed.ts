// Live subscribers of one entity's log, Server-Sent Events and hibernatable WebSockets: the
// adapter that gives the shared feed (src/core/live/live-feed-host.ts, which owns the whole
// sequence: paging, live pushes, the buffered-bytes bound, heartbeats, standing checks and close
// codes) its ports over this object's ReadableStreams, `ctx.getWebSockets()` with each socket's
// serialized attachment, the SQLite log, the tenant gate and the isolate's timers. The simulator
// runs the same host over its models.
import {
  LiveFeedHost,
  type LivePrincipal,
  type LiveStream,
  type SocketAttachment,
  type Standing,
} from "../../src/core/live/live-feed-host.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";

export {
  CLOSE_RESUME,
  CLOSE_REVOKED,
  CLOSE_SUSPENDED,
  MAX_BUFFERED_BYTES,
  PAGE_EVENTS,
  WS_BACKLOG_BYTES,
  type LivePrincipal,
  type Standing,
} from "../../src/core/live/live-feed-host.js";

/** The log as the feed reads it: synchronous, so a page and the switch to live are one step. */
export interface LiveSource {
  /** Events with seq > `after`, oldest first, at most `limit`; may throw (a failed read). */
  page(after: number, limit: number): RecordedEvent[];
}

export interface LiveFeedOptions {
  /** Interval between standing checks, ms. */
  readonly revalidateMs: number;
  /** Asks the authority (the tenant gate) whether a tenant's key may still read. */
  readonly standing: (principal: LivePrincipal & { readonly keyId: string }) => Promise<Standing>;
}

/** The live subscribers of one entity object: its SSE streams and hibernatable WebSockets. */
export class LiveFeed {
  readonly #ctx: DurableObjectState;
  readonly #host: LiveFeedHost<WebSocket>;

  /**
   * `source` gives the log once the entity is loaded (undefined before). Built in the object's
   * constructor: sockets that outlived an earlier incarnation are found here and sent nothing
   * until a standing check of their principal answers.
   */
  constructor(ctx: DurableObjectState, options: LiveFeedOptions, source: () => LiveSource | undefined) {
    this.#ctx = ctx;
    this.#host = new LiveFeedHost<WebSocket>(
      {
        page: (after, limit) => source()?.page(after, limit),
        sockets: () => ctx.getWebSockets(),
        attachment: (socket) => socket.deserializeAttachment(),
        setAttachment: (socket, attachment: SocketAttachment) => socket.serializeAttachment(attachment),
        send: (socket, text) => socket.send(text),
        isOpen: (socket) => socket.readyState === WebSocket.OPEN,
        close: (socket, code, reason) => {
          try {
            socket.close(code, reason);
          } catch {
            // Already closing.
          }
        },
        standing: options.standing,
        now: () => Date.now(),
        turn: () => new Promise((resolve) => setTimeout(resolve, 0)),
        every: (ms, tick) => {
          const timer = setInterval(tick, ms);
          return () => clearInterval(timer);
        },
      },
      { revalidateMs: options.revalidateMs },
    );
  }

  /** An SSE response: the backlog after `after` is read page by page as the client reads. */
  openEventStream(after: number, principal: LivePrincipal): Response {
    let stream: LiveStream | undefined;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          stream = this.#host.openStream(
            {
              enqueue: (bytes) => controller.enqueue(bytes),
              desiredSize: () => controller.desiredSize ?? 0,
              close: () => {
                try {
                  controller.close();
                } catch {
                  // Already closed or errored.
                }
              },
            },
            after,
            principal,
          );
        },
        // Called only when the reader wants more (high-water mark 0): one page per call.
        pull: () => {
          if (stream) this.#host.pull(stream);
        },
        cancel: () => {
          if (stream) this.#host.cancel(stream);
        },
      },
      { highWaterMark: 0, size: (chunk) => chunk.byteLength },
    );
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" },
    });
  }

  /** A WebSocket: the backlog is sent a page per turn, then later events as they are recorded. */
  openWebSocket(after: number, principal: LivePrincipal): Response {
    const { 0: client, 1: server } = new WebSocketPair();
    this.#ctx.acceptWebSocket(server);
    this.#host.openWebSocket(server, after, principal);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Hands events just committed (oldest first, contiguous) to the live subscribers; called in the commit's step. */
  publish(events: readonly RecordedEvent[]): void {
    this.#host.publish(events);
  }

  /** Ends the subscriptions a principal check refused; exposed for the periodic check. */
  revalidate(): Promise<void> {
    return this.#host.revalidate();
  }

  /** A socket went away (closed or dropped): forget its pager. */
  forgetSocket(socket: WebSocket): void {
    this.#host.forgetSocket(socket);
  }
}
