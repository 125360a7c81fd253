// The guard in front of every route that takes a JSON body: the 413 and 415 rules and the strict
// reader (request-body.ts, strict-json.ts) run before the router's zod validation, which then
// parses the very text the guard accepted. Hono's own `bodyLimit` and JSON validator cannot be
// used alone: they accept a duplicate key, a `__proto__` key, a lone surrogate, an unsafe number,
// a foreign charset or a content coding, each of which would mean another thing at a later hop.
import type { MiddlewareHandler } from "hono";
import { ProblemError } from "./problem.js";
import { MAX_BODY_BYTES, readJsonBody } from "./request-body.js";

/**
 * Middleware that reads the request's JSON body strictly (at most `limit` bytes) and hands its
 * text to Hono's body cache, so `c.req.json()` and the `json` validator parse exactly the text
 * that was checked. Throws the refusal as a `ProblemError` (400, 413 or 415).
 */
export function strictJsonBody(limit = MAX_BODY_BYTES): MiddlewareHandler {
  return async (c, next) => {
    const body = await readJsonBody(c.req.raw, limit);
    if (!body.ok) throw new ProblemError(body.problem);
    // Hono keeps a promise per body kind here (its `BodyCache` type says the value itself), and its
    // `json()` parses the cached text. No body reads as "{}", but its bytes stay none: the media-type
    // gate of @hono/zod-openapi asks for the bytes, and would refuse "{}" sent without a
    // Content-Type as a body of no declared type (415).
    Object.assign(c.req.bodyCache, { text: Promise.resolve(body.text) });
    if (body.empty) Object.assign(c.req.bodyCache, { arrayBuffer: Promise.resolve(new ArrayBuffer(0)) });
    await next();
  };
}
