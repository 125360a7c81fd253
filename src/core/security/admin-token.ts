// The operator's ADMIN_TOKEN, checked alike wherever it is presented (the admin API, and the bench's
// and the browser suite's admin-guarded controls; the dashboard's sign-in applies the same limit
// around its own check of token and tenant keys). The token opens every tenant, so guessing it must
// cost at least what guessing a tenant key costs: a wrong token counts against the client in the
// one failure limit (auth-failures.ts, AUTH_FAILURES) that tenant keys and sign-ins count in, and a
// client that limit blocked is refused before the token is compared, so a blocked guesser learns
// nothing even from the right token.
import { problem, problemResponse } from "../http/problem.js";
import {
  AUTH_FAILURE_PERIOD_S,
  failingClient,
  isBlocked,
  recordFailure,
  type FailureLimiter,
} from "./auth-failures.js";
import { sameSecret } from "./same-secret.js";

const ASK = "send Authorization: Bearer <ADMIN_TOKEN>";

/** How a presented admin token fared: the right one, a wrong one (counted), or a blocked client. */
export type AdminTokenCheck = "admitted" | "wrong" | "limited";

/**
 * Checks the bearer token `presented` by `client` against `expected` (the ADMIN_TOKEN; an unset one
 * admits nothing) in constant time, unless `client` is blocked in this isolate ("limited", nothing
 * compared). A wrong token is counted in `limiter`: "limited" once that refuses the client, else
 * "wrong". Callers answer a request with no bearer token 401 without calling this: nothing was
 * guessed, as for a tenant API request without a key. A limiter that throws propagates.
 */
export async function checkAdminToken(
  presented: string,
  expected: string | undefined,
  client: string,
  limiter: FailureLimiter,
  now: number = Date.now(),
): Promise<AdminTokenCheck> {
  if (isBlocked(client, now)) return "limited";
  if (expected && (await sameSecret(presented, expected))) return "admitted";
  return (await recordFailure(limiter, client, now)) === "limited" ? "limited" : "wrong";
}

/**
 * For an admin-guarded route outside the admin API's table (a harness Worker's controls): undefined
 * if `request` carries the ADMIN_TOKEN `expected`, else the refusal as problem+json — 401
 * `unauthorized` (no bearer token, or a wrong one), or 429 `auth-failures-limited` with
 * Retry-After for a client over the failure limit (see checkAdminToken).
 */
export async function adminTokenRefusal(
  request: Request,
  expected: string | undefined,
  limiter: FailureLimiter,
): Promise<Response | undefined> {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "")?.[1];
  const check =
    presented === undefined ? "wrong" : await checkAdminToken(presented, expected, failingClient(request), limiter);
  if (check === "admitted") return undefined;
  if (check === "limited")
    return problemResponse(
      problem("auth-failures-limited", "too many requests with a wrong admin token from this client", {
        retryAfter: AUTH_FAILURE_PERIOD_S,
      }),
    );
  return problemResponse(problem("unauthorized", ASK), { "www-authenticate": 'Bearer realm="factline-admin"' });
}
