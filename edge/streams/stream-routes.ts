// The Worker's side of tenant streams: `/v1/stream/{name}` for every protocol method, behind the
// tenant auth every `/v1` route has. It names the stream's object from the tenant and the path,
// resolves a fork's source path, and forwards the request (body and all) to the object, which
// answers in the protocol's terms. A plain Hono sub-app, mounted in platform.ts.
import { Hono } from "hono";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { MAX_APPEND_BYTES } from "./durable-stream-host.js";
import { durableStreamStub } from "../stubs.js";
import { forkSourceName, STREAM_FORK_SOURCE_HEADER, STREAM_TENANT_HEADER, streamNameProblem } from "./stream-names.js";

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
    // Only the protocol's headers reach the object (never the client's credentials, nor an internal header it sent).
    const headers = new Headers();
    for (const [header, value] of c.req.raw.headers) if (FORWARDED.test(header)) headers.set(header, value);
    headers.set(STREAM_TENANT_HEADER, tenant);
    const forkedFrom = headers.get("stream-forked-from");
    if (forkedFrom !== null) {
      const source = forkSourceName(forkedFrom, new URL(c.req.url).origin);
      if (source === undefined) return problemResponse(problem("malformed-request", "Stream-Forked-From must be the path of a stream of this tenant (/v1/stream/{name})"));
      headers.set(STREAM_FORK_SOURCE_HEADER, source);
    }
    const stub = durableStreamStub(c.env, tenant, name);
    let body: Uint8Array | null = null;
    if (c.req.method === "PUT" || c.req.method === "POST") {
      // Buffered here (bounded): one copy to the object beats a streamed body for small appends.
      const read = await readBounded(c.req.raw.body, MAX_APPEND_BYTES);
      if (read === undefined) return problemResponse(problem("payload-too-large", `a body may carry at most ${MAX_APPEND_BYTES} bytes`));
      body = read;
      headers.delete("transfer-encoding");
    }
    const res = await stub.serve(c.req.method, c.req.url, Object.fromEntries(headers), body);
    const out = new Response(c.req.method === "HEAD" || res.status === 204 || res.status === 304 ? null : res.body, { status: res.status, headers: res.headers });
    if (res.status === 201) out.headers.set("location", new URL(c.req.url).origin + new URL(c.req.url).pathname);
    return out;
  });
  return app;
}

/** Request headers the object reads (PROTOCOL.md §5): content type, conditional reads, Stream-*, Producer-*. */
const FORWARDED = /^(content-type|if-none-match|stream-[a-z-]+|producer-(id|epoch|seq))$/;

// An over-large body is still read to its end (and dropped), up to this much: answering before
// the upload ends makes many clients see a reset connection instead of the 413.
const DRAIN_LIMIT = 64 * 1024 * 1024;

/** The body's bytes, or undefined when it is over `max` bytes (then drained, not kept). */
async function readBounded(stream: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array | undefined> {
  if (stream === null) return new Uint8Array();
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > DRAIN_LIMIT) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    if (size <= max) chunks.push(value);
  }
  if (size > max) return undefined;
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
