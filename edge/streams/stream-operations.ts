// The OpenAPI description of the Durable Streams routes (stream-routes.ts). The protocol's headers
// carry most of the meaning (PROTOCOL.md §5); these entries name the operations, their statuses and
// their problem statuses. HEAD is served by the GET route.
import { z } from "zod";
import type { Operation, Parameter } from "../../src/core/http/openapi.js";

const name: Parameter = { name: "name", in: "path", schema: z.string(), description: "the stream's name: /-separated segments of A-Z a-z 0-9 . _ ~ -" };
const none = (description: string) => ({ description, content: { kind: "none" as const } });

function stream(o: Omit<Operation, "tag" | "auth" | "path">): Operation {
  return { tag: "streams", auth: "tenant", path: "/v1/stream/{name}", parameters: [name], ...o };
}

export const streamOperations: readonly Operation[] = [
  stream({
    method: "put",
    operationId: "streams.create",
    summary: "create a stream, or a fork of one (idempotent for the same configuration)",
    description: "Headers: Content-Type, Stream-TTL or Stream-Expires-At, Stream-Closed, Stream-Forked-From, Stream-Fork-Offset, Stream-Fork-Sub-Offset. The body, if any, is the first message.",
    responses: { 201: none("created; Location and Stream-Next-Offset are set"), 200: none("already exists with this configuration") },
    problems: [400, 404, 409, 413],
  }),
  stream({
    method: "post",
    operationId: "streams.append",
    summary: "append to a stream, optionally closing it (Stream-Closed: true); idempotent with Producer-Id/Epoch/Seq",
    responses: { 200: none("appended by an idempotent producer"), 204: none("appended, or closed, or a producer's duplicate") },
    problems: [400, 403, 404, 409, 410, 413],
  }),
  stream({
    method: "get",
    operationId: "streams.read",
    summary: "read from an offset: catch-up, long-poll (live=long-poll) or Server-Sent Events (live=sse); HEAD gives the metadata",
    parameters: [
      name,
      { name: "offset", in: "query", schema: z.string(), description: "-1 (start), now (tail), or a Stream-Next-Offset" },
      { name: "live", in: "query", schema: z.enum(["long-poll", "sse"]), description: "live mode" },
      { name: "cursor", in: "query", schema: z.string(), description: "the last Stream-Cursor, echoed" },
    ],
    responses: { 200: { description: "the stream's bytes from the offset (a JSON array for application/json streams)", content: { kind: "event-stream" } }, 204: none("long-poll timed out, or the stream is closed at this offset"), 304: none("If-None-Match matched") },
    problems: [400, 404, 410],
  }),
  stream({
    method: "delete",
    operationId: "streams.delete",
    summary: "delete a stream (soft-deleted while forks of it exist)",
    responses: { 204: none("deleted") },
    problems: [404, 410],
  }),
  {
    method: "get",
    path: "/v1/entities/{type}/{id}/stream",
    operationId: "streams.entityLog",
    tag: "streams",
    auth: "tenant",
    summary: "an entity's event log as a read-only Durable Stream (application/json; the offset after event seq N names N); catch-up, long-poll or SSE; HEAD gives the tail",
    parameters: [
      { name: "type", in: "path", schema: z.string(), description: "entity type" },
      { name: "id", in: "path", schema: z.string(), description: "entity id" },
      { name: "offset", in: "query", schema: z.string(), description: "-1 (start), now (tail), or a Stream-Next-Offset" },
      { name: "live", in: "query", schema: z.enum(["long-poll", "sse"]), description: "live mode" },
      { name: "cursor", in: "query", schema: z.string(), description: "the last Stream-Cursor, echoed" },
    ],
    responses: { 200: { description: "a JSON array of the recorded events after the offset", content: { kind: "event-stream" } }, 204: none("long-poll timed out"), 304: none("If-None-Match matched") },
    problems: [400, 404],
  },
  {
    method: "get",
    path: "/v1/views/{view}/changes/stream",
    operationId: "streams.viewChanges",
    tag: "streams",
    auth: "tenant",
    summary: "a view's change feed as a read-only Durable Stream (application/json messages {entity, seq, type, recordedAt}); catch-up, long-poll or SSE; HEAD gives the tail",
    parameters: [
      { name: "view", in: "path", schema: z.string(), description: "view name" },
      { name: "offset", in: "query", schema: z.string(), description: "-1 (start), now (tail), or a Stream-Next-Offset" },
      { name: "live", in: "query", schema: z.enum(["long-poll", "sse"]), description: "live mode" },
      { name: "cursor", in: "query", schema: z.string(), description: "the last Stream-Cursor, echoed" },
    ],
    responses: { 200: { description: "a JSON array of the changes after the offset", content: { kind: "event-stream" } }, 204: none("long-poll timed out"), 304: none("If-None-Match matched") },
    problems: [400, 404],
  },
];
