// CORS for browser clients of the tenant API, per tenant. A preflight carries no credentials, so
// it cannot name a tenant: it is answered for any origin, and the real request decides — its
// response allows the origin only if the tenant (known once the key is admitted) lists it, so a
// browser on any other origin never gets to read an answer.
import type { MiddlewareHandler } from "hono";
import type { RequestScope } from "../../src/core/http/request-scope.js";

const ALLOW_HEADERS =
  "authorization, content-type, idempotency-key, if-match, factline-consistency, factline-cause-clock, factline-correlation-id, factline-causation-id, " +
  "factline-client-session, factline-client-seq, last-event-id, traceparent, x-request-id, " +
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
