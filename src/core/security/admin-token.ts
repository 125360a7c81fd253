// The operator's ADMIN_TOKEN, checked alike wherever it is presented (the admin API, and the bench's
// and the browser suite's admin-guarded controls; the dashboard's sign-in checks it among tenant
// keys under the same limit). The token opens every tenant, so guessing it must cost at least what
// guessing a tenant key costs: it is checked within the one per-client failure limit
// (auth-failures.ts, AUTH_FAILURES) that tenant keys and sign-ins count in.
import { problem, problemResponse, type Problem } from "../http/problem.js";
import {
  AUTH_FAILURE_PERIOD_S,
  AUTH_FAILURES_LIMITED_DETAIL,
  failingClient,
  verifyWithinFailureLimit,
  type FailureLimiter,
} from "./auth-failures.js";
import { sameSecret } from "./same-secret.js";

/**
 * The fewest characters an ADMIN_TOKEN may have. The token opens every tenant and signs dashboard
 * sessions; a short one (`admin`, a word) falls to guessing even at the failure limit's 30 a minute
 * per address. 16 is a floor, not a target: `openssl rand -hex 32` gives 64.
 */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** Whether `token` (the ADMIN_TOKEN secret) is set and long enough to be used at all. */
export function adminTokenUsable(token: string | undefined): token is string {
  return token !== undefined && token.length >= MIN_ADMIN_TOKEN_LENGTH;
}

/**
 * The refusal of every admin request while ADMIN_TOKEN is set but shorter than
 * MIN_ADMIN_TOKEN_LENGTH (500 `config-invalid`): the operator learns it at once, and no one can
 * get in with the weak token meanwhile. Undefined when the token is unset (nothing opens) or usable.
 */
export function weakAdminTokenProblem(token: string | undefined): Problem | undefined {
  if (token === undefined || token === "" || adminTokenUsable(token)) return undefined;
  return problem(
    "config-invalid",
    `ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: the admin API and the dashboard's sign-in stay closed until it is set to a longer secret`,
  );
}

/** The detail of an admin refusal for a missing or wrong token. */
export const ADMIN_TOKEN_ASK = "send Authorization: Bearer <ADMIN_TOKEN>";

/** How a presented admin token fared: the right one, a wrong one (counted), or a blocked client. */
export type AdminTokenCheck = "admitted" | "wrong" | "limited";

/**
 * Checks the bearer token `presented` by `client` against `expected` (the ADMIN_TOKEN; an unset or
 * too short one admits nothing) in constant time, within the failure limit (verifyWithinFailureLimit). Callers
 * answer a request with no bearer token 401 without calling this: nothing was guessed, as for a
 * tenant API request without a key.
 */
export async function checkAdminToken(
  presented: string,
  expected: string | undefined,
  client: string,
  limiter: FailureLimiter,
): Promise<AdminTokenCheck> {
  const outcome = await verifyWithinFailureLimit(
    limiter,
    client,
    async () => adminTokenUsable(expected) && (await sameSecret(presented, expected)),
  );
  return outcome === "limited" ? "limited" : outcome === "failed" ? "wrong" : "admitted";
}

/** The refusal of an admin request from a client over the failure limit: 429 with Retry-After. */
export function adminFailuresLimited(): Problem {
  return problem("auth-failures-limited", AUTH_FAILURES_LIMITED_DETAIL, {
    retryAfter: AUTH_FAILURE_PERIOD_S,
  });
}

/**
 * For an admin-guarded route outside the admin API's table (a harness Worker's controls): undefined
 * if `request` carries the ADMIN_TOKEN `expected`, else the refusal as problem+json — 401
 * `unauthorized` (no bearer token, or a wrong one), or adminFailuresLimited.
 */
export async function adminTokenRefusal(
  request: Request,
  expected: string | undefined,
  limiter: FailureLimiter,
): Promise<Response | undefined> {
  const weak = weakAdminTokenProblem(expected);
  if (weak !== undefined) return problemResponse(weak);
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "")?.[1];
  const check =
    presented === undefined ? "wrong" : await checkAdminToken(presented, expected, failingClient(request), limiter);
  if (check === "admitted") return undefined;
  if (check === "limited") return problemResponse(adminFailuresLimited());
  return problemResponse(problem("unauthorized", ADMIN_TOKEN_ASK), {
    "www-authenticate": 'Bearer realm="factline-admin"',
  });
}
