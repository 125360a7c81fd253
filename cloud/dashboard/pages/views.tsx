// A tenant's read models as the tenant API serves them, updated live.
import { routeTable } from "../../../src/core/http/openapi.js";
import { allowedTenant, db, liveHref, type DashboardEnv } from "../context.js";
import { viewRows } from "../data.js";
import { pageRoute } from "../declarations.js";
import { ViewTables } from "../panels.js";
import { notFound } from "../renderer.js";

export const viewPages = routeTable<DashboardEnv>();

viewPages.openapi(pageRoute("/t/{tenant}/views", "dashboard.views", "the tenant's views"), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  return c.render(
    <div data-live={liveHref(tenant.id, "views")}>
      <p class="muted">Read models in D1, as the tenant API serves them; they update as facts are applied.</p>
      <div id="views">
        <ViewTables views={await viewRows(db(c), c.get("app").projections, tenant.id)} />
      </div>
    </div>,
    { title: "Views", tenant: tenant.id, current: "Views" },
  );
});
