// Admits /v1 requests: `Authorization: Bearer <tenant api key>` decides the tenant. The sequence
// itself — key id, this isolate's bounded-stale copy of the key's standing read from D1 (trusted
// for at most TENANT_ADMISSION_MAX_STALE_MS), the negative cache of unknown key ids, the
// per-client failure limit (AUTH_FAILURES), the constant-time digest compare, suspension and
// revocation, the tenant's rate limit leased from its gate, in-flight shedding — is
// src/core/security/admit-request.ts, which the simulator runs too. This adapter gives it ports
// over the real bindings (D1, the gate object, the rate-limit binding, WebCrypto, waitUntil) and
// answers its refusals as problem+json. Nothing here calls a per-tenant object per request but the
// gate's lease, a batch of tokens at a time. Hono's bearerAuth is not used: admission needs the
// key's id before any comparison (the negative cache and the per-client failure limit are keyed
// by it), and bearerAuth's fixed answers would replace them.
import type { MiddlewareHandler } from "hono";
import { sha256Hex } from "../../src/core/security/api-key.js";
import { failingClient } from "../../src/core/security/auth-failures.js";
import { AdmissionIsolate, type AdmissionPorts, type AdmissionRefusal } from "../../src/core/security/admit-request.js";
import { faultPoint } from "../../src/core/resilience/fault-injection.js";
import { InFlight } from "../../src/core/resilience/in-flight.js";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { KEY_STANDING_SQL, standingFromRow, type KeyStandingRow } from "../../src/core/security/tenant-admission.js";
import { tenantGateStub } from "../stubs.js";

/** Requests of each tenant in flight in this isolate; exported as a test seam. */
export const tenantsInFlight = new InFlight();

// This isolate's admission state (its caches, leases, blocked clients), shared by its requests.
const isolate = new AdmissionIsolate({ inFlight: tenantsInFlight });

/** Observation seams for tests: D1 key reads and gate lease calls this isolate has made. */
export const keyLookupCount = { value: 0 };
export const gateLeaseCount = { value: 0 };

export function tenantAuth(): MiddlewareHandler<{ Bindings: Env; Variables: RequestScope }> {
  return async (c, next) => {
    const env = c.env;
    const config = hostConfig(env, "edge");
    const ports: AdmissionPorts = {
      now: () => Date.now(),
      readStanding: async (keyId) => {
        keyLookupCount.value++;
        faultPoint("tenant.lookup");
        const row = await env.DB.prepare(KEY_STANDING_SQL).bind(keyId).first<KeyStandingRow>();
        return row ? standingFromRow(row) : undefined;
      },
      digest: sha256Hex,
      timingSafeEqual: (a, b) => crypto.subtle.timingSafeEqual(a, b),
      failures: env.AUTH_FAILURES,
      lease: (tenant, limit, want) => {
        gateLeaseCount.value++;
        return tenantGateStub(env, tenant).lease(tenant, limit, want);
      },
      touch: (keyId, at) => env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(at, keyId).run(),
      background: (work) => c.executionCtx.waitUntil(work),
      maxStaleMs: config.tenantAdmissionMaxStaleMs,
      maxInFlight: config.tenantMaxInFlight,
    };
    const admission = await isolate.admit(
      { authorization: c.req.header("authorization"), client: failingClient(c.req.raw) },
      ports,
    );
    if (!admission.ok) {
      // A shed request was identified: its answer still carries the tenant's CORS origins.
      if (admission.type === "overloaded") {
        c.set("corsOrigins", admission.principal.corsOrigins);
        c.set("tenant", admission.principal.tenant);
        c.set("keyId", admission.principal.keyId);
      }
      return refusal(admission);
    }
    c.set("corsOrigins", admission.corsOrigins);
    c.set("tenant", admission.tenant);
    c.set("keyId", admission.keyId);
    c.set("releaseAdmission", admission.release);
    try {
      await next();
    } finally {
      admission.release();
    }
  };
}

/**
 * The answer to a refusal (its problem type, detail and Retry-After; a 401 names the scheme),
 * returned rather than thrown: refusals are the answers a flood gets, and no exception unwinds
 * the middleware chain for them.
 */
function refusal(refused: AdmissionRefusal): Response {
  if (refused.type === "unauthorized")
    return problemResponse(problem(refused.type, refused.detail), { "www-authenticate": 'Bearer realm="factline"' });
  if (refused.type === "tenant-suspended") return problemResponse(problem(refused.type, refused.detail));
  return problemResponse(problem(refused.type, refused.detail, { retryAfter: refused.retryAfter }));
}
