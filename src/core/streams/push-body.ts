// A response body a loop writes into, with the reader's pace as backpressure and its departure as
// a value: the SSE loops of Durable Streams (the Worker's read-only streams and the tenant stream
// object) write through it. A source-backed ReadableStream rather than a TransformStream: when the
// client goes, the runtime cancels the source and the loop's next write answers false. A
// TransformStream's readable handed out of a Durable Object instead fails inside the runtime's
// pump on the next write, logged as an uncaught "Network connection lost" that no caller can catch
// (cloudflare/workers-sdk#11071). (A chunk already in the runtime's hands when the client goes can
// still draw that line locally, whatever the body: README, "Run it, test it".)

/**
 * Keep-alive intervals an SSE loop's write may wait for its reader before the reader counts as
 * gone (`pushBody`'s `stallMs`): a reader that is there takes a write at least once an interval,
 * and three, 60 s at the default 20 s, is nginx's default `send_timeout`.
 */
export const SSE_STALL_KEEPALIVES = 3;

/** The writing side of a {@link pushBody}. */
export interface PushBodyWriter {
  /**
   * Enqueues `bytes` and resolves once the reader has asked for more: true while the reader is
   * there, false once it has gone or has taken nothing for the body's `stallMs` (the bytes are
   * then dropped, and so are all later ones).
   */
  write(bytes: Uint8Array): Promise<boolean>;
  /** Ends the body (the reader sees its end after what was written); idempotent. */
  close(): void;
}

/**
 * A byte stream for a `Response` body and its writer. High-water mark 0 (WHATWG Streams §4.5):
 * nothing is queued ahead of the reader beyond the chunk it is being handed, so a loop that awaits
 * each `write` holds at most one chunk for a slow reader.
 *
 * `stallMs`: how long one write may wait for the reader to take it. Past it the reader counts as
 * gone (the write answers false and the body errors, which ends the response), as nginx's
 * `send_timeout` bounds the wait between two writes to a client: a client that stays connected
 * but stops reading, or whose departure never reaches the runtime (a half-open connection), would
 * otherwise hold the loop, and the object it runs in, for good.
 */
export function pushBody(stallMs: number): {
  readonly body: ReadableStream<Uint8Array>;
  readonly writer: PushBodyWriter;
} {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let open = true;
  let wanted: (() => void) | undefined;
  const release = () => {
    wanted?.();
    wanted = undefined;
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start: (c) => {
        controller = c;
      },
      pull: release,
      cancel: () => {
        open = false;
        release();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    body,
    writer: {
      write: async (bytes) => {
        if (!open || controller === undefined) return false;
        const asked = new Promise<boolean>((resolve) => {
          wanted = () => resolve(true);
        });
        controller.enqueue(bytes);
        let stop = () => {};
        const stalled = new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), stallMs);
          stop = () => clearTimeout(timer);
        });
        const taken = await Promise.race([asked, stalled]);
        stop();
        if (!taken && open) {
          open = false;
          wanted = undefined;
          controller.error(new Error(`the reader took no bytes for ${stallMs} ms`));
        }
        return open;
      },
      close: () => {
        if (!open) return;
        open = false;
        release();
        try {
          controller?.close();
        } catch {
          // Already closed or errored by the runtime.
        }
      },
    },
  };
}
