// The one composition point: `defineApp` takes an app's domain (entity types, projections, sagas,
// the outside services its sagas call, and any routes of its own) and builds what a Worker
// exports: the `fetch` and `queue` handlers and the Durable Object classes that wrangler binds.
// No platform file (src/core, edge, cloud) imports an app; an app's entry module (the reference
// app's is worker.ts) calls `defineApp` and exports its result.
//
// Durable Object classes are constructed by the runtime with `(ctx, env)` alone, so each host
// that needs the app is a factory (`createEntityActor(entities)`, `createSagaHost(app)`,
// `createProjectionRebuilder(app)`) returning a subclass bound to it: typed, no module-level
// registry that must be filled before the first request, and a test can compose any app.
// Routes get the app the same way, through their mount (`entityRoutes(entities)`, `viewRoutes(app)`…).
import type { OpenAPIHono } from "@hono/zod-openapi";
import { except } from "hono/combine";
import { methodNotAllowed } from "hono/method-not-allowed";
import { secureHeaders } from "hono/secure-headers";
import { drizzle } from "drizzle-orm/d1";
import { adminRoutes } from "./cloud/admin/admin-routes.js";
import type { CloudApp, Service, Services } from "./cloud/app.js";
import { dashboardNotFound, dashboardRoutes } from "./cloud/dashboard/routes.js";
import { consumeDeadLetterQueue } from "./cloud/consumer/dead-letters.js";
import { consumeFacts } from "./cloud/consumer/fact-consumer.js";
import { flushMetricsNow, recordRequest, scheduleMetricsFlush } from "./cloud/metrics/metrics-buffer.js";
import { checkProjectionHandlers, checkProjectionNames, type Projection } from "./src/core/model/projection.js";
import { createProjectionRebuilder, type ProjectionRebuilder } from "./cloud/projections/projection-rebuilder.js";
import { createSagaHost, type SagaHost } from "./cloud/sagas/saga-host.js";
import { viewRoutes } from "./cloud/projections/view-routes.js";
import { viewChangeRoutes } from "./cloud/projections/view-change-stream.js";
import { createEntityActor, type EntityActor } from "./edge/entity/entity-actor.js";
import { entityRoutes } from "./edge/entity/entity-routes.js";
import { entityStreamRoutes } from "./edge/streams/entity-stream-routes.js";
import { streamRoutes } from "./edge/streams/stream-routes.js";
import { MAX_APPEND_BYTES } from "./edge/streams/durable-stream-host.js";
import { tenantAuth } from "./edge/tenancy/tenant-auth.js";
import { tenantCors } from "./edge/tenancy/tenant-cors.js";
import { checkBodyDigests } from "./src/core/http/content-digest.js";
import { MAX_BODY_BYTES } from "./src/core/http/request-body.js";
import { renderError } from "./src/core/http/error-handler.js";
import { routeTable } from "./src/core/http/openapi.js";
import { apiDocument, platformRoutes } from "./src/core/http/platform-routes.js";
import { checkMetadataId, metadataProblem } from "./src/core/protocol/command-metadata.js";
import { describeConfigErrors, hostConfig, readConfig } from "./src/core/runtime/config.js";
import { EntityRegistry, type EntityType } from "./src/core/model/entity.js";
import { logEvent, setLogLevel } from "./src/core/runtime/log.js";
import { fail, problem, problemResponse } from "./src/core/http/problem.js";
import type { RequestScope } from "./src/core/http/request-scope.js";
import { checkSagaDefinition, checkSagaTrigger, type SagaDefinition } from "./src/core/model/saga.js";
import { checkName, SEGMENT_NAME } from "./src/core/protocol/names.js";
import { continueTrace } from "./src/core/http/trace-context.js";

export { CircuitBreakerHost } from "./cloud/sagas/breaker-host.js";
export { TenantGate } from "./edge/tenancy/tenant-gate.js";
export { DurableStreamHost } from "./edge/streams/durable-stream-host.js";

/**
 * Routes an app adds to the platform's, typed like the platform's own: a route table
 * (`routeTable()` from src/core/http/openapi.ts) whose routes are declared with `createRoute`, so
 * they are validated and documented like the platform's (README "Declaring your own routes").
 */
export type AppRoutes = OpenAPIHono<{ Bindings: Env; Variables: RequestScope }>;

/**
 * An app: what a team writes. Only `entities` is required. `S` is its
 * services, so that a saga declaring a service the app does not provide does not compile.
 */
