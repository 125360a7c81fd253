// The composition root: one deployable Worker that mounts the edge (tenant API, entity objects)
// and the cloud tier (views, admin API, queue consumers). The two never import each other; they
// meet here and talk through bindings (the facts queue, entity object stubs, D1).
import { Hono } from "hono";
import { methodNotAllowed } from "hono/method-not-allowed";
import { secureHeaders } from "hono/secure-headers";
import { adminOperations } from "./cloud/admin-operations.js";
import { adminRoutes } from "./cloud/admin-routes.js";
import { dashboardRoutes } from "./cloud/dashboard/routes.js";
import { consumeDeadLetterQueue } from "./cloud/dead-letters.js";
import { consumeFacts } from "./cloud/fact-consumer.js";
import { resolveParkedNotices } from "./cloud/parked-facts.js";
import { flushMetricsNow, recordRequest, scheduleMetricsFlush } from "./cloud/metrics-buffer.js";
import { dashboardOperations } from "./cloud/dashboard-operations.js";
import { sagaOperations } from "./cloud/saga-operations.js";
import { viewOperations } from "./cloud/view-operations.js";
import { projections } from "./cloud/projections/index.js";
import { viewRoutes } from "./cloud/view-routes.js";
import { paymentRoutes } from "./cloud/payment-routes.js";
import { drizzle } from "drizzle-orm/d1";
import { entityOperations } from "./edge/entity-operations.js";
import { entityRoutes } from "./edge/entity-routes.js";
import { tenantAuth } from "./edge/tenant-auth.js";
import { tenantCors } from "./edge/tenant-cors.js";
import { API_REFERENCE_CSP, renderApiReference } from "./src/core/api-reference-page.js";
import { logEvent, setLogLevel } from "./src/core/log.js";
import { apiDocument } from "./src/core/api-document.js";
import { checkMetadataId, metadataProblem } from "./src/core/command-metadata.js";
import { problem, problemResponse } from "./src/core/problem.js";
import type { RequestScope } from "./src/core/request-scope.js";
import { continueTrace } from "./src/core/trace-context.js";
import { domain } from "./src/domain/index.js";

export { ProjectionRebuilder } from "./cloud/projection-rebuilder.js";
export { EntityActor } from "./edge/entity-actor.js";
export { SagaHost } from "./cloud/saga-host.js";
export { CircuitBreakerHost } from "./cloud/breaker-host.js";
export { PaymentGatewaySim } from "./cloud/payment-gateway-sim.js";
export { TenantGate } from "./edge/tenant-gate.js";

const ENTITY_PATH = /^\/v1\/entities\/([^/]+)\/([^/]+)(?:\/commands\/([^/]+))?/;

/** The HTTP app (exported so the contract suite can compare its routes with the OpenAPI document). */
export const app = new Hono<{ Bindings: Env; Variables: RequestScope }>();

// Outermost, so that they also apply to what the inner middleware and the error handlers answer.
// Referrer-Policy same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on
// same-origin form posts, which the dashboard's CSRF check (rightly) refuses.
const secure = secureHeaders({ referrerPolicy: "same-origin" });
// A WebSocket handshake's 101 has immutable headers, and no browser renders a handshake's answer.
app.use("*", (c, next) => (c.req.header("upgrade")?.toLowerCase() === "websocket" ? next() : secure(c, next)));
app.use(
  "*",
  methodNotAllowed({
    app,
    onMethodNotAllowed: (c, allowed) =>
      problemResponse(problem("method-not-allowed", `${c.req.method} is not served here; use ${allowed.join(", ")}`), { allow: allowed.join(", ") }),
  }),
);

