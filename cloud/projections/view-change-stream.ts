// A view's change feed as a read-only Durable Stream: `GET /v1/views/{view}/changes/stream`, an
// `application/json` stream of the facts that changed the tenant's view (`{entity: {type, id},
// seq, type, recordedAt}`), oldest first, its offsets the feed's own positions (1, 2, 3…: no
// other feed's traffic shows in them). Written transactionally with the view (view-changes.ts).
// Long-polls and SSE poll D1 every VIEW_FEED_POLL_MS while they wait, one query per waiting reader
// per poll: D1 serves one query at a time, so many idle followers of a view cost D1 time (entity
// streams, woken by their object, do not).
//
// Retention (view-changes.ts) prunes each feed's oldest changes, a contiguous prefix. An offset
// whose next change was pruned is answered 410 `offset-gone` (the protocol's status for an offset
// before the retained data; the body is ours, problem+json) rather than served from the window
// with a silent gap; the reader starts again from `-1`, the oldest retained change. An offset
// whose own change was pruned but not the next one loses nothing and reads on.
import { drizzle } from "drizzle-orm/d1";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { problems, routeTable, security } from "../../src/core/http/openapi.js";
import { fail, ProblemError } from "../../src/core/http/problem.js";
import { readOnlyStreamResponses, streamReadQuery } from "../../src/core/streams/stream-openapi.js";
import type { Projection } from "../../src/core/model/projection.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { projectionNameSchema } from "../../src/core/protocol/identifiers.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { serveReadOnlyStream, type LogSource } from "../../src/core/streams/read-only-stream.js";
import { keyStandingCheck } from "../../src/core/streams/standing-watch.js";
import { tenantGateStub } from "../stubs.js";
import { formatOffset, offsetPastTail, parseLogReadStart } from "../../src/core/streams/offsets.js";
import { changeStanding, changeTail, prunedPast, readChanges } from "./view-changes.js";

/** How often a waiting reader of a change feed looks for new changes (ms). */
export const VIEW_FEED_POLL_MS = 500;
const PAGE = 500;
const SSE_MAX_MS = 60_000;

/** Routes of `/v1/views/{view}/changes/stream` (mount with `app.route("/v1/views", …)`). */
export function viewChangeRoutes(
  projections: readonly Projection[],
): OpenAPIHono<{ Bindings: Env; Variables: RequestScope }> {
  const app = routeTable<{ Bindings: Env; Variables: RequestScope }>();
  const names = new Set(projections.map((p) => p.name));
  const route = createRoute({
    method: "get",
    path: "/{view}/changes/stream",
    operationId: "streams.viewChanges",
    summary:
      "a view's change feed as a read-only Durable Stream (application/json messages {entity, seq, type, recordedAt}); catch-up, long-poll or SSE; HEAD gives the tail",
    tags: ["streams"],
    security: security("tenant"),
    request: {
      params: z.object({
        view: projectionNameSchema.meta({ description: "the view's name", enum: [...names] }),
      }),
      query: streamReadQuery,
    },
    responses: { ...readOnlyStreamResponses, ...problems("tenant", 400, 404, 410) },
  });
  // Hono serves HEAD through the GET route; the request's method stays HEAD.
  app.openapi(route, async (c) => {
    const { view } = c.req.valid("param");
    if (!names.has(view)) throw fail("not-found", `no view ${view}`);
    const db = drizzle(c.env.DB);
    const tenant = c.get("tenant");
    const gone = (after: number) =>
      fail("offset-gone", `offset ${formatOffset(after)} is before the feed's retained window; read again from -1`);
    // Checked before answering, so SSE and long-poll readers get the 410 (or the 400) too, not an
    // event stream.
    const start = parseLogReadStart(c.req.query("offset"));
    // Position 0 too: it is the offset of an empty feed, whose reader has read none of what came since.
    if (c.req.method !== "HEAD" && start?.kind === "after") {
      const { next, tail } = await changeStanding(db, tenant, view, start.count);
      const pastTail = offsetPastTail(start.count, tail, "feed");
      if (pastTail) throw new ProblemError(pastTail);
      if (prunedPast(start.count, next)) throw gone(start.count);
    }
    // Only the first read from `-1` starts wherever the window now starts; every later read (and
    // every read from an offset, 0 included) must find the change after its position kept.
    let fromWindowStart = start?.kind === "start";
    const source: LogSource = async (after, waitMs) => {
      if (after === Number.MAX_SAFE_INTEGER) return { messages: [], tail: await changeTail(db, tenant, view) };
      const checked = !fromWindowStart;
      fromWindowStart = false;
      const deadline = Date.now() + waitMs;
      for (;;) {
        // Read from the offset's own change: if pruning overtook the reader (an SSE connection
        // far behind), the next page would otherwise skip what was pruned.
        const read = await readChanges(db, tenant, view, after, PAGE + 1);
        if (checked && prunedPast(after, read[0]?.position ?? null)) throw gone(after);
        const rows = (read[0]?.position === after ? read.slice(1) : read).slice(0, PAGE);
        if (rows.length > 0 || Date.now() >= deadline) {
          // Fewer than a page means nothing newer exists: the tail is the last change read (or `after`).
          const tail = rows.length < PAGE ? (rows.at(-1)?.position ?? after) : await changeTail(db, tenant, view);
          return { messages: rows.map((r) => ({ key: r.position, json: JSON.stringify(r.change) })), tail };
        }
        await new Promise((r) => setTimeout(r, Math.min(VIEW_FEED_POLL_MS, Math.max(1, deadline - Date.now()))));
      }
    };
    const config = hostConfig(c.env, "view-feed");
    return serveReadOnlyStream(c.req.raw, source, {
      longPollTimeoutMs: config.streamLongPollTimeoutMs,
      sseMaxMs: SSE_MAX_MS,
      etagPrefix: `view:${view}`,
      onPark: c.get("releaseAdmission"),
      standing: keyStandingCheck(tenantGateStub(c.env, tenant), tenant, c.get("keyId"), config.liveRevalidateMs),
    });
  });
  return app;
}
