// A tenant's dead letters (replay one) and parked facts (acknowledge one), updated live.
import { routeTable } from "../../../src/core/http/openapi.js";
import { replayDeadLetter } from "../../consumer/dead-letters.js";
import { acknowledgeParkedFact, listParkedFacts } from "../../consumer/parked-facts.js";
import { acknowledgeParkedHref, allowedTenant, db, liveHref, replayHref, type DashboardEnv } from "../context.js";
import { openDeadLetters } from "../data.js";
import { formRoute, pageRoute } from "../declarations.js";
import { DeadLetterTable } from "../panels.js";
import { ParkedFactTable } from "../parked-panel.js";
import { notFound } from "../renderer.js";
import { refusedOverLimit } from "../tenant-work.js";

export const deadLetterPages = routeTable<DashboardEnv>();

deadLetterPages.openapi(
  pageRoute("/t/{tenant}/dead-letters", "dashboard.deadLetters", "dead letters", { replayed: "set after a replay" }),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    const csrf = c.get("session").csrf;
    return c.render(
      <div data-live={liveHref(tenant.id, "dead-letters")}>
        {c.req.query("replayed") ? (
          <p class="card notice" role="status">
            Replayed; the fact is back on the queue.
          </p>
        ) : null}
        <div id="dead-letters">
          <DeadLetterTable
            items={await openDeadLetters(db(c), tenant.id)}
            csrf={csrf}
            action={(id) => replayHref(tenant.id, id)}
          />
        </div>
        <h2>Parked facts</h2>
        <div id="parked-facts">
          <ParkedFactTable
            items={await listParkedFacts(db(c), tenant.id, 200)}
            csrf={csrf}
            action={(id) => acknowledgeParkedHref(tenant.id, id)}
          />
        </div>
      </div>,
      { title: "Dead letters", tenant: tenant.id, current: "Dead letters" },
    );
  },
);

deadLetterPages.openapi(
  formRoute(
    "/t/{tenant}/parked-facts/{id}/acknowledge",
    "dashboard.parkedFacts.acknowledge",
    "acknowledge a parked fact (too large for the queue)",
  ),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    if (!(await acknowledgeParkedFact(db(c), c.req.param("id"), tenant.id))) return notFound(c);
    return c.redirect(`/dashboard/t/${tenant.id}/dead-letters`, 303);
  },
);

deadLetterPages.openapi(
  formRoute("/t/{tenant}/dead-letters/{id}/replay", "dashboard.deadLetters.replay", "replay a dead letter"),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    const refused = await refusedOverLimit(c, tenant);
    if (refused) return refused;
    if (!(await replayDeadLetter(db(c), c.env.FACTS, c.req.param("id"), tenant.id))) return notFound(c);
    return c.redirect(`/dashboard/t/${tenant.id}/dead-letters?replayed=1`, 303);
  },
);