app.use("*", async (c, next) => {
  const started = Date.now();
  // An invalid traceparent starts a new trace (W3C Trace Context §4.3); only ours is recorded.
  const trace = continueTrace(c.req.header("traceparent"));
  const sentId = c.req.header("x-request-id");
  const badId = sentId === undefined ? undefined : checkMetadataId("requestId", sentId);
  c.set("requestId", sentId === undefined || badId ? crypto.randomUUID() : sentId);
  c.set("traceparent", trace.traceparent);
  c.set("traceId", trace.traceId);
  // It is logged, echoed and, on commands, recorded as the correlation id: bounded on every route.
  const repeated = repeatedQueryParameter(c.req.url);
  if (badId) c.res = problemResponse(metadataProblem(badId));
  // A query parameter given twice means two things; every route reads one value per name.
  else if (repeated !== undefined) c.res = problemResponse(problem("malformed-request", `the query parameter ${JSON.stringify(repeated.slice(0, 64))} is given more than once`));
  else await next();
  if (c.res.status !== 101) {
    c.res.headers.set("traceparent", trace.traceparent);
    c.res.headers.set("x-request-id", c.var.requestId);
  }
  const path = c.req.path;
  const entity = ENTITY_PATH.exec(path);
  const durationMs = Date.now() - started;
  logEvent(c.res.status >= 500 ? "error" : "info", "request", {
    requestId: c.var.requestId,
    traceId: c.var.traceId,
    tenant: c.var.tenant ?? null,
    entityType: entity?.[1] ?? null,
    entityId: entity?.[2] ?? null,
    method: c.req.method,
    path,
    status: c.res.status,
    durationMs,
  });
  if (c.var.tenant !== undefined) {
    recordRequest({
      tenant: c.var.tenant,
      isCommand: c.req.method === "POST" && entity?.[3] !== undefined,
      status: c.res.status,
      durationMs,
      factsRecorded: c.var.factsRecorded ?? 0,
    });
    const flushing = scheduleMetricsFlush(c.env.DB);
    if (flushing) c.executionCtx.waitUntil(flushing);
  }
});

app.get("/healthz", (c) => c.json({ status: "ok" }));
// The API's description, built once per isolate from the operations declared beside each route
// module (and the zod schemas those routes validate with).
const openApi = apiDocument(() => [...entityOperations(domain), ...viewOperations(projections), ...adminOperations, ...sagaOperations, ...dashboardOperations]);
app.get("/openapi.json", (c) => c.json(openApi()));
app.get("/docs", (c) => c.html(renderApiReference(openApi()), 200, { "content-security-policy": API_REFERENCE_CSP }));
app.use("/v1/*", tenantCors());
app.use("/v1/*", tenantAuth());
app.route("/v1/entities", entityRoutes);
app.route("/v1/views", viewRoutes);
app.route("/v1/payments", paymentRoutes);
app.route("/admin", adminRoutes);
app.route("/dashboard", dashboardRoutes);

app.notFound((c) => problemResponse(problem("not-found", `nothing at ${c.req.method} ${new URL(c.req.url).pathname}`)));
app.onError((error, c) => {
  const retryable = (error as { retryable?: boolean }).retryable === true;
  const overloaded = (error as { overloaded?: boolean }).overloaded === true;
  logEvent("error", "request failed", {
    requestId: c.var.requestId,
    traceId: c.var.traceId,
    tenant: c.var.tenant,
    path: new URL(c.req.url).pathname,
    error: error.message,
    overloaded,
  });
  if (overloaded || retryable) {
    return problemResponse(problem("dependency-unavailable", "the entity is busy; retry shortly", { retryAfter: overloaded ? 5 : 1 }));
  }
  return problemResponse(problem("internal", "an unexpected error occurred; it has been logged"));
});

/** The first query parameter name that occurs more than once in `url`, if any. */
function repeatedQueryParameter(url: string): string | undefined {
  const seen = new Set<string>();
  for (const name of new URL(url).searchParams.keys()) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    setLogLevel(env.LOG_LEVEL);
    return app.fetch(request, env, ctx);
  },
  async queue(batch, env, ctx) {
    setLogLevel(env.LOG_LEVEL);
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetterQueue(batch, drizzle(env.DB));
    else {
      await consumeFacts(await resolveParkedNotices(batch, env), env);
      ctx.waitUntil(flushMetricsNow(env.DB));
    }
  },
} satisfies ExportedHandler<Env>;