export interface AppDefinition<S extends Services = Services> {
  /** Entity types; each is served at `/v1/entities/{type}` (names must be unique). */
  readonly entities: readonly EntityType[];
  /** Read models, each served at `/v1/views/{name}` and fed from the facts queue (default: none). */
  readonly projections?: readonly Projection[];
  /**
   * Sagas, fed from the facts queue (default: none). Each service a saga declares (`services`)
   * must be a key of `services`: checked at compile time and when the module loads.
   */
  // NoInfer: the names come from `services` alone, never widened by what a saga declares.
  readonly sagas?: readonly SagaDefinition<unknown, Extract<keyof NoInfer<S>, string>>[];
  /** Outside systems saga `call` tasks name, by name (default: none). */
  readonly services?: S;
  /**
   * Tenant routes of the app's own, by the first path segment under `/v1` (`{ payments: routes }`
   * serves `/v1/payments/...`), behind the same tenant auth, CORS and limits as the platform's.
   */
  readonly tenantRoutes?: Readonly<Record<string, AppRoutes>>;
  /** Admin routes of the app's own, mounted under `/admin` behind the admin token. */
  readonly adminRoutes?: readonly AppRoutes[];
  /**
   * Public pages of the app's own, by their path's first segment (`{ demo: routes }` serves
   * `/demo` and below), with no authentication: a page that calls the tenant API asks its user
   * for a key. The segment may not be one the platform serves (`v1`, `admin`, `dashboard`, …).
   */
  readonly pages?: Readonly<Record<string, AppRoutes>>;
}

type HostClass<T> = new (ctx: DurableObjectState, env: Env) => T;

/** A Worker's default export, with both handlers always present. */
export interface WorkerHandler {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response>;
  queue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void>;
}

/** What a Worker built from an app exports (see worker.ts). */
export interface FactlineApp {
  /** The HTTP app (for tests that compare its routes with the API document). */
  readonly http: OpenAPIHono<{ Bindings: Env; Variables: RequestScope }>;
  /** The Worker's default export: `fetch` and `queue`. */
  readonly handler: WorkerHandler;
  readonly EntityActor: HostClass<EntityActor>;
  readonly SagaHost: HostClass<SagaHost>;
  readonly ProjectionRebuilder: HostClass<ProjectionRebuilder>;
  /** The app as the cloud tier sees it. */
  readonly cloud: CloudApp;
}

/** Segments of `/v1` the platform serves itself: an app's `tenantRoutes` may not take them. */
const RESERVED_SEGMENTS = new Set(["entities", "views", "stream"]);
const SEGMENT = /^[a-z][a-z0-9-]{0,39}$/;
/** Top-level path segments the platform serves itself: an app's `pages` may not take them. */
const RESERVED_PAGES = new Set(["v1", "admin", "dashboard", "docs", "healthz", "openapi.json", "__test"]);
const ENTITY_PATH = /^\/v1\/entities\/([^/]+)\/([^/]+)(?:\/commands\/([^/]+))?/;

/**
 * Builds the Worker for `definition`. Throws (at module load, so `wrangler dev` and the test
 * pool fail at once) when a name is outside its grammar (src/core/protocol/identifiers.ts: entity
 * types, commands, events, projections and their filters, sagas and their stages, services), two
 * entity types, projections or sagas share a name, a projection handles or a saga starts on an
 * event its entities do not declare, a saga declares a service the app does not provide (or a
 * stage timeout outside 1 ms – 1 day), a service built from a contract is provided under another
 * name than the contract's, or a tenant route segment is malformed or one the platform
 * serves.
 */
