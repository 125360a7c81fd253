// Signing in and out: the only dashboard routes a visitor without a session reaches (sign-out
// sits behind the session guard). A sign-in sets the signed session cookie (session.ts); while
// ADMIN_TOKEN cannot sign one, both pages say so (500) and no attempt is verified or counted.
import {
  AUTH_FAILURE_PERIOD_S,
  AUTH_FAILURES_LIMITED_DETAIL,
  failingClient,
  verifyWithinFailureLimit,
} from "../../../src/core/security/auth-failures.js";
import { routeTable } from "../../../src/core/http/openapi.js";
import type { Problem } from "../../../src/core/http/problem.js";
import type { Ctx, DashboardEnv } from "../context.js";
import { formRoute, pageRoute } from "../declarations.js";
import { authenticate, endSession, sessionSigningProblem, startSession } from "../session.js";

/** `GET/POST /sign-in`: open to anyone. */
export const signInPages = routeTable<DashboardEnv>();

signInPages.openapi(pageRoute("/sign-in", "dashboard.signIn.page", "the sign-in page"), (c) => {
  const closed = sessionSigningProblem(c.env);
  return closed ? signInClosed(c, closed) : signInPage(c);
});

signInPages.openapi(
  formRoute("/sign-in", "dashboard.signIn", "sign in with a tenant API key or the admin token"),
  async (c) => {
    // No session could be signed: a visitor's secret, right or wrong, is not even looked at.
    const closed = sessionSigningProblem(c.env);
    if (closed) return signInClosed(c, closed);
    const form = await c.req.parseBody();
    const secret = typeof form.secret === "string" ? form.secret : "";
    // Failed sign-ins count with the tenant API's failed keys: a client over the limit is refused
    // before its secret costs a D1 lookup.
    const client = failingClient(c.req.raw);
    const tooMany = () => {
      c.header("retry-after", String(AUTH_FAILURE_PERIOD_S));
      // The one limit's own words (auth-failures.ts), as the API's refusals give them.
      const detail = AUTH_FAILURES_LIMITED_DETAIL.charAt(0).toUpperCase() + AUTH_FAILURES_LIMITED_DETAIL.slice(1);
      return signInPage(c, `${detail}; wait a minute and try again.`, 429);
    };
    const outcome = await verifyWithinFailureLimit(c.env.AUTH_FAILURES, client, () => authenticate(c.env, secret));
    if (outcome === "limited") return tooMany();
    if (outcome === "failed") return signInPage(c, "That token or API key is not valid.", 401);
    const who = outcome.verified;
    await startSession(c, who);
    return c.redirect(who.role === "operator" ? "/dashboard/tenants" : `/dashboard/t/${who.tenant}`, 303);
  },
);

/** `POST /sign-out` (behind the session guard). */
export const signOutPages = routeTable<DashboardEnv>();

signOutPages.openapi(formRoute("/sign-out", "dashboard.signOut", "sign out"), async (c) => {
  await endSession(c, c.get("session"));
  return c.redirect("/dashboard/sign-in", 303);
});

/** The sign-in page while no session can be signed: what is misconfigured (never the token), as a 500. */
function signInClosed(c: Ctx, misconfigured: Problem) {
  return signInPage(c, `The server is misconfigured, so no one can sign in. ${misconfigured.detail}.`, 500);
}

function signInPage(c: Ctx, error?: string, status: 200 | 401 | 429 | 500 = 200) {
  c.status(status);
  return c.render(
    <form method="post" action="/dashboard/sign-in" class="card">
      {error ? (
        <p class="error card" role="alert">
          {error}
        </p>
      ) : null}
      <label for="secret">Admin token or tenant API key</label>
      <p class="muted" id="secret-help">
        The platform operator signs in with ADMIN_TOKEN and sees every tenant; a tenant's API key shows that tenant
        only.
      </p>
      <input
        id="secret"
        name="secret"
        type="password"
        required
        autocomplete="current-password"
        aria-describedby="secret-help"
        size={48}
      />
      <p>
        <button type="submit">Sign in</button>
      </p>
    </form>,
    { title: "Sign in" },
  );
}
