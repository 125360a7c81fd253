// The tenant admin dashboard at /dashboard: server-rendered pages (Hono JSX, one frame through
// jsx-renderer) for the platform operator (every tenant) and for a tenant's admin (their own
// tenant only, any other is simply not found). Sign-in sets a signed session cookie; every form
// carries the session's CSRF token and every POST must come from this origin (guards.ts). Pages
// that change while open subscribe to /live (live.tsx). Each page is a file under pages/.
import type { OpenAPIHono } from "@hono/zod-openapi";
import { routeTable } from "../../src/core/http/openapi.js";
import type { CloudApp } from "../app.js";
import type { DashboardEnv } from "./context.js";
import { dashboardHeaders, boundedForms, sameOriginForms, sessionGuard } from "./guards.js";
import { liveUpdates } from "./live.js";
import { deadLetterPages } from "./pages/dead-letters.js";
import { entityPages } from "./pages/entities.js";
import { overviewPages } from "./pages/overview.js";
import { projectionPages } from "./pages/projections.js";
import { signInPages, signOutPages } from "./pages/sign-in.js";
import { tenantPages } from "./pages/tenants.js";
import { viewPages } from "./pages/views.js";
import { pageRoute } from "./declarations.js";
import { pageRenderer } from "./renderer.js";

export { notFound as dashboardNotFound } from "./renderer.js";

const homeRoute = pageRoute(
  "/",
  "dashboard.home",
  "the dashboard's home (redirects to the signed-in tenant or the tenant list)",
);

/** The operator's dashboard for `app` (mounted at `/dashboard`). Order matters: guards before the pages they guard. */
export function dashboardRoutes(app: CloudApp): OpenAPIHono<DashboardEnv> {
  const dashboard = routeTable<DashboardEnv>();
  dashboard.use("*", async (c, next) => {
    c.set("app", app);
    await next();
  });
  dashboard.use("*", dashboardHeaders());
  dashboard.use("*", sameOriginForms());
  dashboard.use("*", boundedForms());
  dashboard.use("*", pageRenderer());
  dashboard.route("/", signInPages);
  dashboard.use("*", sessionGuard());
  dashboard.route("/", signOutPages);
  dashboard.openapi(homeRoute, (c) => {
    const s = c.get("session");
    return c.redirect(s.role === "operator" ? "/dashboard/tenants" : `/dashboard/t/${s.tenant}`, 303);
  });
  for (const pages of [
    tenantPages,
    overviewPages,
    viewPages,
    projectionPages,
    deadLetterPages,
    entityPages,
    liveUpdates,
  ]) {
    dashboard.route("/", pages);
  }
  return dashboard;
}
