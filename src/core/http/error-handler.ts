// Errors are rendered in one place: the app's `onError` answers a thrown `ProblemError` (what
// handlers and middleware throw for a refusal, the router's validation hook included), Hono's
// own `HTTPException` (thrown by its middleware: body limits, media-type gates, bearer auth),
// and anything else (a bug, or an overloaded Durable Object) as RFC 9457 problem+json.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { logEvent } from "../runtime/log.js";
import { kindForStatus, problem, problemResponse, ProblemError } from "./problem.js";

/** What the error handler logs a failure with (the request's ids, when the scope has them). */
interface Scope {
  readonly requestId?: string;
  readonly traceId?: string;
  readonly tenant?: string;
}

/**
 * The response for `error` thrown while serving `c`. A `ProblemError` is the problem it carries;
 * an `HTTPException` is the catalogue's problem for its status, keeping the exception's
 * `WWW-Authenticate` and `Allow` headers; a Durable Object error marked `overloaded` or
 * `retryable` is 503 `dependency-unavailable` with `Retry-After`; anything else is a logged 500.
 */
export async function renderError(error: Error, c: Context): Promise<Response> {
  if (error instanceof ProblemError) return problemResponse(error.problem, { ...error.headers });
  if (error instanceof HTTPException) {
    const headers: Record<string, string> = {};
    for (const name of ["www-authenticate", "allow"]) {
      const value = error.res?.headers.get(name);
      if (value) headers[name] = value;
    }
    // Hono's middleware put their message in the exception's response (bearerAuth) or in the
    // exception itself; only a short plain-text one is worth passing on as the detail.
    const text = error.res?.headers.get("content-type")?.startsWith("text/plain") ? await error.res.text() : "";
    const kind = kindForStatus(error.status);
    return problemResponse(problem(kind, error.message || text.slice(0, 200) || problem(kind, "").title), headers);
  }
  const scope = c.var as Scope;
  const retryable = (error as { retryable?: boolean }).retryable === true;
  const overloaded = (error as { overloaded?: boolean }).overloaded === true;
  logEvent("error", "request failed", {
    requestId: scope.requestId,
    traceId: scope.traceId,
    tenant: scope.tenant,
    path: new URL(c.req.url).pathname,
    error: error.message,
    overloaded,
  });
  if (overloaded || retryable) {
    return problemResponse(
      problem("dependency-unavailable", "the entity is busy; retry shortly", { retryAfter: overloaded ? 5 : 1 }),
    );
  }
  return problemResponse(problem("internal", "an unexpected error occurred; it has been logged"));
}
