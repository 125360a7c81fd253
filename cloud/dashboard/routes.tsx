// The tenant admin dashboard at /dashboard: server-rendered pages (Hono JSX) for the platform
// operator (every tenant) and for a tenant's admin (their own tenant only, any other is simply
// not found). Sign-in sets a signed session cookie; every form carries the session's CSRF token
// and every POST must come from this origin. Pages that change while open subscribe to /live
// (SSE), which re-renders their panels every few seconds and sends what changed.
import { drizzle } from "drizzle-orm/d1";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import { AUTH_FAILURE_PERIOD_S, failingClient, isBlocked, recordFailure } from "../../src/core/security/auth-failures.js";
import { entityIdSchema, tenantIdSchema } from "../../src/core/protocol/identifiers.js";
import { eventStream, html, problems, routeTable } from "../../src/core/http/openapi.js";
import { fail } from "../../src/core/http/problem.js";
import type { CloudApp, CloudScope } from "../app.js";
import { replayDeadLetter } from "../consumer/dead-letters.js";
import { acknowledgeParkedFact, listParkedFacts } from "../consumer/parked-facts.js";
import { ParkedFactTable } from "./parked-panel.js";
import type { Db } from "../../src/core/model/projection.js";
import { createTenant, issueKey, revokeKey, setTenantStatus } from "../admin/tenant-admin.js";
import { pushTenantPolicy } from "../admin/tenant-policy-routes.js";
import { findTenant, listKeys, listTenants, openDeadLetters, overview, projectionStatus, startRebuild, viewRows, type TenantRow } from "./data.js";
import { EntityFinder, EntityView, TIMELINE_SCRIPT } from "./entity-page.js";
import { Layout } from "./layout.js";
import { entityStub, sagaStub } from "../stubs.js";
import { AttentionList, DeadLetterTable, OverviewCharts, OverviewStats, ProjectionsTable, ViewTables } from "./panels.js";
import { sameSecret } from "../../src/core/security/same-secret.js";
import { authenticate, currentSession, endSession, startSession, type Session } from "./session.js";

type DashboardEnv = { Bindings: Env; Variables: CloudScope & { session: Session; nonce: string } };
type Ctx = Context<DashboardEnv>;

const LIVE_INTERVAL_MS = 2_000;
// A live stream ends after this long; EventSource reconnects, which re-checks the session.
const LIVE_LIFETIME_MS = 60_000;
// Within its lifetime a panel stream re-checks its session this often, so a revoked key or a
// suspended tenant stops seeing updates well before the 60 s bound.
const LIVE_RECHECK_MS = 10_000;

/** The operator's dashboard for `app` (mounted at `/dashboard`). */
export function dashboardRoutes(app: CloudApp): OpenAPIHono<DashboardEnv> {
  const mounted = routeTable<DashboardEnv>();
  mounted.use("*", async (c, next) => {
    c.set("app", app);
    await next();
  });
  mounted.route("/", routes);
  return mounted;
}

const routes = routeTable<DashboardEnv>();

// ---- declarations: pages (HTML), form posts and event streams -------------------------------------

/** The path parameters a dashboard path names (`{tenant}`, `{id}`…), each a plain string. */
function pathParams(path: string) {
  const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? "");
  return z.object(Object.fromEntries(names.map((n) => [n, z.string()])));
}

function queryParams(query: Readonly<Record<string, string>>) {
  return z.object(Object.fromEntries(Object.entries(query).map(([name, description]) => [name, z.string().optional().describe(description)])));
}

/** A page: HTML for a signed-in session (a visitor without one is redirected to sign in). */
function pageRoute<const P extends string>(path: P, operationId: string, summary: string, query: Readonly<Record<string, string>> = {}) {
  return createRoute({
    method: "get",
    path,
    operationId,
    summary,
    tags: ["dashboard"],
    request: { params: pathParams(path), query: queryParams(query) },
    responses: { 200: html("an HTML page"), 303: { description: "to the sign-in page, or the page that applies" }, ...problems("none", 401, 404) },
  });
}

