// The OpenAPI shapes the Durable Streams routes share: the protocol's read query (offset, live,
// cursor) and its answers, whose meaning is mostly in headers (PROTOCOL.md §5). Used by the route
// declarations in edge/streams/ and cloud/projections/view-change-stream.ts.
import { z } from "zod";

/** What a read whose query breaks a rule is told, by parameter (the router's and the hosts' refusals alike). */
export const READ_QUERY_RULES = {
  offset: "offset must be -1, now, or a Stream-Next-Offset this stream returned",
  live: "live must be long-poll or sse",
  cursor: "cursor must be the Stream-Cursor a live answer gave (at most 256 characters)",
} as const;

/** The read query of every stream: where to start, whether to wait, and the cursor to echo. */
export const streamReadQuery = z.object({
  offset: z
    .string()
    .max(256, READ_QUERY_RULES.offset)
    .optional()
    .describe("-1 (start), now (tail), or a Stream-Next-Offset"),
  live: z.enum(["long-poll", "sse"], { error: READ_QUERY_RULES.live }).optional().describe("live mode"),
  cursor: z.string().max(256, READ_QUERY_RULES.cursor).optional().describe("the last Stream-Cursor, echoed"),
});

/** A response with no body, described by its headers (Stream-Next-Offset, Stream-Up-To-Date…). */
export function noBody(description: string) {
  return { description };
}

/** A read's answer: the stream's bytes (JSON array in JSON mode) or, live, Server-Sent Events. */
export function streamBytes(description: string) {
  return { description, content: { "*/*": { schema: z.string() }, "text/event-stream": { schema: z.string() } } };
}

/** The answers of a read-only stream's GET (and HEAD). */
export const readOnlyStreamResponses = {
  200: streamBytes("a JSON array of the messages after the offset (or, live=sse, Server-Sent Events)"),
  204: noBody("long-poll timed out with nothing new"),
  304: noBody("If-None-Match matched"),
} as const;
