// Entity logs as read-only Durable Streams: `GET /v1/entities/{type}/{id}/stream` serves an
// entity's event log in the protocol's terms (PROTOCOL.md §5.5-5.8) — catch-up, long-poll and
// SSE, HEAD for the tail — as an `application/json` stream whose messages are the recorded events
// (the same objects `/events` pages carry). The offset after event `seq` names `seq`
// (`0000000000000000_<seq, 16 digits>`), so a protocol client resumes exactly where it stopped.
// The stream exists for every id of a known entity type (empty until its first command) and is
// never closed. There is no PUT, POST or DELETE: the log changes only through commands, and
// those methods are answered 405 with `Allow` (the protocol's "append not supported").
import { Hono } from "hono";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { EntityRegistry } from "../../src/core/model/entity.js";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import { entityIdSchema } from "../../src/core/protocol/identifiers.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { responseCursor } from "../../src/core/streams/cursor.js";
import { jsonArray } from "../../src/core/streams/json-mode.js";
import { formatOffset, parseReadStart } from "../../src/core/streams/offsets.js";
import { controlEvent, sseEvent } from "../../src/core/streams/sse-events.js";
import { entityStub } from "../stubs.js";

/** Events one read (a catch-up response, a long-poll answer, an SSE data event) carries at most. */
export const ENTITY_STREAM_PAGE = 500;
/** An SSE connection ends after this long (§10.2); the client resumes, and is authenticated again. */
export const ENTITY_SSE_MAX_MS = 60_000;

type Env2 = { Bindings: Env; Variables: RequestScope };

/** Routes of `/v1/entities/{type}/{id}/stream` (mount with `app.route("/v1/entities", …)`). */
export function entityStreamRoutes(entities: EntityRegistry): Hono<Env2> {
  const app = new Hono<Env2>();
  // Hono serves HEAD through the GET route; c.req.method stays HEAD.
  app.get("/:type/:id/stream", async (c) => {
    const type = c.req.param("type");
    const id = c.req.param("id");
    if (!entities.get(type)) return problemResponse(problem("not-found", `no entity type ${type}`));
    if (!entityIdSchema.safeParse(id).success) return problemResponse(problem("malformed-request", "an entity id is 1-128 of A-Z a-z 0-9 . _ ~ - (not '.' or '..')"));
    const address: EntityAddress = { tenant: c.var.tenant, entityType: type, entityId: id };
    const stub = entityStub(c.env, address);
    const read = async (after: number, waitMs: number) => {
      const page = await stub.streamRead(address, after, ENTITY_STREAM_PAGE, waitMs);
      if (page === null) throw new Error(`entity type ${type} vanished`);
      return page;
    };

    if (c.req.method === "HEAD") {
      const { version } = await read(Number.MAX_SAFE_INTEGER, 0);
      return new Response(null, { status: 200, headers: { "content-type": "application/json", "stream-next-offset": formatOffset(version), "cache-control": "no-store" } });
    }

    const rawOffset = c.req.query("offset");
    const live = c.req.query("live");
    if (live !== undefined && live !== "long-poll" && live !== "sse") return problemResponse(problem("malformed-request", "live must be long-poll or sse"));
    if (live !== undefined && rawOffset === undefined) return problemResponse(problem("malformed-request", `live=${live} needs an offset`));
    const start = parseReadStart(rawOffset);
    if (start === undefined) return problemResponse(problem("malformed-request", "offset must be -1, now, or a Stream-Next-Offset this stream returned"));
    const cursor = c.req.query("cursor");
    const timeoutMs = hostConfig(c.env, "entity-stream").streamLongPollTimeoutMs;

    let after = start.kind === "after" ? start.count : 0;
    if (start.kind === "now") after = (await read(Number.MAX_SAFE_INTEGER, 0)).version;

    if (live === "sse") return eventStream(read, after, cursor, timeoutMs);
    if (start.kind === "now" && live === undefined) {
      return new Response("[]", { status: 200, headers: { "content-type": "application/json", "stream-next-offset": formatOffset(after), "stream-up-to-date": "true", "cache-control": "no-store" } });
    }

    let page = await read(after, 0);
    if (live === "long-poll" && page.events.length === 0) {
      page = await read(after, timeoutMs);
      if (page.events.length === 0) {
        return new Response(null, {
          status: 204,
          headers: { "stream-next-offset": formatOffset(after), "stream-up-to-date": "true", "stream-cursor": responseCursor(cursor, Date.now(), Math.random()), "cache-control": "no-store" },
        });
      }
    }
    const next = page.events.at(-1)?.seq ?? after;
    const tag = `"entity:${type}/${id}:${rawOffset ?? "-1"}:${formatOffset(next)}"`;
    const headers = new Headers({ "content-type": "application/json", "stream-next-offset": formatOffset(next), etag: tag });
    if (next >= page.version) headers.set("stream-up-to-date", "true");
    if (live === "long-poll") headers.set("stream-cursor", responseCursor(cursor, Date.now(), Math.random()));
    // Recorded events never change: a non-empty chunk may be cached; an empty one at the tail may not.
    headers.set("cache-control", page.events.length > 0 ? "private, max-age=60, stale-while-revalidate=300" : "no-store");
    if (c.req.header("if-none-match") === tag) return new Response(null, { status: 304, headers: { etag: tag, "cache-control": headers.get("cache-control") ?? "no-store" } });
    return new Response(render(page.events), { status: 200, headers });
  });
  return app;
}

function render(events: readonly RecordedEvent[]): string {
  return jsonArray(events.map((e) => JSON.stringify(e)));
}

/** SSE over an entity's log: a data event per page, each followed by its control event, until the connection's time is up. */
function eventStream(
  read: (after: number, waitMs: number) => Promise<{ events: readonly RecordedEvent[]; version: number }>,
  from: number,
  cursor: string | undefined,
  timeoutMs: number,
): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const deadline = Date.now() + ENTITY_SSE_MAX_MS;
  const run = async () => {
    let after = from;
    let waitMs = 0;
    for (;;) {
      const page = await read(after, waitMs);
      const parts: Uint8Array[] = [];
      if (page.events.length > 0) {
        parts.push(sseEvent("data", render(page.events)));
        after = page.events.at(-1)?.seq ?? after;
      }
      const upToDate = after >= page.version;
      parts.push(controlEvent({ streamNextOffset: formatOffset(after), streamCursor: responseCursor(cursor, Date.now(), Math.random()), ...(upToDate ? { upToDate: true as const } : {}) }));
      await writer.write(concat(parts));
      if (Date.now() >= deadline) break;
      waitMs = upToDate ? Math.min(timeoutMs, Math.max(1, deadline - Date.now())) : 0;
    }
  };
  run()
    .catch(() => undefined)
    .finally(() => writer.close().catch(() => undefined));
  return new Response(readable, { status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
