// Live subscribers of one entity's log: Server-Sent Events and hibernatable WebSockets. A
// subscriber names the last sequence it has; the backlog after it and every later event reach it
// exactly once and in order, because the backlog is read and the subscriber registered in one
// synchronous step of the single-threaded object.
import type { RecordedEvent } from "../src/core/envelope.js";

const encoder = new TextEncoder();
// A subscriber that lets this much pile up is cut off; it reconnects with Last-Event-ID.
const MAX_BUFFERED_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 25_000;

export class LiveFeed {
  readonly #ctx: DurableObjectState;
  /** Each SSE subscriber with the bytes written to it that it has not consumed yet. */
  readonly #streams = new Map<WritableStreamDefaultWriter<Uint8Array>, { unread: number }>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(ctx: DurableObjectState) {
    this.#ctx = ctx;
  }

  openEventStream(backlog: Iterable<RecordedEvent>): Response {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    this.#streams.set(writer, { unread: 0 });
    this.#write(writer, ": subscribed\nretry: 1000\n\n");
    for (const event of backlog) this.#write(writer, sseMessage(event));
    void writer.closed.catch(() => undefined).finally(() => this.#drop(writer));
    this.#heartbeat ??= setInterval(() => {
      for (const w of this.#streams.keys()) this.#write(w, ": heartbeat\n\n");
    }, HEARTBEAT_MS);
    return new Response(readable, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" },
    });
  }

  openWebSocket(backlog: Iterable<RecordedEvent>): Response {
    const { 0: client, 1: server } = new WebSocketPair();
    this.#ctx.acceptWebSocket(server);
    for (const event of backlog) server.send(JSON.stringify(event));
    return new Response(null, { status: 101, webSocket: client });
  }

  publish(events: readonly RecordedEvent[]): void {
    if (events.length === 0) return;
    for (const writer of this.#streams.keys()) {
      for (const event of events) this.#write(writer, sseMessage(event));
    }
    for (const socket of this.#ctx.getWebSockets()) {
      try {
        for (const event of events) socket.send(JSON.stringify(event));
      } catch {
        // A socket that is closing misses nothing: its client resumes from the last seq it saw.
      }
    }
  }

  #write(writer: WritableStreamDefaultWriter<Uint8Array>, text: string): void {
    const stream = this.#streams.get(writer);
    if (!stream) return;
    const bytes = encoder.encode(text);
    if (stream.unread + bytes.byteLength > MAX_BUFFERED_BYTES) {
      this.#drop(writer);
      void writer.abort(new Error("subscriber too slow")).catch(() => undefined);
      return;
    }
    stream.unread += bytes.byteLength;
    writer.write(bytes).then(
      () => (stream.unread -= bytes.byteLength),
      () => this.#drop(writer),
    );
  }

  #drop(writer: WritableStreamDefaultWriter<Uint8Array>): void {
    this.#streams.delete(writer);
    if (this.#streams.size === 0 && this.#heartbeat !== undefined) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }
}

function sseMessage(event: RecordedEvent): string {
  return `id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`;
}
