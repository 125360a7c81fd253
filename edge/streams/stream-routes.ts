// The Worker's side of tenant streams: `/v1/stream/{name}` for every protocol method, behind the
// tenant auth every `/v1` route has. It names the stream's object from the tenant and the path,
// resolves a fork's source path, and forwards the request (body and all) to the object, which
// answers in the protocol's terms. A plain Hono sub-app, mounted in platform.ts.
import { Hono } from "hono";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { MAX_APPEND_BYTES } from "./durable-stream-host.js";
import { forkSourceName, STREAM_FORK_SOURCE_HEADER, STREAM_TENANT_HEADER, streamNameProblem, streamObjectName } from "./stream-names.js";

/** Routes of `/v1/stream` (mount with `app.route("/v1/stream", streamRoutes())`). */
export function streamRoutes(): Hono<{ Bindings: Env; Variables: RequestScope }> {
  const app = new Hono<{ Bindings: Env; Variables: RequestScope }>();
  // Hono serves HEAD through the GET route (c.req.method stays HEAD, and is forwarded as such).
  app.on(["GET", "PUT", "POST", "DELETE"], "/:name{.+}", async (c) => {
    const tenant = c.var.tenant;
    if (tenant === undefined) return problemResponse(problem("unauthorized", "no tenant"));
    const name = c.req.param("name");
    const bad = streamNameProblem(name);
    if (bad !== undefined) return problemResponse(problem("not-found", bad));
    const headers = new Headers(c.req.raw.headers);
    headers.delete(STREAM_FORK_SOURCE_HEADER);
    headers.set(STREAM_TENANT_HEADER, tenant);
    const forkedFrom = headers.get("stream-forked-from");
    if (forkedFrom !== null) {
      const source = forkSourceName(forkedFrom, new URL(c.req.url).origin);
      if (source === undefined) return problemResponse(problem("malformed-request", "Stream-Forked-From must be the path of a stream of this tenant (/v1/stream/{name})"));
      headers.set(STREAM_FORK_SOURCE_HEADER, source);
    }
    const stub = c.env.DURABLE_STREAMS.getByName(streamObjectName(tenant, name));
    let body: ArrayBuffer | null = null;
    if (c.req.method === "PUT" || c.req.method === "POST") {
      // Buffered here (bounded): one copy to the object beats a streamed body for small appends.
      if (Number(c.req.header("content-length") ?? "0") > MAX_APPEND_BYTES) return problemResponse(problem("payload-too-large", `a body may carry at most ${MAX_APPEND_BYTES} bytes`));
      body = await c.req.arrayBuffer();
      if (body.byteLength > MAX_APPEND_BYTES) return problemResponse(problem("payload-too-large", `a body may carry at most ${MAX_APPEND_BYTES} bytes`));
      headers.delete("transfer-encoding");
    }
    const res = await stub.fetch(c.req.url, { method: c.req.method, headers, body });
    // Responses from an object have immutable headers; the platform's middleware adds its own.
    const out = new Response(c.req.method === "HEAD" ? null : res.body, res);
    if (res.status === 201) out.headers.set("location", new URL(c.req.url).origin + new URL(c.req.url).pathname);
    return out;
  });
  return app;
}
