// What every route declaration shares. Routes are declared once with `@hono/zod-openapi`'s
// `createRoute` (path, parameters, body schema, responses and problems): the router validates
// what a declaration names and `GET /openapi.json` is generated from the same declarations
// (OpenAPI 3.1), so the document cannot drift from what the API accepts. This file gives the
// declarations their common parts — the security each audience implies, the problem responses
// (one `Problem` component, from the catalogue), JSON and HTML content — and the route table
// factory whose validation hook answers RFC 9457 problem+json instead of zod's raw error.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "hono";
import { z } from "zod";
import { fieldErrors } from "../model/entity.js";
import { fail, problemCatalogue, problemSchema, type ProblemError } from "./problem.js";

/** Who may call a route: a tenant API key, the ADMIN_TOKEN, or anyone. */
export type Audience = "tenant" | "admin" | "none";

/** Error statuses a route may declare; each is answered as problem+json (see problem.ts). */
export type ProblemStatus = 400 | 401 | 403 | 404 | 405 | 409 | 410 | 412 | 413 | 415 | 422 | 429 | 500 | 503;

const AUDIENCE_PROBLEMS = { tenant: [401, 403, 429], admin: [401, 429], none: [] } as const satisfies Record<
  Audience,
  readonly ProblemStatus[]
>;

/** The OpenAPI security requirement of an audience (schemes registered by `registerComponents`). */
export function security(audience: Audience): Array<Record<string, string[]>> {
  return audience === "tenant" ? [{ tenantKey: [] }] : audience === "admin" ? [{ adminToken: [] }] : [];
}

interface ProblemResponse {
  readonly description: string;
  readonly content: { readonly "application/problem+json": { readonly schema: typeof problemSchema } };
  readonly headers?: z.ZodObject;
}

const retryAfterHeader = z.object({
  "Retry-After": z.string().regex(/^\d+$/).describe("seconds to wait before retrying"),
});
// A 412 is If-Match's (version-mismatch), the only one in the catalogue.
const currentVersionHeader = z.object({
  ETag: z.string().describe('the version the entity is at, e.g. "3": retry against it'),
});

/**
 * The problem responses of a route: those its audience implies (401 for a missing key, 403 for a
 * suspended tenant, 429 for rate limits and, for both audiences, too many failed authentication
 * attempts from the client), the `statuses` it names, and 500. Each is described by
 * the catalogue's titles for that status; 429 and 503 carry `Retry-After`, 412 the current `ETag`.
 */
export function problems<A extends Audience, const S extends readonly ProblemStatus[]>(
  audience: A,
  ...statuses: S
): Record<(typeof AUDIENCE_PROBLEMS)[A][number] | S[number] | 500, ProblemResponse> {
  const catalogue = problemCatalogue();
  const all: readonly ProblemStatus[] = [
    ...new Set<ProblemStatus>([...AUDIENCE_PROBLEMS[audience], ...statuses, 500]),
  ].sort((a, b) => a - b);
  // Built from exactly the statuses the return type names (fromEntries cannot say so itself).
  return Object.fromEntries(
    all.map((status) => [
      status,
      {
        description:
          catalogue
            .filter((p) => p.status === status)
            .map((p) => p.title)
            .join("; ") || "Error",
        content: { "application/problem+json": { schema: problemSchema } },
        ...(status === 429 || status === 503
          ? { headers: retryAfterHeader }
          : status === 412
            ? { headers: currentVersionHeader }
            : {}),
      },
    ]),
  ) as Record<(typeof AUDIENCE_PROBLEMS)[A][number] | S[number] | 500, ProblemResponse>;
}

/** A JSON response of `schema` (zod; its output type), with optional response `headers`. */
export function json<S extends z.ZodType>(schema: S, description: string, headers?: z.ZodObject) {
  return { description, content: { "application/json": { schema } }, ...(headers ? { headers } : {}) };
}

/** An HTML page. */
export function html(description: string) {
  return { description, content: { "text/html": { schema: z.string() } } };
}

/** A Server-Sent Events stream. */
export function eventStream(description: string) {
  return {
    description,
    content: { "text/event-stream": { schema: z.string().describe("one event as JSON per message, id: <seq>") } },
  };
}

/** A JSON request body of `schema`, validated by the router (after the strict reader, json-body.ts). */
export function jsonBody<S extends z.ZodType>(schema: S) {
  return { required: true, content: { "application/json": { schema } } } as const;
}

/**
 * An optional query parameter holding a whole number from `min` to `max` (decimal digits only: no
 * sign, exponent, fraction or space), still a string for the route to convert, `fallback` when
 * absent. Any other text fails with one error that names the range, so a client sees one entry
 * per field in the problem's `errors`.
 */
export function countQuery(name: string, min: number, max: number, fallback: number) {
  return z
    .string()
    .refine(
      (text) => /^\d+$/.test(text) && Number(text) >= min && Number(text) <= max,
      `${name} must be a whole number from ${min} to ${max}`,
    )
    .optional()
    .describe(`${min}-${max}, default ${fallback}`);
}

/**
 * Answers a failed validation as a problem, by what failed: the body or the query is
 * `validation-failed` with per-field `errors`; a path parameter, a header or a cookie is
 * `malformed-request` (the request names something no resource can be), its `errors` naming the
 * header as clients write it (`Idempotency-Key`).
 */
export function validationProblem(target: string, error: z.ZodError): ProblemError {
  const errors = fieldErrors(error);
  if (target === "json" || target === "form" || target === "query") {
    return fail("validation-failed", `the request ${target === "query" ? "query" : "body"} is invalid`, { errors });
  }
  const named = target === "header" ? errors.map((e) => ({ ...e, path: headerName(e.path) })) : errors;
  return fail("malformed-request", error.issues[0]?.message ?? `the request's ${target} is malformed`, {
    errors: named,
  });
}

/** `idempotency-key` as clients and the RFCs write it: `Idempotency-Key`. */
function headerName(lower: string): string {
  return lower.replace(/(^|-)([a-z])/g, (_, dash: string, ch: string) => dash + ch.toUpperCase());
}

/** The router's validation hook: a failure is thrown as a problem, rendered by the one `onError`. */
export function problemHook(
  result: { readonly target: string } & (
    | { readonly success: true }
    | { readonly success: false; readonly error: z.ZodError }
  ),
): undefined {
  if (!result.success) throw validationProblem(result.target, result.error);
  return undefined;
}

/**
 * A route table whose declarations are validated with `problemHook`. Every route module makes its
 * table with this, so validation answers alike wherever a table is mounted.
 */
export function routeTable<E extends Env>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({ defaultHook: problemHook });
}

/**
 * Registers the security schemes every declaration's `security` names. (`Problem` needs no
 * registering: its schema carries its component id.) Schemas here carry their OpenAPI details
 * with zod's own `.meta()`, never the `.openapi()` extension: that method exists only on schemas
 * created after `@hono/zod-openapi` was first imported, an order a bundler does not promise.
 */
export function registerComponents(app: Pick<OpenAPIHono, "openAPIRegistry">): void {
  const registry = app.openAPIRegistry;
  registry.registerComponent("securitySchemes", "tenantKey", {
    type: "http",
    scheme: "bearer",
    description: "A tenant API key (fl_…), shown once when issued",
  });
  registry.registerComponent("securitySchemes", "adminToken", {
    type: "http",
    scheme: "bearer",
    description: "The ADMIN_TOKEN Workers secret",
  });
}
