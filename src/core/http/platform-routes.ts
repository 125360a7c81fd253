// The platform's own routes: liveness, the API document and its rendered reference page. The
// document is generated (OpenAPI 3.1) from the route declarations of the whole app, once per
// isolate, by `apiDocument`.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "hono";
import { z } from "zod";
import { API_REFERENCE_CSP, renderApiReference } from "./api-reference-page.js";
import { html, json, problems, registerComponents, routeTable, security } from "./openapi.js";

const INFO = {
  title: "Factline",
  version: "1",
  description:
    "Event-sourced entities at the edge, read models in D1. Tenant routes take `Authorization: Bearer <tenant api key>`; admin routes take the ADMIN_TOKEN. Errors are application/problem+json.",
};

/**
 * The OpenAPI 3.1 document of everything declared on `app` (and the tables mounted on it before
 * the first call), built on the first call and kept for the isolate's life.
 */
export function apiDocument(
  app: Pick<OpenAPIHono, "openAPIRegistry" | "getOpenAPI31Document">,
): () => Record<string, unknown> {
  let built: Record<string, unknown> | undefined;
  registerComponents(app);
  return () => (built ??= { ...documented(app.getOpenAPI31Document({ openapi: "3.1.0", info: INFO })) });
}

/**
 * The document with Hono's regex path parameters (`{name{.+}}`, a name spanning segments) written
 * as the plain templates OpenAPI knows (`{name}`); the parameter's description says what it spans.
 */
function documented<D extends { paths?: Record<string, unknown> }>(doc: D): D {
  if (!doc.paths) return doc;
  const paths = Object.fromEntries(
    Object.entries(doc.paths).map(([path, item]) => [path.replaceAll(/\{(\w+)\{[^}]*\}\}/g, "{$1}"), item]),
  );
  return { ...doc, paths };
}

/** `GET /healthz`, `GET /openapi.json` (answering `document()`) and `GET /docs`. */
export function platformRoutes<E extends Env>(document: () => Record<string, unknown>): OpenAPIHono<E> {
  const routes = routeTable<E>();
  const platform = { tags: ["platform"], security: security("none") };
  routes.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      operationId: "healthz",
      summary: "liveness check",
      ...platform,
      responses: { 200: json(z.object({ status: z.literal("ok") }), "up"), ...problems("none") },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );
  routes.openapi(
    createRoute({
      method: "get",
      path: "/openapi.json",
      operationId: "openapi",
      summary: "this document (OpenAPI 3.1)",
      ...platform,
      responses: { 200: json(z.record(z.string(), z.unknown()), "the OpenAPI document"), ...problems("none") },
    }),
    (c) => c.json(document(), 200),
  );
  routes.openapi(
    createRoute({
      method: "get",
      path: "/docs",
      operationId: "docs",
      summary: "the API reference, rendered from this document",
      ...platform,
      responses: { 200: html("an HTML page"), ...problems("none") },
    }),
    // Offline by design: one server-rendered page, no scripts or outside assets.
    (c) => c.html(renderApiReference(document()), 200, { "content-security-policy": API_REFERENCE_CSP }),
  );
  return routes;
}
