// Entity logs as read-only Durable Streams: `GET /v1/entities/{type}/{id}/stream` serves an
// entity's event log in the protocol's terms (PROTOCOL.md §5.5-5.8) — catch-up, long-poll and
// SSE, HEAD for the tail — as an `application/json` stream whose messages are the recorded events
// (the same objects `/events` pages carry). The offset after event `seq` names `seq`
// (`0000000000000000_<seq, 16 digits>`), so a protocol client resumes exactly where it stopped.
// The stream exists for every id of a known entity type (empty until its first command) and is
// never closed. There is no PUT, POST or DELETE: the log changes only through commands, and
// those methods are answered 405 with `Allow` (the protocol's "append not supported"). Long-polls
// wait inside the entity's object, which wakes them as it records the next event.
import { Hono } from "hono";
import type { EntityRegistry } from "../../src/core/model/entity.js";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import { entityIdSchema } from "../../src/core/protocol/identifiers.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { serveReadOnlyStream, type LogSource } from "../../src/core/streams/read-only-stream.js";
import { entityStub } from "../stubs.js";

/** Events one read (a catch-up response, a long-poll answer, an SSE data event) carries at most. */
export const ENTITY_STREAM_PAGE = 500;
/** An SSE connection ends after this long (§10.2); the client resumes, and is authenticated again. */
export const STREAM_SSE_MAX_MS = 60_000;

/** Routes of `/v1/entities/{type}/{id}/stream` (mount with `app.route("/v1/entities", …)`). */
export function entityStreamRoutes(entities: EntityRegistry): Hono<{ Bindings: Env; Variables: RequestScope }> {
  const app = new Hono<{ Bindings: Env; Variables: RequestScope }>();
  // Hono serves HEAD through the GET route; the request's method stays HEAD.
  app.get("/:type/:id/stream", async (c) => {
    const type = c.req.param("type");
    const id = c.req.param("id");
    if (!entities.get(type)) return problemResponse(problem("not-found", `no entity type ${type}`));
    if (!entityIdSchema.safeParse(id).success) return problemResponse(problem("malformed-request", "an entity id is 1-128 of A-Z a-z 0-9 . _ ~ - (not '.' or '..')"));
    const address: EntityAddress = { tenant: c.var.tenant, entityType: type, entityId: id };
    const stub = entityStub(c.env, address);
    const source: LogSource = async (after, waitMs) => {
      const page = await stub.streamRead(address, after, ENTITY_STREAM_PAGE, waitMs);
      if (page === null) throw new Error(`entity type ${type} is not hosted`);
      return { messages: page.events.map((e) => ({ key: e.seq, json: JSON.stringify(e) })), tail: page.version };
    };
    return serveReadOnlyStream(c.req.raw, source, {
      longPollTimeoutMs: hostConfig(c.env, "entity-stream").streamLongPollTimeoutMs,
      sseMaxMs: STREAM_SSE_MAX_MS,
      etagPrefix: `entity:${type}/${id}`,
    });
  });
  return app;
}
