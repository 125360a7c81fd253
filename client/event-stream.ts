// Server-Sent Events over fetch, so a request can carry `Authorization` (EventSource cannot) in
// browsers and Node alike. Parses the text/event-stream format (WHATWG HTML §9.2.6): `data:`
// lines joined by "\n", `id:` and `event:` kept, comments and `retry:` ignored, a blank line ends a
// message.

/** One SSE message: its data, the `id` it carried (null if none) and its `event` type (absent if none: "message"). */
export interface StreamMessage {
  readonly event?: string;
  readonly id: string | null;
  readonly data: string;
}

/**
 * Feeds chunks of a stream's text and returns the complete messages they finish. Keeps the
 * unfinished tail between calls. Messages with no `data` are dropped, as EventSource does.
 */
export function sseParser(): (chunk: string) => StreamMessage[] {
  let buffer = "";
  let data: string[] = [];
  let id: string | null = null;
  let event: string | null = null;
  return (chunk) => {
    buffer += chunk;
    const messages: StreamMessage[] = [];
    for (;;) {
      const end = buffer.search(/\r\n|\r|\n/);
      if (end < 0) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
      if (line === "") {
        if (data.length > 0) messages.push({ id, data: data.join("\n"), ...(event === null ? {} : { event }) });
        data = [];
        // The type is per message; the id persists, as EventSource's last event ID does.
        event = null;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
      else if (field === "id" && !value.includes("\0")) id = value;
    }
    return messages;
  };
}

/**
 * Reads an event stream response to its end, calling `onMessage` for each message and `onChunk`
 * (if given) for each piece of text that arrives, comments (heartbeats) included. Resolves when
 * the server ends the stream; rejects on a network error (or when the request's signal aborts).
 */
export async function readEventStream(
  response: Response,
  onMessage: (message: StreamMessage) => void,
  onChunk?: () => void,
): Promise<void> {
  if (!response.body) return;
  const parse = sseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    onChunk?.();
    for (const message of parse(value)) onMessage(message);
  }
}

/**
 * Aborts `stream` once `ms` pass with no sign of life; `alive()` starts the count again (call it
 * on each chunk), `stop()` ends the watch. A connection gone half-open (a peer or a NAT that
 * dropped it silently) delivers neither data nor an error: only a deadline tells.
 */
export function silenceWatch(stream: AbortController, ms: number): { alive(): void; stop(): void } {
  let timer = setTimeout(() => stream.abort(), ms);
  return {
    alive() {
      clearTimeout(timer);
      timer = setTimeout(() => stream.abort(), ms);
    },
    stop() {
      clearTimeout(timer);
    },
  };
}
