// A view's change feed as a read-only Durable Stream: `GET /v1/views/{view}/changes/stream`, an
// `application/json` stream of the facts that changed the tenant's view (`{entity: {type, id},
// seq, type, recordedAt}`), oldest first, its offsets the feed's change ids (stable, increasing,
// with gaps). Written transactionally with the view (view-changes.ts). Long-polls and SSE poll D1
// every VIEW_FEED_POLL_MS while they wait, one query per waiting reader per poll: D1 serves one
// query at a time, so many idle followers of a view cost D1 time (entity streams, woken by their
// object, do not).
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import type { Projection } from "../../src/core/model/projection.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { serveReadOnlyStream, type LogSource } from "../../src/core/streams/read-only-stream.js";
import { changeTail, readChanges } from "./view-changes.js";

/** How often a waiting reader of a change feed looks for new changes (ms). */
export const VIEW_FEED_POLL_MS = 500;
const PAGE = 500;
const SSE_MAX_MS = 60_000;

/** Routes of `/v1/views/{view}/changes/stream` (mount with `app.route("/v1/views", …)`). */
export function viewChangeRoutes(projections: readonly Projection[]): Hono<{ Bindings: Env; Variables: RequestScope }> {
  const app = new Hono<{ Bindings: Env; Variables: RequestScope }>();
  const names = new Set(projections.map((p) => p.name));
  // Hono serves HEAD through the GET route; the request's method stays HEAD.
  app.get("/:view/changes/stream", async (c) => {
    const view = c.req.param("view");
    if (!names.has(view)) return problemResponse(problem("not-found", `no view ${view}`));
    const db = drizzle(c.env.DB);
    const tenant = c.var.tenant;
    const source: LogSource = async (after, waitMs) => {
      const deadline = Date.now() + waitMs;
      for (;;) {
        const rows = await readChanges(db, tenant, view, after, PAGE);
        if (rows.length > 0 || Date.now() >= deadline) {
          // Fewer than a page means nothing newer exists: the tail is the last change read (or `after`).
          const complete = rows.length < PAGE && after !== Number.MAX_SAFE_INTEGER;
          const tail = complete ? (rows.at(-1)?.id ?? after) : await changeTail(db, tenant, view);
          return { messages: rows.map((r) => ({ key: r.id, json: JSON.stringify(r.change) })), tail };
        }
        await new Promise((r) => setTimeout(r, Math.min(VIEW_FEED_POLL_MS, Math.max(1, deadline - Date.now()))));
      }
    };
    return serveReadOnlyStream(c.req.raw, source, {
      longPollTimeoutMs: hostConfig(c.env, "view-feed").streamLongPollTimeoutMs,
      sseMaxMs: SSE_MAX_MS,
      etagPrefix: `view:${view}`,
    });
  });
  return app;
}