export function defineApp<const S extends Services = Record<never, Service>>(
  definition: AppDefinition<S>,
): FactlineApp {
  const entities = new EntityRegistry(definition.entities);
  // Checked again here: a projection or saga spread into a new object (`{ ...view, name }`) never
  // passed through its define function.
  const projections = definition.projections ?? [];
  for (const projection of projections) checkProjectionNames(projection);
  for (const saga of definition.sagas ?? []) checkSagaDefinition(saga);
  for (const [name, service] of Object.entries(definition.services ?? {})) {
    checkName("service name", SEGMENT_NAME, name);
    // Sagas call it by the key: under another name its contract's calls would reach another service.
    if (service.contract !== undefined && service.contract.name !== name)
      throw new Error(
        `service ${name} implements the contract of ${service.contract.name}: provide it as ${service.contract.name}`,
      );
  }
  const cloud: CloudApp = {
    entities,
    projections: unique(projections, "projection"),
    sagas: unique(definition.sagas ?? [], "saga"),
    services: definition.services ?? {},
  };
  // A projection or saga over an entity type the app leaves out would compile and then never see a
  // fact of it (or command one that is not served): refused here, where the mistake is made.
  const undefinedType = (types: readonly string[]) => types.find((type) => entities.get(type) === undefined);
  for (const projection of cloud.projections) {
    const missing = undefinedType(projection.follows);
    if (missing !== undefined)
      throw new Error(`projection ${projection.name} follows ${missing}, an entity type the app does not define`);
    // Checked again here: `on` may have been written without defineProjection (or changed after it).
    checkProjectionHandlers(
      projection,
      projection.follows.flatMap((type) => entities.get(type) ?? []),
    );
  }
  for (const saga of cloud.sagas) {
    const missing = undefinedType([saga.startedBy.entityType, ...(saga.entityTypes ?? [])]);
    if (missing !== undefined)
      throw new Error(`saga ${saga.name} uses ${missing}, an entity type the app does not define`);
    // The only check of an untyped saga's trigger: a fact of a type its entity never records never starts it.
    const starter = entities.get(saga.startedBy.entityType);
    if (starter) checkSagaTrigger(saga, starter);
    // Else each of its calls would be rejected when made, and the saga turned round.
    const unprovided = saga.services?.find((name) => !Object.hasOwn(cloud.services, name));
    if (unprovided !== undefined)
      throw new Error(`saga ${saga.name} calls service ${unprovided}, which the app does not provide`);
  }
  const tenantExtras = Object.entries(definition.tenantRoutes ?? {});
  for (const [segment] of tenantExtras) {
    if (!SEGMENT.test(segment) || RESERVED_SEGMENTS.has(segment))
      throw new Error(`tenant routes cannot be mounted at /v1/${segment}`);
  }
  const pages = Object.entries(definition.pages ?? {});
  for (const [segment] of pages) {
    if (!SEGMENT.test(segment) || RESERVED_PAGES.has(segment))
      throw new Error(`pages cannot be mounted at /${segment}`);
  }
  const http = httpApp(cloud, tenantExtras, definition.adminRoutes ?? [], pages);
  return {
    http,
    cloud,
    handler: {
      // Every answer, refusals of a malformed configuration included, comes from the app, so
      // each carries the headers its middleware sets (httpApp).
      fetch: async (request, env, ctx) => http.fetch(request, env, ctx),
      async queue(batch, env, ctx) {
        setLogLevel(hostConfig(env, "queue").logLevel);
        if (batch.queue.endsWith("-dlq")) await consumeDeadLetterQueue(batch, drizzle(env.DB));
        else {
          await consumeFacts(batch, env, cloud);
          ctx.waitUntil(flushMetricsNow(env.DB));
        }
      },
    },
    EntityActor: createEntityActor(entities),
    SagaHost: createSagaHost(cloud),
    ProjectionRebuilder: createProjectionRebuilder(cloud),
  } satisfies FactlineApp & { handler: ExportedHandler<Env> };
}

function unique<T extends { readonly name: string }>(items: readonly T[], kind: string): readonly T[] {
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.name)) throw new Error(`${kind} defined twice: ${item.name}`);
    seen.add(item.name);
  }
  return items;
}

