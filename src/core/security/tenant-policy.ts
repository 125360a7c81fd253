// A tenant's policy as the edge enforces it: whether it may run at all, which keys are revoked,
// its fair-use rate limit and the browser origins it allows. The admin API (cloud) owns the
// record in D1; isolates admit requests from their own bounded-stale copy of it
// (tenant-admission.ts), and the tenant's gate object holds the rate-limit bucket and answers
// live streams' standing checks; the schemas here validate what the admin API accepts.
import { z } from "zod";
import { originMistake } from "./browser-origin.js";

export const rateLimitSchema = z
  .object({
    // At least one request per 1,000 s: below that a refusal's Retry-After would name hours, and
    // what is meant is a quota, not a rate.
    requestsPerSecond: z
      .number()
      .min(0.001)
      .max(100_000)
      .describe("tokens added to the bucket per second (0.001 to 100,000)"),
    burst: z.number().int().min(1).max(1_000_000).describe("bucket size: requests allowed at once"),
  })
  .strict();

export type RateLimit = z.output<typeof rateLimitSchema>;

// An origin exactly as a browser sends it (browser-origin.ts): the list is matched by exact string,
// so any other spelling could never match and is refused with the one to write instead.
const originSchema = z
  .string()
  .max(255)
  .superRefine((text, ctx) => {
    const mistake = originMistake(text);
    if (mistake !== undefined) ctx.addIssue({ code: "custom", message: mistake });
  })
  .describe("an origin as a browser sends it: https://app.example.com, http://localhost:5173, http://[::1]:8080");

export const corsPolicySchema = z
  .object({ origins: z.array(originSchema).max(50).describe("origins allowed to call the tenant API from a browser") })
  .strict();

export interface TenantPolicy {
  /**
   * The tenant's `policy_version` in D1 when this policy was read: raised with every change, so
   * a gate applies a policy only if it is newer than the one it holds (pushes may fail or cross).
   */
  readonly version: number;
  readonly status: "active" | "suspended";
  readonly rateLimit: RateLimit | null;
  readonly corsOrigins: readonly string[];
  readonly revokedKeys: readonly string[];
}

/** The RPC contract of the per-tenant gate object. */
export interface TenantGateRpc {
  /**
   * Grants up to `want` tokens of `tenant`'s bucket under `limit` (the limit as the caller's
   * isolate read it from D1; a changed limit starts a full bucket). `granted` may be 0, then
   * `retryAfter` (s) says when one is there.
   */
  lease(tenant: string, limit: RateLimit, want: number): Promise<{ granted: number; retryAfter: number }>;
  /**
   * Whether `keyId` of `tenant` may still read: "revoked" for a revoked key, "suspended" for a
   * suspended or unknown tenant. Consumes no rate-limit token: live streams re-check with it.
   */
  standing(tenant: string, keyId: string): Promise<"ok" | "revoked" | "suspended">;
  /**
   * Replaces the whole policy if `policy.version` is newer than the gate's (idempotent; the admin
   * API sends it after every change). Returns the version the gate holds afterwards.
   */
  configure(tenant: string, policy: TenantPolicy): Promise<number>;
}

/** The name of the Durable Object that gates one tenant. */
export function tenantGateName(tenant: string): string {
  return `tenant:${tenant}`;
}

/** A tenant's policy row as D1 stores it (tenants joined with its revoked key ids). */
export interface TenantPolicyRow {
  readonly policyVersion: number;
  readonly status: string;
  readonly rateLimitRps: number | null;
  readonly rateLimitBurst: number | null;
  readonly corsOrigins: unknown;
}

/** The policy a D1 row states; anything but "active" counts as suspended (fail closed). */
export function policyFromRow(row: TenantPolicyRow, revokedKeys: readonly string[]): TenantPolicy {
  return {
    version: row.policyVersion,
    status: row.status === "active" ? "active" : "suspended",
    rateLimit: rateLimitFromColumns(row.rateLimitRps, row.rateLimitBurst),
    corsOrigins: corsOriginsFromColumn(row.corsOrigins),
    revokedKeys: [...revokedKeys],
  };
}

/** The rate limit the `tenants` columns state: none unless both are set. */
export function rateLimitFromColumns(rps: number | null, burst: number | null): RateLimit | null {
  return rps !== null && burst !== null ? { requestsPerSecond: rps, burst } : null;
}

/** The origins the `tenants.cors_origins` column states (JSON text or parsed); [] if malformed. */
export function corsOriginsFromColumn(column: unknown): string[] {
  const origins = typeof column === "string" ? safeJson(column) : column;
  return Array.isArray(origins) ? origins.filter((o): o is string => typeof o === "string") : [];
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return [];
  }
}
