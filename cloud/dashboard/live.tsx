// Live updates: a page's `data-live` regions subscribe to /live (Server-Sent Events), which
// re-renders the page's panels every few seconds and sends what changed. `streamSSE` fits here:
// a message is a few kilobytes written every LIVE_INTERVAL_MS, so a slow reader holds little, and
// the stream ends itself (LIVE_LIFETIME_MS), so the browser reconnects through the session guard;
// within its lifetime it ends with its session (session-bound-stream.ts), as the entity log's does.
// (The entity log's stream is not this one: it pages a backlog of any size with backpressure,
// edge/entity/live-feed.ts.)
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { routeTable } from "../../src/core/http/openapi.js";
import { fail } from "../../src/core/http/problem.js";
import { listParkedFacts } from "../consumer/parked-facts.js";
import {
  acknowledgeParkedHref,
  allowedTenant,
  db,
  markup,
  rebuildHref,
  replayHref,
  type Ctx,
  type DashboardEnv,
} from "./context.js";
import { openDeadLetters, overview, projectionStatus, viewRows } from "./data.js";
import { streamRoute } from "./declarations.js";
import { DeadLetterTable, OverviewCharts, OverviewStats, ProjectionsTable, ViewTables } from "./panels.js";
import { ParkedFactTable } from "./parked-panel.js";
import { notFound } from "./renderer.js";
import { endsWithSession } from "./session-bound-stream.js";
import { refusedOverLimit } from "./tenant-work.js";

const LIVE_INTERVAL_MS = 2_000;
// A live stream ends after this long; EventSource reconnects, which re-checks the session.
const LIVE_LIFETIME_MS = 60_000;

const livePanels = z.enum(["overview", "views", "dead-letters", "projections"]);

export const liveUpdates = routeTable<DashboardEnv>();

liveUpdates.openapi(
  streamRoute("/t/{tenant}/live", "dashboard.live", "live metrics for the page", {
    panel: "overview, views, dead-letters or projections",
  }),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    const panel = livePanels.safeParse(c.req.query("panel"));
    if (!panel.success) throw fail("malformed-request", `panel must be one of ${livePanels.options.join(", ")}`);
    const refused = await refusedOverLimit(c, tenant);
    if (refused) return refused;
    const csrf = c.get("session").csrf;
    const panels = streamSSE(c, async (stream) => {
      const until = Date.now() + LIVE_LIFETIME_MS;
      let sent = "";
      while (!stream.aborted && Date.now() < until) {
        const parts = await renderPanel(c, tenant.id, panel.data, csrf);
        const data = JSON.stringify(parts);
        if (data !== sent) {
          await stream.writeSSE({ data });
          sent = data;
        }
        await stream.sleep(LIVE_INTERVAL_MS);
      }
    });
    return endsWithSession(c, panels);
  },
);

async function renderPanel(
  c: Ctx,
  tenant: string,
  panel: z.infer<typeof livePanels>,
  csrf: string,
): Promise<Record<string, string>> {
  const d = db(c);
  switch (panel) {
    case "overview": {
      const o = await overview(c.env, d, c.get("app").projections, tenant);
      return {
        stats: await markup(<OverviewStats o={o} />),
        charts: await markup(<OverviewCharts o={o} />),
      };
    }
    case "views":
      return { views: await markup(<ViewTables views={await viewRows(d, c.get("app").projections, tenant)} />) };
    case "projections":
      return {
        projections: await markup(
          <ProjectionsTable
            items={await projectionStatus(c.env, d, c.get("app").projections, tenant)}
            csrf={csrf}
            action={(name) => rebuildHref(tenant, name)}
          />,
        ),
      };
    case "dead-letters":
      return {
        "dead-letters": await markup(
          <DeadLetterTable
            items={await openDeadLetters(d, tenant)}
            csrf={csrf}
            action={(id) => replayHref(tenant, id)}
          />,
        ),
        "parked-facts": await markup(
          <ParkedFactTable
            items={await listParkedFacts(d, tenant, 200)}
            csrf={csrf}
            action={(id) => acknowledgeParkedHref(tenant, id)}
          />,
        ),
      };
  }
}
