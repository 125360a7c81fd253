// Entity logs as read-only Durable Streams: `GET /v1/entities/{type}/{id}/stream` serves an
// entity's event log in the protocol's terms (PROTOCOL.md §5.5-5.8) — catch-up, long-poll and
// SSE, HEAD for the tail — as an `application/json` stream whose messages are the recorded events
// (the same objects `/events` pages carry). The offset after event `seq` names `seq`
// (`0000000000000000_<seq, 16 digits>`), so a protocol client resumes exactly where it stopped.
// The stream exists for every id of a known entity type (empty until its first command) and is
// never closed. There is no PUT, POST or DELETE: the log changes only through commands, and
// those methods are answered 405 with `Allow` (the protocol's "append not supported"). Long-polls
// wait inside the entity's object, which wakes them as it records the next event.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { EntityRegistry } from "../../src/core/model/entity.js";
import { problems, routeTable, security } from "../../src/core/http/openapi.js";
import { fail, ProblemError } from "../../src/core/http/problem.js";
import { readOnlyStreamResponses, streamReadQuery } from "../../src/core/streams/stream-openapi.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import { entityIdSchema } from "../../src/core/protocol/identifiers.js";
import { entityTypeParam } from "../entity/entity-routes.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { serveReadOnlyStream, type LogSource } from "../../src/core/streams/read-only-stream.js";
import { keyStandingCheck } from "../../src/core/streams/standing-watch.js";
import { entityStub, tenantGateStub } from "../stubs.js";

/** Events one read (a catch-up response, a long-poll answer, an SSE data event) carries at most. */
export const ENTITY_STREAM_PAGE = 500;
/** An SSE connection ends after this long (§10.2); the client resumes, and is authenticated again. */
export const STREAM_SSE_MAX_MS = 60_000;

/** Routes of `/v1/entities/{type}/{id}/stream` (mount with `app.route("/v1/entities", …)`). */
export function entityStreamRoutes(entities: EntityRegistry): OpenAPIHono<{ Bindings: Env; Variables: RequestScope }> {
  const app = routeTable<{ Bindings: Env; Variables: RequestScope }>();
  const route = createRoute({
    method: "get",
    path: "/{type}/{id}/stream",
    operationId: "streams.entityLog",
    summary:
      "an entity's event log as a read-only Durable Stream (application/json; the offset after event seq N names N); catch-up, long-poll or SSE; HEAD gives the tail",
    tags: ["streams"],
    security: security("tenant"),
    request: {
      params: z.object({
        type: entityTypeParam(entities.all().map((e) => e.type)),
        id: entityIdSchema.describe("the entity's id"),
      }),
      query: streamReadQuery,
    },
    responses: { ...readOnlyStreamResponses, ...problems("tenant", 400, 404) },
  });
  // Hono serves HEAD through the GET route; the request's method stays HEAD.
  app.openapi(route, async (c) => {
    const { type, id } = c.req.valid("param");
    if (!entities.get(type)) throw fail("not-found", `no entity type ${type}`);
    const address: EntityAddress = { tenant: c.get("tenant"), entityType: type, entityId: id };
    const stub = entityStub(c.env, address);
    const source: LogSource = async (after, waitMs) => {
      const page = await stub.streamRead(address, after, ENTITY_STREAM_PAGE, waitMs);
      if (page === null) throw new Error(`entity type ${type} is not hosted`);
      if (!page.ok) throw new ProblemError(page.problem);
      return { messages: page.events.map((e) => ({ key: e.seq, json: JSON.stringify(e) })), tail: page.version };
    };
    const config = hostConfig(c.env, "entity-stream");
    return serveReadOnlyStream(c.req.raw, source, {
      longPollTimeoutMs: config.streamLongPollTimeoutMs,
      sseMaxMs: STREAM_SSE_MAX_MS,
      etagPrefix: `entity:${type}/${id}`,
      onPark: c.get("releaseAdmission"),
      standing: keyStandingCheck(
        tenantGateStub(c.env, address.tenant),
        address.tenant,
        c.get("keyId"),
        config.liveRevalidateMs,
      ),
    });
  });
  return app;
}