/** A form post: refused with 403 unless it comes from this origin with the session's CSRF token. */
function formRoute<const P extends string>(path: P, operationId: string, summary: string) {
  return createRoute({
    method: "post",
    path,
    operationId,
    summary,
    description: "A form post (application/x-www-form-urlencoded); refused with 403 unless it comes from the dashboard's own origin with the session's CSRF token.",
    tags: ["dashboard"],
    request: { params: pathParams(path) },
    responses: {
      200: html("an HTML page"),
      201: html("an HTML page showing what was created"),
      303: { description: "redirect to the page that shows the result" },
      ...problems("none", 400, 401, 403, 404, 409, 429),
    },
  });
}

/** An event stream a page subscribes to. */
function streamRoute<const P extends string>(path: P, operationId: string, summary: string, query: Readonly<Record<string, string>>) {
  return createRoute({
    method: "get",
    path,
    operationId,
    summary,
    tags: ["dashboard"],
    request: { params: pathParams(path), query: queryParams(query) },
    responses: { 200: eventStream("Server-Sent Events"), ...problems("none", 400, 401, 404) },
  });
}

routes.use("*", async (c, next) => {
  const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  c.set("nonce", nonce);
  if (c.req.method === "POST" && !sameOrigin(c)) {
    throw fail("forbidden", "dashboard forms must be posted from the dashboard itself");
  }
  await next();
  c.res.headers.set(
    "content-security-policy",
    `default-src 'self'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  );
  c.res.headers.set("x-frame-options", "DENY");
  c.res.headers.set("referrer-policy", "same-origin");
  c.res.headers.set("x-content-type-options", "nosniff");
  if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
});

// ---- signing in and out -------------------------------------------------------------------

routes.openapi(pageRoute("/sign-in", "dashboard.signIn.page", "the sign-in page"), (c) => c.html(<SignInPage nonce={c.var.nonce} />));

routes.openapi(formRoute("/sign-in", "dashboard.signIn", "sign in with a tenant API key or the admin token"), async (c) => {
  const form = await c.req.parseBody();
  const secret = typeof form.secret === "string" ? form.secret : "";
  // Failed sign-ins count with the tenant API's failed keys: a client over the limit is refused
  // before its secret costs a D1 lookup.
  const client = failingClient(c.req.raw);
  const tooMany = () =>
    c.html(<SignInPage nonce={c.var.nonce} error="Too many failed sign-ins from here; wait a minute and try again." />, 429, {
      "retry-after": String(AUTH_FAILURE_PERIOD_S),
    });
  if (isBlocked(client, Date.now())) return tooMany();
  const who = await authenticate(c.env, secret);
  if (!who) {
    if ((await recordFailure(c.env.AUTH_FAILURES, client, Date.now())) === "limited") return tooMany();
    return c.html(<SignInPage nonce={c.var.nonce} error="That token or API key is not valid." />, 401);
  }
  await startSession(c, who);
  return c.redirect(who.role === "operator" ? "/dashboard/tenants" : `/dashboard/t/${who.tenant}`, 303);
});

routes.use("*", async (c, next) => {
  const session = await currentSession(c);
  if (!session) {
    if (c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/html")) return c.redirect("/dashboard/sign-in", 303);
    throw fail("unauthorized", "sign in to the dashboard first");
  }
  if (c.req.method === "POST") {
    const form = await c.req.parseBody();
    const token = typeof form._csrf === "string" ? form._csrf : "";
    if (!(await sameSecret(token, session.csrf))) throw fail("forbidden", "the form's CSRF token is missing or stale; reload the page");
  }
  c.set("session", session);
  await next();
});

routes.openapi(formRoute("/sign-out", "dashboard.signOut", "sign out"), (c) => {
  endSession(c);
  return c.redirect("/dashboard/sign-in", 303);
});

routes.openapi(pageRoute("/", "dashboard.home", "the dashboard's home (redirects to the signed-in tenant or the tenant list)"), (c) => {
  const s = c.var.session;
  return c.redirect(s.role === "operator" ? "/dashboard/tenants" : `/dashboard/t/${s.tenant}`, 303);
});

// ---- tenants (operator) -------------------------------------------------------------------

const createTenantForm = z.object({ id: tenantIdSchema, name: z.string().trim().min(1).max(200) });

routes.openapi(pageRoute("/tenants", "dashboard.tenants", "all tenants (operator)"), async (c) => {
  if (c.var.session.role !== "operator") return notFound(c);
  return c.html(<TenantsPage c={c} tenants={await listTenants(db(c))} />);
});

routes.openapi(formRoute("/tenants", "dashboard.tenants.create", "create a tenant (operator)"), async (c) => {
  if (c.var.session.role !== "operator") return notFound(c);
  const parsed = createTenantForm.safeParse(await c.req.parseBody());
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    return c.html(<TenantsPage c={c} tenants={await listTenants(db(c))} error={`The tenant is invalid — ${message}`} />, 400);
  }
  const created = await createTenant(db(c), parsed.data.id, parsed.data.name);
  if (!created.ok) return c.html(<TenantsPage c={c} tenants={await listTenants(db(c))} error={`Tenant ${parsed.data.id} already exists.`} />, 409);
  return c.html(
    <TenantsPage c={c} tenants={await listTenants(db(c))}>
      <NewKey tenant={parsed.data.id} keyId={created.keyId} apiKey={created.apiKey} what={`Tenant ${parsed.data.id} created.`} />
    </TenantsPage>,
    201,
  );
});

for (const [action, status] of [["suspend", "suspended"], ["resume", "active"]] as const) {
  routes.openapi(formRoute(`/t/{tenant}/${action}`, `dashboard.tenant.${action}`, `${action} the tenant (operator)`), async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant || c.var.session.role !== "operator") return notFound(c);
    await setTenantStatus(db(c), tenant.id, status);
    await pushTenantPolicy(c.env, tenant.id);
    return c.redirect(`/dashboard/t/${tenant.id}`, 303);
  });
}

// ---- one tenant -----------------------------------------------------------------------------

routes.openapi(pageRoute("/t/{tenant}", "dashboard.tenant", "the tenant's overview: status, keys, metrics"), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  return c.html(<OverviewPage c={c} tenant={tenant} />);
});

routes.openapi(formRoute("/t/{tenant}/keys", "dashboard.keys.issue", "issue an API key (shown once)"), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  const key = await issueKey(db(c), tenant.id);
  return c.html(
    <OverviewPage c={c} tenant={tenant}>
      <NewKey tenant={tenant.id} keyId={key.keyId} apiKey={key.apiKey} what="A new API key was issued." />
    </OverviewPage>,
    201,
  );
});

routes.openapi(formRoute("/t/{tenant}/keys/{keyId}/revoke", "dashboard.keys.revoke", "revoke an API key"), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  if (!(await revokeKey(db(c), tenant.id, c.req.param("keyId")))) return notFound(c);
  await pushTenantPolicy(c.env, tenant.id);
  return c.redirect(`/dashboard/t/${tenant.id}`, 303);
});

routes.openapi(pageRoute("/t/{tenant}/views", "dashboard.views", "the tenant's views"), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  return page(c, "Views", tenant.id, "Views", (
    <div data-live={liveHref(tenant.id, "views")}>
      <p class="muted">Read models in D1, as the tenant API serves them; they update as facts are applied.</p>
      <div id="views">
        <ViewTables views={await viewRows(db(c), c.var.app.projections, tenant.id)} />
      </div>
    </div>
  ));
});

routes.openapi(pageRoute("/t/{tenant}/projections", "dashboard.projections", "projection lag and rebuilds", { rebuild: "started or running, after a rebuild form" }), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  return page(c, "Projections", tenant.id, "Projections", (
    <div data-live={liveHref(tenant.id, "projections")}>
      {c.req.query("rebuild") ? (
        <p class="card notice" role="status">
          {c.req.query("rebuild") === "started" ? "Rebuild started: the old rows keep serving until the new generation is complete." : "A rebuild of that projection is already running."}
        </p>
      ) : null}
      <div id="projections" class="card">
        <ProjectionsTable items={await projectionStatus(c.env, db(c), c.var.app.projections, tenant.id)} csrf={c.var.session.csrf} action={(name) => rebuildHref(tenant.id, name)} />
      </div>
    </div>
  ));
});

routes.openapi(formRoute("/t/{tenant}/projections/{name}/rebuild", "dashboard.projections.rebuild", "rebuild a projection"), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  const outcome = await startRebuild(c.env, c.req.param("name"), tenant.id);
  if (!outcome) return notFound(c);
  return c.redirect(`/dashboard/t/${tenant.id}/projections?rebuild=${"started" in outcome ? "started" : "running"}`, 303);
});

for (const action of ["retry", "compensate"] as const) {
  const summary = action === "retry" ? "retry a saga that needs attention" : "force a saga to compensate";
  routes.openapi(formRoute(`/t/{tenant}/sagas/{id}/${action}`, `dashboard.sagas.${action}`, summary), async (c) => {
    const tenant = await allowedTenant(c);
    const id = c.req.param("id");
    // A saga id starts with its tenant: another tenant's saga is simply not found.
    if (!tenant || !id.startsWith(`${tenant.id}:`)) return notFound(c);
    const stub = sagaStub(c.env, id);
    const outcome = action === "retry" ? await stub.retry() : await stub.compensate();
    if (!outcome) return notFound(c);
    return c.redirect(`/dashboard/t/${tenant.id}`, 303);
  });
}

routes.openapi(pageRoute("/t/{tenant}/dead-letters", "dashboard.deadLetters", "dead letters", { replayed: "set after a replay" }), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  const replayed = c.req.query("replayed");
  return page(c, "Dead letters", tenant.id, "Dead letters", (
    <div data-live={liveHref(tenant.id, "dead-letters")}>
      {replayed ? (
        <p class="card notice" role="status">
          Replayed; the fact is back on the queue.
        </p>
      ) : null}
      <div id="dead-letters">
        <DeadLetterTable items={await openDeadLetters(db(c), tenant.id)} csrf={c.var.session.csrf} action={(id) => replayHref(tenant.id, id)} />
      </div>
      <h2>Parked facts</h2>
      <div id="parked-facts">
        <ParkedFactTable items={await listParkedFacts(db(c), tenant.id, 200)} csrf={c.var.session.csrf} action={(id) => acknowledgeParkedHref(tenant.id, id)} />
      </div>
    </div>
  ));
});

routes.openapi(formRoute("/t/{tenant}/parked-facts/{id}/acknowledge", "dashboard.parkedFacts.acknowledge", "acknowledge a parked fact (too large for the queue)"), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  if (!(await acknowledgeParkedFact(db(c), c.req.param("id"), tenant.id))) return notFound(c);
  return c.redirect(`/dashboard/t/${tenant.id}/dead-letters`, 303);
});

routes.openapi(formRoute("/t/{tenant}/dead-letters/{id}/replay", "dashboard.deadLetters.replay", "replay a dead letter"), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  if (!(await replayDeadLetter(db(c), c.env.FACTS, c.req.param("id"), tenant.id))) return notFound(c);
  return c.redirect(`/dashboard/t/${tenant.id}/dead-letters?replayed=1`, 303);
});

routes.openapi(pageRoute("/t/{tenant}/entities", "dashboard.entities", "look up an entity", { type: "the entity type", id: "the entity id", at: "a past version" }), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  const types = c.var.app.entities.all().map((e) => e.type);
  const type = c.req.query("type") ?? types[0] ?? "";
  const id = c.req.query("id") ?? "";
  const at = c.req.query("at");
  const action = `/dashboard/t/${tenant.id}/entities`;
  const finder = <EntityFinder action={action} types={types} type={type} id={id} />;
  if (id === "") return page(c, "Entities", tenant.id, "Entities", finder);
  if (!c.var.app.entities.get(type) || !entityIdSchema.safeParse(id).success || (at !== undefined && !/^\d{1,15}$/.test(at))) {
    return page(c, "Entities", tenant.id, "Entities", <>{finder}<p class="card error" role="alert">Choose an entity type and an id of 1-128 letters, digits or . _ ~ -.</p></>, 400);
  }
  const address: EntityAddress = { tenant: tenant.id, entityType: type, entityId: id };
  const stub = entityStub(c.env, address);
  const [current, view, log] = await Promise.all([
    stub.read(address, null),
    stub.read(address, at === undefined ? null : Number(at)),
    stub.events(address, 0, 200),
  ]);
  if (!current || !view || !log) {
    return page(c, "Entities", tenant.id, "Entities", <>{finder}<p class="card" role="status">No {type} {id} has recorded anything.</p></>, 404);
  }
  const stateHref = (v: number) => `${action}?type=${encodeURIComponent(type)}&id=${encodeURIComponent(id)}&at=${v}`;
  return page(c, `${type}/${id}`, tenant.id, "Entities", (
    <>
      {finder}
      <EntityView
        view={view}
        latest={current.version}
        events={log.events}
        more={log.next !== null}
        stateHref={stateHref}
        streamHref={`${action}/${encodeURIComponent(type)}/${encodeURIComponent(id)}/stream`}
      />
      {log.next === null ? <script nonce={c.var.nonce} dangerouslySetInnerHTML={{ __html: TIMELINE_SCRIPT }} /> : null}
    </>
  ));
});

routes.openapi(streamRoute("/t/{tenant}/entities/{type}/{id}/stream", "dashboard.entity.stream", "an entity's live log for the page", { after: "the last sequence number already shown" }), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  const type = c.req.param("type");
  const id = c.req.param("id");
  const after = c.req.header("last-event-id") ?? c.req.query("after") ?? "0";
  if (!c.var.app.entities.get(type) || !entityIdSchema.safeParse(id).success || !/^\d{1,15}$/.test(after)) {
    throw fail("malformed-request", "no such entity type, or a bad id or position");
  }
  const address: EntityAddress = { tenant: tenant.id, entityType: type, entityId: id };
  const url = new URL("https://entity/live");
  url.searchParams.set("tenant", tenant.id);
  url.searchParams.set("type", type);
  url.searchParams.set("id", id);
  url.searchParams.set("after", after);
  // A tenant admin's stream ends when their key is revoked or the tenant suspended.
  const session = c.var.session;
  url.searchParams.set("key", session.role === "tenant" ? session.keyId : "");
  const live = await entityStub(c.env, address).fetch(new Request(url, { headers: { accept: "text/event-stream" } }));
  // A response from another object has immutable headers; copy it so the security headers apply.
  return new Response(live.body, live);
});

const livePanels = z.enum(["overview", "views", "dead-letters", "projections"]);

routes.openapi(streamRoute("/t/{tenant}/live", "dashboard.live", "live metrics for the page", { panel: "overview, views, dead-letters or projections" }), async (c) => {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  const panel = livePanels.safeParse(c.req.query("panel"));
  if (!panel.success) throw fail("malformed-request", `panel must be one of ${livePanels.options.join(", ")}`);
  const csrf = c.var.session.csrf;
  return streamSSE(c, async (stream) => {
    const until = Date.now() + LIVE_LIFETIME_MS;
    let sent = "";
    let checked = Date.now();
    while (!stream.aborted && Date.now() < until) {
      if (Date.now() - checked >= LIVE_RECHECK_MS) {
        checked = Date.now();
        if (!(await currentSession(c))) break;
      }
      const parts = await renderPanel(c, tenant.id, panel.data, csrf);
      const data = JSON.stringify(parts);
      if (data !== sent) {
        await stream.writeSSE({ data });
        sent = data;
      }
      await stream.sleep(LIVE_INTERVAL_MS);
    }
  });
});

async function renderPanel(c: Ctx, tenant: string, panel: z.infer<typeof livePanels>, csrf: string): Promise<Record<string, string>> {
  const d = db(c);
  switch (panel) {
    case "overview": {
      const o = await overview(c.env, d, c.var.app.projections, tenant);
      return {
        stats: await markup(<OverviewStats o={o} />),
        charts: await markup(<OverviewCharts o={o} />),
      };
    }
    case "views":
      return { views: await markup(<ViewTables views={await viewRows(d, c.var.app.projections, tenant)} />) };
    case "projections":
      return {
        projections: await markup(<ProjectionsTable items={await projectionStatus(c.env, d, c.var.app.projections, tenant)} csrf={csrf} action={(name) => rebuildHref(tenant, name)} />),
      };
    case "dead-letters":
      return {
        "dead-letters": await markup(<DeadLetterTable items={await openDeadLetters(d, tenant)} csrf={csrf} action={(id) => replayHref(tenant, id)} />),
        "parked-facts": await markup(<ParkedFactTable items={await listParkedFacts(d, tenant, 200)} csrf={csrf} action={(id) => acknowledgeParkedHref(tenant, id)} />),
      };
  }
}

// ---- pages ------------------------------------------------------------------------------------

function SignInPage({ nonce, error }: { nonce: string; error?: string }) {
  return (
    <Layout title="Sign in" nonce={nonce} session={null}>
      <form method="post" action="/dashboard/sign-in" class="card">
        {error ? (
          <p class="error card" role="alert">
            {error}
          </p>
        ) : null}
        <label for="secret">Admin token or tenant API key</label>
        <p class="muted" id="secret-help">
          The platform operator signs in with ADMIN_TOKEN and sees every tenant; a tenant's API key shows that tenant only.
        </p>
        <input id="secret" name="secret" type="password" required autocomplete="current-password" aria-describedby="secret-help" size={48} />
        <p>
          <button type="submit">Sign in</button>
        </p>
      </form>
    </Layout>
  );
}

function TenantsPage({ c, tenants, error, children }: { c: Ctx; tenants: TenantRow[]; error?: string; children?: Child }) {
  const csrf = c.var.session.csrf;
  return (
    <Layout title="Tenants" nonce={c.var.nonce} session={c.var.session} current="Tenants">
      {children}
      {error ? (
        <p class="card error" role="alert">
          {error}
        </p>
      ) : null}
      <section aria-labelledby="create-heading">
        <h2 id="create-heading">Create a tenant</h2>
        <form method="post" action="/dashboard/tenants" class="row">
          <input type="hidden" name="_csrf" value={csrf} />
          <div>
            <label for="tenant-id">Id</label>
            <input id="tenant-id" name="id" required pattern="[a-z0-9](?:[a-z0-9\-]{0,38}[a-z0-9])?" maxlength={40} aria-describedby="tenant-id-help" />
          </div>
          <div>
            <label for="tenant-name">Name</label>
            <input id="tenant-name" name="name" required maxlength={200} />
          </div>
          <button type="submit">Create tenant</button>
        </form>
        <p class="muted" id="tenant-id-help">
          Ids are 1-40 of a-z, 0-9 and inner hyphens. The tenant's first API key is shown once.
        </p>
      </section>
      <section aria-labelledby="list-heading">
        <h2 id="list-heading">All tenants</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {tenants.map((t) => (
                <tr>
                  <th scope="row">
                    <a href={`/dashboard/t/${t.id}`}>{t.id}</a>
                  </th>
                  <td>{t.name}</td>
                  <td class={t.status === "active" ? undefined : "bad"}>{t.status}</td>
                  <td>{new Date(t.createdAt).toISOString().slice(0, 16).replace("T", " ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </Layout>
  );
}

async function OverviewPage({ c, tenant, children }: { c: Ctx; tenant: TenantRow; children?: Child }) {
  const d = db(c);
  const [o, keys] = await Promise.all([overview(c.env, d, c.var.app.projections, tenant.id), listKeys(d, tenant.id)]);
  const session = c.var.session;
  const csrf = session.csrf;
  return (
    <Layout title={`${tenant.name} (${tenant.id})`} nonce={c.var.nonce} session={session} tenant={tenant.id} current="Overview">
      {children}
      <div data-live={liveHref(tenant.id, "overview")}>
        <p class="muted">
          Status: <strong class={tenant.status === "active" ? undefined : "bad"}>{tenant.status}</strong> · last 30 minutes, updated live
        </p>
        <div id="stats">
          <OverviewStats o={o} />
        </div>
        <h2>Activity</h2>
        <div id="charts">
          <OverviewCharts o={o} />
        </div>
      </div>
      <div class="grid">
        <AttentionList title="Open circuit breakers" a={o.breakers} empty="All breakers are closed." />
        <AttentionList
          title="Sagas needing attention"
          a={o.sagas}
          empty="No saga needs attention."
          actions={{
            csrf,
            forms: (id) => [
              { label: "Retry", href: sagaActionHref(tenant.id, id, "retry") },
              { label: "Compensate", href: sagaActionHref(tenant.id, id, "compensate") },
            ],
          }}
        />
      </div>
      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">API keys</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Key id</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr>
                  <th scope="row">
                    <code>{k.keyId}</code>
                  </th>
                  <td>{new Date(k.createdAt).toISOString().slice(0, 16).replace("T", " ")}</td>
                  <td>{k.lastUsedAt === null ? "never" : new Date(k.lastUsedAt).toISOString().slice(0, 16).replace("T", " ")}</td>
                  <td>
                    {k.revokedAt !== null ? (
                      "revoked"
                    ) : (
                      <form method="post" action={`/dashboard/t/${tenant.id}/keys/${k.keyId}/revoke`} class="inline">
                        <input type="hidden" name="_csrf" value={csrf} />
                        <button type="submit" class="danger" aria-label={`Revoke key ${k.keyId}`}>
                          Revoke
                        </button>
                      </form>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <form method="post" action={`/dashboard/t/${tenant.id}/keys`}>
          <input type="hidden" name="_csrf" value={csrf} />
          <p>
            <button type="submit">Issue a new key</button>
          </p>
        </form>
      </section>
      {session.role === "operator" ? (
        <section aria-labelledby="status-heading">
          <h2 id="status-heading">Tenant status</h2>
          <form method="post" action={`/dashboard/t/${tenant.id}/${tenant.status === "active" ? "suspend" : "resume"}`}>
            <input type="hidden" name="_csrf" value={csrf} />
            <button type="submit" class={tenant.status === "active" ? "danger" : undefined}>
              {tenant.status === "active" ? "Suspend tenant" : "Resume tenant"}
            </button>
          </form>
        </section>
      ) : null}
    </Layout>
  );
}

function NewKey({ tenant, keyId, apiKey, what }: { tenant: string; keyId: string; apiKey: string; what: string }) {
  return (
    <section class="notice" role="status" aria-labelledby="new-key-heading">
      <h2 id="new-key-heading">{what}</h2>
      <p>
        API key <code>{keyId}</code> for tenant <a href={`/dashboard/t/${tenant}`}>{tenant}</a>. Copy it now: it is shown only this once.
      </p>
      <output class="secret" id="new-api-key" aria-label="New API key">
        {apiKey}
      </output>
    </section>
  );
}

// ---- helpers ----------------------------------------------------------------------------------

function page(c: Ctx, title: string, tenant: string, current: string, body: Child, status: 200 | 400 | 404 = 200) {
  return c.html(
    <Layout title={title} nonce={c.var.nonce} session={c.var.session} tenant={tenant} current={current}>
      {body}
    </Layout>,
    status,
  );
}

/** The tenant named in the path, if this session may see it; otherwise undefined (a 404). */
async function allowedTenant(c: Ctx): Promise<TenantRow | undefined> {
  const id = c.req.param("tenant") ?? "";
  const s = c.var.session;
  if (s.role === "tenant" && s.tenant !== id) return undefined;
  if (!tenantIdSchema.safeParse(id).success) return undefined;
  return findTenant(db(c), id);
}

function notFound(c: Ctx) {
  return c.html(
    <Layout title="Not found" nonce={c.var.nonce} session={c.var.session}>
      <p>There is nothing here, or it belongs to a tenant you cannot see.</p>
    </Layout>,
    404,
  );
}

function sameOrigin(c: Ctx): boolean {
  const origin = c.req.header("origin");
  const site = c.req.header("sec-fetch-site");
  if (origin !== undefined) return origin === new URL(c.req.url).origin;
  return site === undefined || site === "same-origin" || site === "none";
}

function db(c: Ctx): Db {
  return drizzle(c.env.DB);
}


const liveHref = (tenant: string, panel: string) => `/dashboard/t/${tenant}/live?panel=${panel}`;
const sagaActionHref = (tenant: string, id: string, action: "retry" | "compensate") =>
  `/dashboard/t/${tenant}/sagas/${encodeURIComponent(id)}/${action}`;
const rebuildHref = (tenant: string, name: string) => `/dashboard/t/${tenant}/projections/${encodeURIComponent(name)}/rebuild`;
const replayHref = (tenant: string, id: string) => `/dashboard/t/${tenant}/dead-letters/${encodeURIComponent(id)}/replay`;
const acknowledgeParkedHref = (tenant: string, id: string) => `/dashboard/t/${tenant}/parked-facts/${encodeURIComponent(id)}/acknowledge`;

async function markup(node: Child): Promise<string> {
  return String(await (node as { toString(): string | Promise<string> }).toString());
}
