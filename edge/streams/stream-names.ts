// How tenant streams are named and addressed: the URL path under `/v1/stream/` is the stream's
// name within its tenant, and the Durable Object that holds it is named from both, so one
// tenant's `orders/1` never meets another's. The headers the route sets for the object are
// internal: the route strips any a client sent.

/** Mount point of tenant streams. */
export const STREAM_ROOT = "/v1/stream/";
/** Set by the route: the tenant the request was admitted for. */
export const STREAM_TENANT_HEADER = "factline-stream-tenant";
/** Set by the route: the id of the key the request was admitted with (a live read asks after it). */
export const STREAM_KEY_HEADER = "factline-stream-key-id";
/** Set by the route: the name of a fork's source stream, resolved from `Stream-Forked-From`. */
export const STREAM_FORK_SOURCE_HEADER = "factline-stream-fork-source";

/** Longest stream name accepted (it is part of every URL and offset-bearing request). */
export const MAX_STREAM_NAME = 512;
// Path segments of unreserved URL characters (RFC 3986 §2.3); `.` and `..` would name another path.
const SEGMENT = /^[A-Za-z0-9._~-]+$/;

/**
 * Why `name` cannot name a stream, or undefined when it can: one or more `/`-separated segments of
 * unreserved characters, not `.`/`..`, at most MAX_STREAM_NAME long, and not under `__ds/` (the
 * protocol reserves it for control APIs, §6).
 */
export function streamNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_STREAM_NAME) return `a stream name is 1 to ${MAX_STREAM_NAME} characters`;
  const segments = name.split("/");
  if (segments.some((s) => !SEGMENT.test(s) || s === "." || s === ".."))
    return "a stream name is /-separated segments of letters, digits, '.', '_', '~' and '-'";
  if (segments[0] === "__ds") return "names under __ds/ are reserved for the protocol's control APIs";
  return undefined;
}

/** The Durable Object name of a tenant's stream. */
export function streamObjectName(tenant: string, name: string): string {
  return `${tenant}\n${name}`;
}

/** The stream name a `Stream-Forked-From` value designates (a path, or a URL on this origin), or undefined. */
export function forkSourceName(value: string, origin: string): string | undefined {
  let path = value.trim();
  if (/^https?:\/\//i.test(path)) {
    try {
      const url = new URL(path);
      if (url.origin !== origin) return undefined;
      path = url.pathname;
    } catch {
      return undefined;
    }
  }
  const name = streamNameInPath(path);
  return name !== undefined && streamNameProblem(name) === undefined ? name : undefined;
}

/**
 * The stream name a request path names, taken as written: never percent-decoded, since a name's
 * characters need no encoding (RFC 3986 §2.3), so `a%2Fb` is not a second spelling of `a/b` (it
 * fails `streamNameProblem`). Undefined for a path outside `/v1/stream/`.
 */
export function streamNameInPath(pathname: string): string | undefined {
  return pathname.startsWith(STREAM_ROOT) ? pathname.slice(STREAM_ROOT.length) : undefined;
}
