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
import { bearerToken } from "./bearer-token.js";
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

/**
 * The admin check, for the admin API and every admin-guarded route outside it (a harness Worker's
 * controls): undefined if `request` carries the ADMIN_TOKEN `expected` as its bearer token
 * (read as bearer-token.ts reads a tenant key), else the refusal as problem+json:
 * - 500 `config-invalid` while the token is set but too short (weakAdminTokenProblem);
 * - 401 `unauthorized` with a `WWW-Authenticate` challenge for no bearer token (not counted:
 *   nothing was guessed, as for a tenant API request without a key) or a wrong one (counted in
 *   the per-client failure limit, auth-failures.ts);
 * - 429 `auth-failures-limited` with Retry-After for a client over that limit, whatever token it
 *   sends (even the right one).
 * The token is compared in constant time; an unset or too short one admits nothing.
 */
export async function adminTokenRefusal(
  request: Request,
  expected: string | undefined,
  limiter: FailureLimiter,
): Promise<Response | undefined> {
  const weak = weakAdminTokenProblem(expected);
  if (weak !== undefined) return problemResponse(weak);
  const presented = bearerToken(request.headers.get("authorization"));
  const outcome =
    presented === undefined
      ? "failed"
      : await verifyWithinFailureLimit(
          limiter,
          failingClient(request),
          async () => adminTokenUsable(expected) && (await sameSecret(presented, expected)),
        );
  if (outcome === "limited")
    return problemResponse(
      problem("auth-failures-limited", AUTH_FAILURES_LIMITED_DETAIL, { retryAfter: AUTH_FAILURE_PERIOD_S }),
    );
  if (outcome === "failed")
    return problemResponse(problem("unauthorized", "send Authorization: Bearer <ADMIN_TOKEN>"), {
      "www-authenticate": 'Bearer realm="factline-admin"',
    });
  return undefined;
}
