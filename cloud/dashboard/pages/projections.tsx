// A tenant's projections: lag and rebuild status, updated live, and starting a rebuild.
import { routeTable } from "../../../src/core/http/openapi.js";
import { allowedTenant, db, liveHref, rebuildHref, type DashboardEnv } from "../context.js";
import { projectionStatus, startRebuild } from "../data.js";
import { formRoute, pageRoute } from "../declarations.js";
import { ProjectionsTable } from "../panels.js";
import { notFound } from "../renderer.js";
import { refusedOverLimit } from "../tenant-work.js";

export const projectionPages = routeTable<DashboardEnv>();

projectionPages.openapi(
  pageRoute("/t/{tenant}/projections", "dashboard.projections", "projection lag and rebuilds", {
    rebuild: "started or running, after a rebuild form",
  }),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    const rebuild = c.req.query("rebuild");
    return c.render(
      <div data-live={liveHref(tenant.id, "projections")}>
        {rebuild ? (
          <p class="card notice" role="status">
            {rebuild === "started"
              ? "Rebuild started: the old rows keep serving until the new generation is complete."
              : "A rebuild of that projection is already running."}
          </p>
        ) : null}
        <div id="projections" class="card">
          <ProjectionsTable
            items={await projectionStatus(c.env, db(c), c.get("app").projections, tenant.id)}
            csrf={c.get("session").csrf}
            action={(name) => rebuildHref(tenant.id, name)}
          />
        </div>
      </div>,
      { title: "Projections", tenant: tenant.id, current: "Projections" },
    );
  },
);

projectionPages.openapi(
  formRoute("/t/{tenant}/projections/{name}/rebuild", "dashboard.projections.rebuild", "rebuild a projection"),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    const refused = await refusedOverLimit(c, tenant);
    if (refused) return refused;
    const outcome = await startRebuild(c.env, c.req.param("name"), tenant.id);
    if (!outcome) return notFound(c);
    return c.redirect(
      `/dashboard/t/${tenant.id}/projections?rebuild=${"started" in outcome ? "started" : "running"}`,
      303,
    );
  },
);