function httpApp(
  cloud: CloudApp,
  tenantExtras: readonly [string, AppRoutes][],
  adminExtras: readonly AppRoutes[],
  pages: readonly [string, AppRoutes][],
): OpenAPIHono<{ Bindings: Env; Variables: RequestScope }> {
  const app = routeTable<{ Bindings: Env; Variables: RequestScope }>();
  const document = apiDocument(app);

  // Outermost, so that they also apply to what the inner middleware and the error handlers answer.
  // Referrer-Policy same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on
  // same-origin form posts, which the dashboard's CSRF check (rightly) refuses.
  // X-Frame-Options DENY (Hono's default is SAMEORIGIN): nothing frames the dashboard or the API
  // reference, so no page of ours may be framed, even by our own origin (clickjacking).
  // X-Powered-By is never set here, so nothing removes it.
  const pageOptions = { referrerPolicy: "same-origin", xFrameOptions: "DENY", removePoweredBy: false } as const;
  const pageHeaders = secureHeaders(pageOptions);
  // The tenant API answers JSON and streams, never a document a browser renders: the OWASP REST
  // Security Cheat Sheet's set (HSTS, nosniff, X-Frame-Options DENY) with Referrer-Policy and CORP.
  // The headers that only concern rendered documents or retired clients (COOP, Origin-Agent-Cluster,
  // X-DNS-Prefetch-Control, X-Download-Options for IE, X-Permitted-Cross-Domain-Policies for Flash,
  // X-XSS-Protection) are left off: every header is serialized, parsed and forwarded on every
  // answer, and on the bare substrate locally the 13 a command's answer carried cost about 7 % of
  // its workerd CPU (0.1 of 1.3 ms, the same insert answered with and without them).
  const apiHeaders = secureHeaders({
    ...pageOptions,
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  });
  app.use("*", (c, next) => {
    // A WebSocket handshake's 101 has immutable headers, and no browser renders a handshake's answer.
    if (c.req.header("upgrade")?.toLowerCase() === "websocket") return next();
    return (c.req.path.startsWith("/v1/") ? apiHeaders : pageHeaders)(c, next);
  });
  // Tenant data and admin answers (API keys among them) are stored by no cache unless the route
  // says otherwise (a Durable Stream's read below its tail is `private, max-age=60`). The API
  // origin also serves bytes a tenant chose (a stream of text/html, say): as a sandbox allowing
  // nothing, a browser that opens one runs none of its script on this origin (OWASP REST cheat sheet).
  // On /v1 only reads need them: no cache stores a POST's or PUT's answer without explicit
  // freshness (RFC 9111 §9.3.3), and a write's answer is JSON, inert in a browser; the command
  // path is left their cost.
  app.use("/v1/*", async (c, next) => {
    await next();
    if (c.res.status === 101 || (c.req.method !== "GET" && c.req.method !== "HEAD")) return;
    if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
    // Every tenant reads the same URLs: a browser may reuse a cached read (a stream's `private,
    // max-age=60`) only for the same key, never for another tenant's or none.
    c.res.headers.append("vary", "Authorization");
    c.res.headers.set("content-security-policy", "sandbox; default-src 'none'; frame-ancestors 'none'");
  });
  app.use("/admin/*", async (c, next) => {
    await next();
    if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
  });
  app.use("*", async (c, next) => {
    const started = Date.now();
    // An invalid traceparent starts a new trace (W3C Trace Context §4.3); only ours is recorded.
    const trace = continueTrace(c.req.header("traceparent"));
    // Not hono/request-id: it silently replaces an id outside its grammar, while ours is recorded
    // as a command's correlation id, so a malformed or oversized one is refused (400) like every
    // recorded header (command-metadata.ts), and its grammar is visible ASCII, not [\w=-].
    const sentId = c.req.header("x-request-id");
    const badId = sentId === undefined ? undefined : checkMetadataId("requestId", sentId);
    c.set("requestId", sentId === undefined || badId ? crypto.randomUUID() : sentId);
    c.set("traceparent", trace.traceparent);
    c.set("traceId", trace.traceId);
    // It is logged, echoed and, on commands, recorded as the correlation id: bounded on every route.
    const badQuery = queryRefusal(c.req.url);
    if (badId) c.res = problemResponse(metadataProblem(badId));
    else if (badQuery !== undefined) c.res = problemResponse(problem("malformed-request", badQuery));
    else await next();
    // c.get, not c.var: Hono's c.var copies every variable into a new object on each access.
    const requestId = c.get("requestId");
    const tenant = c.get("tenant");
    if (c.res.status !== 101) {
      c.res.headers.set("traceparent", trace.traceparent);
      c.res.headers.set("x-request-id", requestId);
    }
    const path = c.req.path;
    const entity = ENTITY_PATH.exec(path);
    const durationMs = Date.now() - started;
    logEvent(c.res.status >= 500 ? "error" : "info", "request", {
      requestId,
      traceId: trace.traceId,
      tenant: tenant ?? null,
      entityType: entity?.[1] ?? null,
      entityId: entity?.[2] ?? null,
      method: c.req.method,
      path,
      status: c.res.status,
      durationMs,
    });
    if (tenant !== undefined) {
      recordRequest({
        tenant,
        isCommand: c.req.method === "POST" && entity?.[3] !== undefined,
        status: c.res.status,
        durationMs,
        factsRecorded: c.get("factsRecorded") ?? 0,
      });
      const flushing = scheduleMetricsFlush(c.env.DB);
      if (flushing) c.executionCtx.waitUntil(flushing);
    }
  });

  // These two run inside the request-id middleware, so what they answer carries its headers and is
  // logged with its own status (a 405 decided outside it was logged as the 404 it replaced).
  // A malformed setting refuses every request at the door, where an operator sees it at once,
  // rather than running on a value that would fail later in every alarm.
  app.use("*", async (c, next) => {
    const { config, errors } = readConfig(c.env);
    setLogLevel(config.logLevel);
    if (errors.length === 0) return next();
    logEvent("error", "configuration invalid; refusing requests", { errors: describeConfigErrors(errors) });
    throw fail("config-invalid", `malformed settings: ${errors.map((e) => e.path).join(", ")}`, { errors });
  });
  // A body sent with a digest is checked before any route, even one that never reads it, up to the
  // largest body a route of its area takes. Outside /v1 that is a JSON body's bound, checked
  // before authentication (admin's and the dashboard's happen inside their routes); a tenant's
  // body, up to a stream append's 1 MiB, only once its key is admitted (below), so a request
  // without one never makes the Worker hold more than MAX_BODY_BYTES.
  // A predicate, not the path pattern "/v1/*": Hono builds a router for a pattern and matches every
  // request against it, which the command path would pay for nothing.
  app.use(
    "*",
    except((c) => c.req.path.startsWith("/v1/"), checkBodyDigests(MAX_BODY_BYTES)),
  );
  app.use(
    "*",
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, allowed) => {
        throw fail(
          "method-not-allowed",
          `${c.req.method} is not served here; use ${allowed.join(", ")}`,
          {},
          { allow: allowed.join(", ") },
        );
      },
    }),
  );

  // The API document is generated from every route declaration mounted below (createRoute).
  app.route("/", platformRoutes(document));
  app.use("/v1/*", tenantCors());
  app.use("/v1/*", tenantAuth());
  app.use("/v1/*", checkBodyDigests(MAX_APPEND_BYTES));
  app.route("/v1/entities", entityRoutes(cloud.entities));
  app.route("/v1/views", viewRoutes(cloud));
  // Durable Streams protocol (edge/streams/): tenant streams, one object each.
  app.route("/v1/stream", streamRoutes());
  app.route("/v1/entities", entityStreamRoutes(cloud.entities));
  app.route("/v1/views", viewChangeRoutes(cloud.projections));
  for (const [segment, routes] of tenantExtras) app.route(`/v1/${segment}`, routes);
  app.route("/admin", adminRoutes(cloud, adminExtras));
  app.route("/dashboard", dashboardRoutes(cloud));
  for (const [segment, routes] of pages) app.route(`/${segment}`, routes);

  app.notFound((c) => {
    // A browser on a dashboard path gets the dashboard's own HTML page (its renderer is set by then).
    if (isDashboardPath(c.req.path) && (c.req.header("accept") ?? "").includes("text/html"))
      return dashboardNotFound(c);
    return problemResponse(problem("not-found", `nothing at ${c.req.method} ${new URL(c.req.url).pathname}`));
  });
  // The one place errors become responses: thrown problems, Hono's HTTPException, bugs.
  app.onError(renderError);
  return app;
}

function isDashboardPath(path: string): boolean {
  return path === "/dashboard" || path.startsWith("/dashboard/");
}

/**
 * Why the query of `url` is refused, if it is: a name or value that is not percent-encoded UTF-8
 * (RFC 3986 §2.1; `%FF`, or `%ED%A0%80`, a lone surrogate), which the router would hand on as its
 * raw text (and URLSearchParams as U+FFFD), so that two spellings would mean one value; or a
 * parameter given twice, which means two things where every route reads one value per name.
 */
function queryRefusal(url: string): string | undefined {
  // Most requests have no query: they need no second parse of their URL.
  const at = url.indexOf("?");
  if (at < 0) return undefined;
  try {
    decodeURIComponent(url.slice(at + 1));
  } catch {
    return "the query string is not percent-encoded UTF-8 (RFC 3986 §2.1)";
  }
  const seen = new Set<string>();
  for (const name of new URL(url).searchParams.keys()) {
    if (seen.has(name)) return `the query parameter ${JSON.stringify(name.slice(0, 64))} is given more than once`;
    seen.add(name);
  }
  return undefined;
}
