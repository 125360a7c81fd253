// The Worker's side of tenant streams: `/v1/stream/{name}` for every protocol method, behind the
// tenant auth every `/v1` route has. It names the stream's object from the tenant and the path,
// resolves a fork's source path, and forwards the request (body and all) to the object, which
// answers in the protocol's terms. Each method is declared once (createRoute); the protocol's
// headers carry most of the meaning (PROTOCOL.md §5), so the declarations name the operations,
// their statuses and their problems. A name spans segments (`/v1/stream/a/b`): the path's
// parameter is Hono's `{name{.+}}`, documented as `{name}` (src/core/http/platform-routes.ts).
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { z } from "zod";
import { problems, routeTable, security, type ProblemStatus } from "../../src/core/http/openapi.js";
import { readRequestBody } from "../../src/core/http/bounded-body.js";
import { fail, ProblemError } from "../../src/core/http/problem.js";
import { contentCodingProblem } from "../../src/core/http/request-body.js";
import { noBody, streamBytes, streamReadQuery } from "../../src/core/streams/stream-openapi.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { MAX_APPEND_BYTES } from "./durable-stream-host.js";
import { durableStreamStub } from "../stubs.js";
import {
  forkSourceName,
  STREAM_FORK_SOURCE_HEADER,
  STREAM_KEY_HEADER,
  STREAM_TENANT_HEADER,
  streamNameInPath,
  streamNameProblem,
} from "./stream-names.js";

type StreamEnv = { Bindings: Env; Variables: RequestScope };

const nameParam = z.object({
  name: z.string().describe("the stream's name: /-separated segments of A-Z a-z 0-9 . _ ~ -"),
});

/** One protocol method on `/v1/stream/{name}`. */
function streamRoute<M extends "get" | "put" | "post" | "delete", const S extends readonly ProblemStatus[]>(
  method: M,
  operationId: string,
  summary: string,
  responses: Record<number, { description: string }>,
  ...statuses: S
) {
  return createRoute({
    method,
    path: "/{name{.+}}",
    operationId,
    summary,
    tags: ["streams"],
    security: security("tenant"),
    request: method === "get" ? { params: nameParam, query: streamReadQuery } : { params: nameParam },
    responses: { ...responses, ...problems("tenant", ...statuses) },
  });
}

/** Routes of `/v1/stream` (mount with `app.route("/v1/stream", streamRoutes())`). */
export function streamRoutes(): OpenAPIHono<StreamEnv> {
  const app = routeTable<StreamEnv>();
  app.openapi(
    streamRoute(
      "put",
      "streams.create",
      "create a stream, or a fork of one (idempotent for the same configuration). Headers: Content-Type, Stream-TTL or Stream-Expires-At, Stream-Closed, Stream-Forked-From, Stream-Fork-Offset, Stream-Fork-Sub-Offset; the body, if any, is the first message",
      {
        201: noBody("created; Location and Stream-Next-Offset are set"),
        200: noBody("already exists with this configuration"),
      },
      400,
      404,
      409,
      413,
      415,
    ),
    serveStream,
  );
  app.openapi(
    streamRoute(
      "post",
      "streams.append",
      "append to a stream, optionally closing it (Stream-Closed: true); idempotent with Producer-Id/Epoch/Seq",
      {
        200: noBody("appended by an idempotent producer"),
        204: noBody("appended, or closed, or a producer's duplicate"),
      },
      400,
      403,
      404,
      409,
      410,
      413,
      415,
    ),
    serveStream,
  );
  // Hono serves HEAD through the GET route (c.req.method stays HEAD, and is forwarded as such).
  app.openapi(
    streamRoute(
      "get",
      "streams.read",
      "read from an offset: catch-up, long-poll (live=long-poll) or Server-Sent Events (live=sse); HEAD gives the metadata",
      {
        200: streamBytes("the stream's bytes from the offset (a JSON array for application/json streams)"),
        204: noBody("long-poll timed out, or the stream is closed at this offset"),
        304: noBody("If-None-Match matched"),
      },
      400,
      404,
      410,
    ),
    serveStream,
  );
  app.openapi(
    streamRoute(
      "delete",
      "streams.delete",
      "delete a stream (soft-deleted while forks of it exist)",
      { 204: noBody("deleted") },
      404,
      410,
    ),
    serveStream,
  );
  return app;
}

