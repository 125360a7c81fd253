// The dashboard's guards, in the order they run: response headers (a per-request CSP nonce from
// Hono's secureHeaders, no caching), the origin check on form posts (Hono's csrf), the bound on a
// form post's size, and the session guard (a signed-in session, and on every post the session's
// CSRF token). The session guard runs after the sign-in routes, which are the only ones a visitor
// without a session may reach.
import type { MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { NONCE, secureHeaders } from "hono/secure-headers";
import { readRequestBody } from "../../src/core/http/bounded-body.js";
import { fail, ProblemError } from "../../src/core/http/problem.js";
import { sameSecret } from "../../src/core/security/same-secret.js";
import type { DashboardEnv } from "./context.js";
import { readSession } from "./session.js";

/**
 * A Content-Security-Policy whose scripts and styles must carry this request's nonce (the nonce is
 * `c.get("secureHeadersNonce")`), and `Cache-Control: no-store` unless a page set its own.
 */
export function dashboardHeaders(): MiddlewareHandler<DashboardEnv> {
  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: [NONCE],
      styleSrc: [NONCE],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: "DENY",
    referrerPolicy: "same-origin",
  });
  return async (c, next) => {
    await headers(c, async () => {
      await next();
      if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
    });
  };
}

/**
 * Form posts come from this origin only (Hono's csrf: `Origin`, or `Sec-Fetch-Site: same-origin`);
 * a refusal is a 403 HTTPException, rendered as the `forbidden` problem.
 */
export function sameOriginForms(): MiddlewareHandler<DashboardEnv> {
  return csrf({ secFetchSite: ["same-origin", "none"] });
}

/** The most a dashboard form post may carry (bytes): its fields are a secret, a name, a few ids. */
export const MAX_FORM_BYTES = 16 * 1024;

/**
 * A form post's body is read here, at most `MAX_FORM_BYTES` of it kept, and handed to Hono's body
 * cache, so `c.req.parseBody()` parses what was bounded; a longer one is refused 413
 * (`payload-too-large`). The sign-in form is open to anyone, and Hono's parseBody alone would hold
 * a body of any length in the isolate's memory. A field given twice is refused 400
 * (`malformed-request`). Not Hono's bodyLimit: it stops reading an
 * over-long chunked body part-way, which locally breaks the connection the request came on for
 * the next one (bounded-body.ts reads the rest and drops it).
 */
export function boundedForms(): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    if (c.req.method === "POST") {
      const read = await readRequestBody(c.req.raw, MAX_FORM_BYTES);
      if (!read.ok) throw new ProblemError(read.problem);
      const { bytes } = read;
      // Hono keeps a promise per body kind here; parseBody reads the form from `arrayBuffer`.
      const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      Object.assign(c.req.bodyCache, { arrayBuffer: Promise.resolve(buffer) });
      // Every form reads one value per field (Hono's parseBody keeps the last): a field given
      // twice means two things, refused as a query parameter given twice is.
      const fields = await c.req.parseBody({ all: true });
      const repeated = Object.keys(fields).find((name) => Array.isArray(fields[name]));
      if (repeated !== undefined)
        throw fail(
          "malformed-request",
          `the form field ${JSON.stringify(repeated.slice(0, 64))} is given more than once`,
        );
    }
    await next();
  };
}

/**
 * A signed-in session, or a visitor sent to the sign-in page (a browser's GET) or refused (401); a
 * tenant admin's session while the tenant is suspended is refused 403 (`tenant-suspended`). Every
 * post must carry the session's CSRF token (403 otherwise). Sets `c.get("session")`.
 */
export function sessionGuard(): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    const session = await readSession(c);
    if (session === "tenant-suspended")
      throw fail(
        "tenant-suspended",
        "the tenant is suspended: its admins can use the dashboard again once it is resumed",
      );
    if (session === "none") {
      if (c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/html"))
        return c.redirect("/dashboard/sign-in", 303);
      throw fail("unauthorized", "sign in to the dashboard first");
    }
    if (c.req.method === "POST") {
      const form = await c.req.parseBody();
      const token = typeof form._csrf === "string" ? form._csrf : "";
      if (!(await sameSecret(token, session.csrf)))
        throw fail("forbidden", "the form's CSRF token is missing or stale; reload the page");
    }
    c.set("session", session);
    await next();
  };
}
