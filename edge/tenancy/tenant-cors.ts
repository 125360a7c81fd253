// CORS for browser clients of the tenant API, per tenant. A preflight carries no credentials, so
// it cannot name a tenant: it is answered for an origin some active tenant lists (ListedOrigins, read
// from D1 within the admission bound) and refused for any other, so no page elsewhere can make its
// visitors' browsers send bearer keys (each wrong one would spend their failed-authentication
// budget). The real request decides the rest: its response allows the origin only if the tenant
// (known once the key is admitted) lists it, so a browser on any other origin never reads an answer.
import type { MiddlewareHandler } from "hono";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { ListedOrigins } from "../../src/core/security/listed-origins.js";

// Active tenants only: a suspended tenant's pages may not even be told they may send.
const LISTED_ORIGINS_SQL =
  "SELECT DISTINCT o.value AS origin FROM tenants t, json_each(t.cors_origins) o WHERE t.status = 'active'";
const listedOrigins = new ListedOrigins();

const ALLOW_HEADERS =
  "authorization, content-type, idempotency-key, if-match, factline-consistency, factline-cause-clock, factline-correlation-id, factline-causation-id, " +
  "factline-client-session, factline-client-seq, last-event-id, traceparent, x-request-id, " +
  // Body integrity (RFC 9530, src/core/http/content-digest.ts): checked on every route.
  "content-digest, repr-digest, " +
  // Durable Streams (edge/streams/): request headers of the protocol, and conditional reads.
  "if-none-match, stream-seq, stream-ttl, stream-expires-at, stream-closed, stream-forked-from, stream-fork-offset, stream-fork-sub-offset, producer-id, producer-epoch, producer-seq";
const EXPOSE_HEADERS =
  "etag, factline-consistency, factline-stale, idempotent-replayed, retry-after, traceparent, x-request-id, " +
  "location, stream-next-offset, stream-cursor, stream-up-to-date, stream-closed, stream-ttl, stream-expires-at, stream-sse-data-encoding, producer-epoch, producer-seq, producer-expected-seq, producer-received-seq";

export function tenantCors(): MiddlewareHandler<{ Bindings: Env; Variables: RequestScope }> {
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (
      c.req.method === "OPTIONS" &&
      origin !== undefined &&
      c.req.header("access-control-request-method") !== undefined
    ) {
      const listed = await listedOrigins
        .has(origin, Date.now(), hostConfig(c.env, "edge").tenantAdmissionMaxStaleMs, async () => {
          const { results } = await c.env.DB.prepare(LISTED_ORIGINS_SQL).all<{ origin: string }>();
          return results.map((row) => row.origin);
        })
        .catch(() => undefined);
      if (listed === undefined)
        return problemResponse(
          problem("dependency-unavailable", "the tenant directory is unavailable; retry shortly", { retryAfter: 1 }),
        );
      if (!listed)
        return problemResponse(
          problem(
            "forbidden",
            // Cut as every echoed header is: the answer must not grow with what the client sent.
            `no active tenant lists the origin ${JSON.stringify(origin.slice(0, 64))} (PUT /admin/tenants/{id}/cors)`,
          ),
          { vary: "Origin" },
        );
      return c.body(null, 204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": "GET, HEAD, PUT, POST, DELETE",
        "access-control-allow-headers": ALLOW_HEADERS,
        "access-control-max-age": "600",
        vary: "Origin",
      });
    }
    await next();
    if (origin === undefined || c.res.status === 101) return;
    // Responses passed through from a Durable Object (live streams) have immutable headers.
    c.res = new Response(c.res.body, c.res);
    c.res.headers.append("vary", "Origin");
    if (c.get("corsOrigins")?.includes(origin)) {
      c.res.headers.set("access-control-allow-origin", origin);
      c.res.headers.set("access-control-expose-headers", EXPOSE_HEADERS);
    }
  };
}
