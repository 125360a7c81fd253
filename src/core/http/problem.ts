// The catalogue of problems a client can be told about (RFC 9457). Each has a stable `type` URI
// that clients may switch on; titles and statuses live here so every layer answers alike.
// Handlers throw a `ProblemError`; the one error handler (error-handler.ts) renders it. Our own
// catalogue, not a library's: the `type` URIs are part of the public contract (README, tests).
import { z } from "zod";

const catalogue = {
  "malformed-request": { status: 400, title: "The request could not be parsed" },
  "validation-failed": { status: 400, title: "The request did not pass validation" },
  "digest-mismatch": { status: 400, title: "The body does not match the digest it was sent with" },
  "cursor-past-end": { status: 400, title: "The read starts past the end of the log" },
  unauthorized: { status: 401, title: "Missing or invalid credentials" },
  "tenant-suspended": { status: 403, title: "The tenant is suspended" },
  forbidden: { status: 403, title: "Forbidden" },
  "not-found": { status: 404, title: "Not found" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  "idempotency-key-in-flight": { status: 409, title: "A request with this Idempotency-Key is still in flight" },
  conflict: { status: 409, title: "Conflict" },
  "rebuild-in-progress": { status: 409, title: "A rebuild of this projection is already running for the tenant" },
  "version-mismatch": { status: 412, title: "The entity is at another version" },
  "payload-too-large": { status: 413, title: "The request body is too large" },
  "fact-too-large": { status: 413, title: "A fact the command would record is too large to relay" },
  // One type for the JSON API's bodies and the streams' (any media type): the title names no format.
  "unsupported-media-type": {
    status: 415,
    title: "The request body's media type, charset or content coding is not supported",
  },
  "idempotency-key-reused": { status: 422, title: "This Idempotency-Key was used with another request" },
  "client-command-answered": { status: 409, title: "This command of the client session was answered already" },
  "client-sequence-reused": {
    status: 422,
    title: "This client session's command number was used with another command",
  },
  "business-rule": { status: 422, title: "The command was rejected by a business rule" },
  "rate-limited": { status: 429, title: "Too many requests" },
  "auth-failures-limited": { status: 429, title: "Too many failed authentication attempts" },
  "backlog-full": { status: 429, title: "The entity is shedding load until its backlog drains" },
  overloaded: { status: 429, title: "Too many requests are waiting" },
  "dependency-unavailable": { status: 503, title: "A dependency is unavailable" },
  internal: { status: 500, title: "Internal error" },
  "config-invalid": { status: 500, title: "The service is misconfigured" },
  // The domain's bugs, never a client's (README "Defining an entity"): nothing is recorded.
  "event-data-not-json": { status: 500, title: "An event the entity decided is not plain JSON" },
  "state-unfoldable": { status: 500, title: "The entity's events cannot be folded into its state" },
  // Durable Streams (PROTOCOL.md §5): the statuses the protocol names, each with its own type.
  "stream-gone": { status: 410, title: "The stream was deleted; its forks still read its data" },
  "offset-gone": { status: 410, title: "The offset names data no longer kept" },
  "stream-closed": { status: 409, title: "The stream is closed" },
  "stream-exists": { status: 409, title: "A stream with another configuration exists at this URL" },
  "content-type-mismatch": { status: 409, title: "The content type differs from the stream's" },
  "stream-seq-regression": { status: 409, title: "Stream-Seq is not above the stream's last one" },
  "producer-sequence-gap": { status: 409, title: "Producer-Seq skips ahead of the expected sequence" },
  "stale-producer-epoch": { status: 403, title: "Producer-Epoch is older than the producer's current epoch" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemKind = keyof typeof catalogue;

const PROBLEM_BASE = "https://factline.dev/problems/";

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly FieldError[];
  /** Seconds a client should wait before retrying (429, 503). */
  readonly retryAfter?: number;
  /** For business-rule rejections: the domain's own stable code; for a refused saga operator action, why (`OperatorRefusal`). */
  readonly code?: string;
}

export function problem(
  kind: ProblemKind,
  detail: string,
  extra: { errors?: readonly FieldError[]; retryAfter?: number; code?: string } = {},
): Problem {
  const { status, title } = catalogue[kind];
  return { type: PROBLEM_BASE + kind, title, status, detail, ...extra };
}

export function problemCatalogue(): ReadonlyArray<{ type: string; status: number; title: string }> {
  return Object.entries(catalogue).map(([kind, c]) => ({ type: PROBLEM_BASE + kind, ...c }));
}

/** V8's (workerd's and Node.js's) frames-per-stack setting, read and written around a refusal's construction. */
const v8Error: { readonly prototype: Error; stackTraceLimit?: number } = Error;

/**
 * A problem thrown by a handler or middleware, rendered as problem+json by the app's one
 * `onError` (src/core/http/error-handler.ts). `headers` are added to the response (e.g. `Allow`,
 * `WWW-Authenticate`, a view read's `Factline-Stale`).
 */
export class ProblemError extends Error {
  constructor(
    readonly problem: Problem,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    // A refusal is an answer, not a bug: its stack is never read, and capturing one through the
    // async middleware chain cost about 10 µs of the 50-60 µs a 401 or a shed 429 cost the Worker.
    // Even stackless, constructing and unwinding one still cost about as much again, so the
    // refusals a flood gets (admission's, and shedding at an entity's door) are returned as
    // answers instead of thrown.
    const limit = v8Error.stackTraceLimit;
    v8Error.stackTraceLimit = 0;
    super(problem.detail);
    v8Error.stackTraceLimit = limit;
    this.name = "ProblemError";
  }
}

/** Throws `kind` with `detail` (and `extra`) as a `ProblemError`: `throw fail(...)` reads as a refusal. */
export function fail(
  kind: ProblemKind,
  detail: string,
  extra: { errors?: readonly FieldError[]; retryAfter?: number; code?: string } = {},
  headers: Readonly<Record<string, string>> = {},
): ProblemError {
  return new ProblemError(problem(kind, detail, extra), headers);
}

// The kind a bare status stands for, where the catalogue has more than one kind for it.
const KIND_FOR_STATUS: Readonly<Record<number, ProblemKind>> = {
  400: "malformed-request",
  401: "unauthorized",
  403: "forbidden",
  404: "not-found",
  405: "method-not-allowed",
  409: "conflict",
  412: "version-mismatch",
  413: "payload-too-large",
  415: "unsupported-media-type",
  429: "rate-limited",
  503: "dependency-unavailable",
};

/**
 * The catalogue kind a bare HTTP status stands for (an `HTTPException` thrown by Hono or one of
 * its middleware carries only a status); another 4xx is `malformed-request`, another 5xx `internal`.
 */
export function kindForStatus(status: number): ProblemKind {
  return KIND_FOR_STATUS[status] ?? (status >= 500 ? "internal" : "malformed-request");
}

/** The problem document (RFC 9457 §3) as a zod schema: the API document's `Problem` component. */
export const problemSchema = z
  .object({
    type: z.enum(Object.keys(catalogue).map((k) => PROBLEM_BASE + k) as [string, ...string[]]),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z
      .string()
      .optional()
      .describe("the domain's own reason for a business-rule rejection, or why a saga operator action was refused"),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  // `id` makes the document generator emit it once, as the `Problem` component, and refer to it.
  .meta({ id: "Problem", description: "RFC 9457 problem details" });

/** The longest wait a `Retry-After` names, s (a day): a longer one is no advice a client can act on. */
const MAX_RETRY_AFTER_S = 86_400;

/**
 * `Retry-After` as RFC 9110 §10.2.3's delay-seconds (`1*DIGIT`): whole seconds from 1 to
 * MAX_RETRY_AFTER_S. A wait computed from a stored setting can be huge or not finite, and
 * `String` would then write `1e+21` or `NaN`, which no client parses as a delay.
 */
function delaySeconds(seconds: number): string {
  if (!(seconds <= MAX_RETRY_AFTER_S)) return String(MAX_RETRY_AFTER_S);
  return String(Math.max(1, Math.ceil(seconds)));
}

/** The problem as an `application/problem+json` response (RFC 9457), `Retry-After` per delaySeconds. */
export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
  const { retryAfter, ...body } = p;
  const h = new Headers({ "content-type": "application/problem+json", ...headers });
  if (retryAfter !== undefined) h.set("retry-after", delaySeconds(retryAfter));
  return new Response(JSON.stringify(body), { status: p.status, headers: h });
}
