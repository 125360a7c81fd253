// How dashboard routes are declared (`createRoute`, like every route): a page (HTML), a form post
// (application/x-www-form-urlencoded, CSRF-guarded) or an event stream a page subscribes to.
// Path parameters are plain strings here: a page answers an id it cannot show with its own HTML
// not-found page, not with a problem document.
import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { eventStream, html, problems, type ProblemStatus } from "../../src/core/http/openapi.js";

/** The path parameters a dashboard path names (`{tenant}`, `{id}`…), each a plain string. */
function pathParams(path: string) {
  const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? "");
  return z.object(Object.fromEntries(names.map((n) => [n, z.string()])));
}

function queryParams(query: Readonly<Record<string, string>>) {
  return z.object(
    Object.fromEntries(
      Object.entries(query).map(([name, description]) => [name, z.string().optional().describe(description)]),
    ),
  );
}

/**
 * A page: HTML for a signed-in session (a visitor without one is redirected to sign in); `refusals`
 * are the statuses it answers beyond 401 and 404 (a page that looks something up, 400 and 429).
 */
export function pageRoute<const P extends string>(
  path: P,
  operationId: string,
  summary: string,
  query: Readonly<Record<string, string>> = {},
  refusals: readonly ProblemStatus[] = [],
) {
  return createRoute({
    method: "get",
    path,
    operationId,
    summary,
    tags: ["dashboard"],
    request: { params: pathParams(path), query: queryParams(query) },
    responses: {
      200: html("an HTML page"),
      303: { description: "to the sign-in page, or the page that applies" },
      ...problems("none", 401, 404, ...refusals),
    },
  });
}

/** A form post: refused with 403 unless it comes from this origin with the session's CSRF token. */
export function formRoute<const P extends string>(path: P, operationId: string, summary: string) {
  return createRoute({
    method: "post",
    path,
    operationId,
    summary,
    description:
      "A form post (application/x-www-form-urlencoded, at most 16 KiB, 413 beyond); refused with 403 unless it comes from the dashboard's own origin with the session's CSRF token.",
    tags: ["dashboard"],
    request: { params: pathParams(path) },
    responses: {
      200: html("an HTML page"),
      201: html("an HTML page showing what was created"),
      303: { description: "redirect to the page that shows the result" },
      ...problems("none", 400, 401, 403, 404, 409, 413, 429),
    },
  });
}

/** An event stream a page subscribes to: 429 when the tenant's rate limit refuses it (tenant-work.tsx). */
export function streamRoute<const P extends string>(
  path: P,
  operationId: string,
  summary: string,
  query: Readonly<Record<string, string>>,
) {
  return createRoute({
    method: "get",
    path,
    operationId,
    summary,
    tags: ["dashboard"],
    request: { params: pathParams(path), query: queryParams(query) },
    responses: { 200: eventStream("Server-Sent Events"), ...problems("none", 400, 401, 404, 429) },
  });
}
