// A view's change feed as a read-only Durable Stream: `GET /v1/views/{view}/changes/stream`, an
// `application/json` stream of the facts that changed the tenant's view (`{entity: {type, id},
// seq, type, recordedAt}`), oldest first, its offsets the feed's change ids (stable, increasing,
// with gaps). Written transactionally with the view (view-changes.ts). Long-polls and SSE poll D1
// every VIEW_FEED_POLL_MS while they wait, one query per waiting reader per poll: D1 serves one
// query at a time, so many idle followers of a view cost D1 time (entity streams, woken by their
// object, do not).
//
// Retention (view-changes.ts) prunes each feed's oldest changes. Every offset this stream hands
// out above 0 is the id of one of the feed's changes, and the retained window is contiguous, so an
// offset whose change no longer exists may have had later changes pruned after it: it is answered
// 410 `offset-gone` (the protocol's status for an offset before the retained data; the body is
// ours, problem+json) rather than served from the window with a silent gap. The reader starts
// again from `-1`, the oldest retained change. (An offset whose change was the last one pruned
// loses nothing, but is answered 410 too: without a stored watermark the two cannot be told apart.)
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
import { changeStanding, changeTail, readChanges } from "./view-changes.js";

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
    // event stream. Change ids are shared by every feed, so an offset past this feed's tail may be
    // an id some other feed holds: still never one this feed returned.
    const start = parseLogReadStart(c.req.query("offset"));
    if (c.req.method !== "HEAD" && start?.kind === "after" && start.count > 0) {
      const { kept, tail } = await changeStanding(db, tenant, view, start.count);
      const pastTail = offsetPastTail(start.count, tail, "feed");
      if (pastTail) throw new ProblemError(pastTail);
      if (!kept) throw gone(start.count);
    }
    const source: LogSource = async (after, waitMs) => {
      const deadline = Date.now() + waitMs;
      for (;;) {
        // With an offset, read its own change too: if pruning overtook the reader (an SSE
        // connection far behind), the next page would otherwise skip what was pruned.
        const checked = after > 0 && after !== Number.MAX_SAFE_INTEGER;
        const read = await readChanges(db, tenant, view, after, checked ? PAGE + 1 : PAGE, checked);
        if (checked && read[0]?.id !== after) throw gone(after);
        const rows = checked ? read.slice(1) : read;
        if (rows.length > 0 || Date.now() >= deadline) {
          // Fewer than a page means nothing newer exists: the tail is the last change read (or `after`).
          const complete = rows.length < PAGE && after !== Number.MAX_SAFE_INTEGER;
          const tail = complete ? (rows.at(-1)?.id ?? after) : await changeTail(db, tenant, view);
          return { messages: rows.map((r) => ({ key: r.id, json: JSON.stringify(r.change) })), tail };
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
