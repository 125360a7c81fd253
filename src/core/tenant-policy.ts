// A tenant's policy as the edge enforces it: whether it may run at all, which keys are revoked,
// its fair-use rate limit and the browser origins it allows. The admin API (cloud) owns the
// record in D1 and pushes every change to the tenant's gate object (edge), which is the
// authority every request consults; the schemas here validate what the admin API accepts.
import { z } from "zod";

export const rateLimitSchema = z
  .object({
    requestsPerSecond: z.number().positive().max(100_000).describe("tokens added to the bucket per second"),
    burst: z.number().int().min(1).max(1_000_000).describe("bucket size: requests allowed at once"),
  })
  .strict();

export type RateLimit = z.output<typeof rateLimitSchema>;

// An origin as browsers send it: scheme, host and optional port, no path.
const originSchema = z
  .string()
  .max(255)
  .regex(/^https?:\/\/[a-z0-9.-]+(?::\d{1,5})?$/, "an origin such as https://app.example.com");

export const corsPolicySchema = z
  .object({ origins: z.array(originSchema).max(50).describe("origins allowed to call the tenant API from a browser") })
  .strict();

export interface TenantPolicy {
  readonly status: "active" | "suspended";
  readonly rateLimit: RateLimit | null;
  readonly corsOrigins: readonly string[];
  readonly revokedKeys: readonly string[];
}

export type Admission =
  | { readonly admitted: true; readonly corsOrigins: readonly string[] }
  | { readonly admitted: false; readonly reason: "suspended" | "revoked" | "unknown-tenant" }
  | { readonly admitted: false; readonly reason: "rate-limited"; readonly retryAfter: number };

/** The RPC contract of the per-tenant gate object. */
export interface TenantGateRpc {
  /** Decides one request by `keyId` of `tenant`; consumes a rate-limit token when admitted. */
  admit(tenant: string, keyId: string): Promise<Admission>;
  /**
   * Whether `keyId` of `tenant` may still read (null: the operator, for whom only the tenant's
   * existence is checked). Consumes no rate-limit token: live streams re-check with it.
   */
  standing(tenant: string, keyId: string | null): Promise<"ok" | "revoked" | "suspended">;
  /** Replaces the whole policy (idempotent; the admin API sends it after every change). */
  configure(tenant: string, policy: TenantPolicy): Promise<void>;
}

/** The name of the Durable Object that gates one tenant. */
export function tenantGateName(tenant: string): string {
  return `tenant:${tenant}`;
}
