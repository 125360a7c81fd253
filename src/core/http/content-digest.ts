// Integrity of a request body end to end (RFC 9530): a client that sends `Content-Digest` (or
// `Repr-Digest`) gets its request refused when the bytes that arrived are not the bytes it hashed,
// instead of having a body cut short or changed on the way recorded. Chunked framing hides a body
// that ended early: locally, workerd's HTTP/1.1 parser rejects chunk extensions (RFC 9112 §7.1.1)
// and, when busy, hands the Worker a clean end of body at the first one. A digest is the only way
// a Worker can tell. RFC 9530 lets a recipient ignore a digest; we check every one, on every
// route, since a client that asked for the check must never have a wrong digest answered 200.
// Only header fields are checked: workerd hands a Worker no trailer fields.
import type { MiddlewareHandler } from "hono";
import { ParseError, parseDictionary } from "structured-headers";
import { readRequestBody } from "./bounded-body.js";
import { problem, ProblemError, type Problem } from "./problem.js";

/**
 * The digest algorithms checked, by their RFC 9530 registry keys ("Active" in the Hash Algorithms
 * for HTTP Digest Fields registry), with their WebCrypto names.
 */
const CHECKED: ReadonlyMap<string, string> = new Map([
  ["sha-256", "SHA-256"],
  ["sha-512", "SHA-512"],
]);

/** The request fields that carry a digest of the body (RFC 9530 §2, §3). */
const DIGEST_FIELDS = ["Content-Digest", "Repr-Digest"] as const;

/**
 * Checks `bytes`, a request's whole body as received, against the digests its headers carry.
 * Answers null when no digest field is present or every checked digest matches; else the problem:
 * - `malformed-request` (400) for a field that is not a structured-field dictionary (RFC 9651
 *   §3.2), a checked algorithm whose value is not a byte sequence, or a field naming none of the
 *   checked algorithms (`sha-256`, `sha-512`): a client that asked for integrity is told it
 *   cannot have it rather than having its body accepted unchecked;
 * - `digest-mismatch` (400) when a checked digest differs from the body's.
 * Both fields describe the same bytes here, because a content-coded body is refused (415)
 * before it is stored and a request body is always complete (no range).
 */
export async function bodyDigestProblem(headers: Headers, bytes: Uint8Array): Promise<Problem | null> {
  // Both fields may name one algorithm: the body is hashed once per algorithm.
  const digests = new Map<string, Promise<ArrayBuffer>>();
  for (const field of DIGEST_FIELDS) {
    const value = headers.get(field);
    if (value === null) continue;
    let members: ReturnType<typeof parseDictionary>;
    try {
      members = parseDictionary(value);
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      return problem("malformed-request", `${field} is not a structured-field dictionary (RFC 9530, RFC 9651)`);
    }
    let checked = 0;
    for (const [key, member] of members) {
      const algorithm = CHECKED.get(key);
      if (algorithm === undefined) continue;
      const [expected] = member;
      if (!(expected instanceof ArrayBuffer))
        return problem("malformed-request", `${field}: ${key} must be a byte sequence (:base64:)`);
      let pending = digests.get(algorithm);
      if (pending === undefined) {
        pending = crypto.subtle.digest(algorithm, bytes);
        digests.set(algorithm, pending);
      }
      const actual = await pending;
      if (!sameBytes(new Uint8Array(actual), new Uint8Array(expected)))
        return problem("digest-mismatch", `the body that arrived does not match its ${field} ${key}`);
      checked++;
    }
    if (checked === 0)
      return problem(
        "malformed-request",
        `${field} names no algorithm checked here: send ${[...CHECKED.keys()].join(" or ")}`,
      );
  }
  return null;
}

/**
 * Middleware that checks the body of every request carrying `Content-Digest` or `Repr-Digest`
 * before any route runs, whether or not the route reads the body: the body (empty for none) is
 * read whole, at most `limit` bytes (413 `payload-too-large` past it, readRequestBody), checked
 * (bodyDigestProblem), and handed on as the bytes the route reads. Refusals are thrown as a
 * `ProblemError`. A request with neither field streams on untouched.
 */
export function checkBodyDigests(limit: number): MiddlewareHandler {
  return async (c, next) => {
    const request = c.req.raw;
    if (!DIGEST_FIELDS.some((field) => request.headers.has(field))) return next();
    const read = await readRequestBody(request, limit);
    if (!read.ok) throw new ProblemError(read.problem);
    const altered = await bodyDigestProblem(request.headers, read.bytes);
    if (altered !== null) throw new ProblemError(altered);
    // No route reads the body of a GET or HEAD, and no Request can be made to carry one.
    if (request.body !== null && request.method !== "GET" && request.method !== "HEAD")
      c.req.raw = new Request(request, { body: read.bytes });
    await next();
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}