/** Every method: names the stream's object, forwards the protocol's part of the request, relays the answer. */
async function serveStream(c: Context<StreamEnv>): Promise<Response> {
  const tenant = c.get("tenant");
  if (tenant === undefined) throw fail("unauthorized", "no tenant");
  const name = streamNameInPath(new URL(c.req.url).pathname) ?? "";
  const bad = streamNameProblem(name);
  if (bad !== undefined) throw fail("not-found", bad);
  // Only the protocol's headers reach the object (never the client's credentials, nor an internal header it sent).
  const headers = new Headers();
  for (const [header, value] of c.req.raw.headers) if (FORWARDED.test(header)) headers.set(header, value);
  headers.set(STREAM_TENANT_HEADER, tenant);
  const keyId = c.get("keyId");
  if (keyId !== undefined) headers.set(STREAM_KEY_HEADER, keyId);
  const forkedFrom = headers.get("stream-forked-from");
  if (forkedFrom !== null) {
    const source = forkSourceName(forkedFrom, new URL(c.req.url).origin);
    if (source === undefined)
      throw fail(
        "malformed-request",
        "Stream-Forked-From must be the path of a stream of this tenant (/v1/stream/{name})",
      );
    headers.set(STREAM_FORK_SOURCE_HEADER, source);
  }
  const stub = durableStreamStub(c.env, tenant, name);
  let body: Uint8Array | null = null;
  if (c.req.method === "PUT" || c.req.method === "POST") {
    // Buffered here (bounded): one copy to the object beats a streamed body for small appends.
    const read = await readRequestBody(c.req.raw, MAX_APPEND_BYTES);
    if (!read.ok) throw new ProblemError(read.problem);
    // Refused once read, so the client sees the answer rather than a reset upload (as the 413).
    const coded = contentCodingProblem(c.req.header("content-encoding") ?? null, "body");
    if (coded) throw new ProblemError(coded);
    body = read.bytes;
    headers.delete("transfer-encoding");
  }
  if (c.req.method !== "GET" && c.req.method !== "HEAD") {
    const unsupported = unsupportedWriteHeader(c.req.raw.headers);
    if (unsupported) throw unsupported;
  }
  // The object parks a long-poll at the tail; whether it will is its call, so the place is freed
  // for every long-poll read (RequestScope.releaseAdmission).
  if (c.req.method === "GET" && c.req.query("live") === "long-poll") c.get("releaseAdmission")?.();
  // An SSE read goes over `fetch`, not RPC: a body streamed back over RPC outlives its reader's
  // departure badly, the runtime logging an uncaught "Network connection lost" at the object's next
  // write (cloudflare/workers-sdk#11071), while over `fetch` the object's body is cancelled and its
  // loop ends (push-body.ts).
  const res =
    c.req.method === "GET" && c.req.query("live") === "sse"
      ? await stub.fetch(new Request(c.req.url, { headers }))
      : await stub.serve(c.req.method, c.req.url, Object.fromEntries(headers), body);
  const out = new Response(c.req.method === "HEAD" || res.status === 204 || res.status === 304 ? null : res.body, {
    status: res.status,
    headers: res.headers,
  });
  if (res.status === 201) out.headers.set("location", new URL(c.req.url).origin + new URL(c.req.url).pathname);
  return out;
}

/**
 * Write headers of the tenant API that a stream does not implement, and what does their work in
 * the protocol: a write that sent one must not be taken as if its condition held or its retry were
 * deduplicated, so it is refused (400) rather than served without it.
 */
const UNSUPPORTED_WRITE_HEADERS: Readonly<Record<string, string>> = {
  "if-match":
    "If-Match is not supported on streams: order appends with Stream-Seq (409 on a regression) or an idempotent producer's Producer-Seq",
  "if-none-match":
    "If-None-Match is not supported on stream writes: a PUT is create-or-ensure (200 when the stream exists as asked, 409 otherwise)",
  "if-unmodified-since":
    "If-Unmodified-Since is not supported on streams: order appends with Stream-Seq or an idempotent producer's Producer-Seq",
  "idempotency-key":
    "Idempotency-Key is not supported on streams: retry appends safely as an idempotent producer (Producer-Id, Producer-Epoch, Producer-Seq); a repeated PUT with the same configuration is already idempotent",
};

/** The 400 for a write (PUT, POST, DELETE) that sent a header of UNSUPPORTED_WRITE_HEADERS, or undefined. */
function unsupportedWriteHeader(headers: Headers): ProblemError | undefined {
  for (const [name, detail] of Object.entries(UNSUPPORTED_WRITE_HEADERS))
    if (headers.has(name)) return fail("malformed-request", detail);
  return undefined;
}

/** Request headers the object reads (PROTOCOL.md §5): content type, conditional reads, Stream-*, Producer-*. */
const FORWARDED = /^(content-type|if-none-match|stream-[a-z-]+|producer-(id|epoch|seq))$/;
