// Tenant policy changes are versioned in D1 and applied by the tenant's gate in version order:
// a push that arrives late (after a newer one) changes nothing, and a push that is lost is
// healed when the gate re-reads D1 (TENANT_POLICY_MAX_AGE_MS, 1 s in tests).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { armFault } from "../src/core/resilience/fault-injection.js";
import { tenantGateName, type TenantPolicy } from "../src/core/security/tenant-policy.js";
import { admin } from "./support/admin.js";
import { eventually, newTenant, tenantClient } from "./support/api.js";

function gateOf(tenant: string) {
  return env.TENANT_GATE.get(env.TENANT_GATE.idFromName(tenantGateName(tenant)));
}

async function policyVersion(tenant: string): Promise<number> {
  const row = await env.DB.prepare("SELECT policy_version AS v FROM tenants WHERE id = ?")
    .bind(tenant)
    .first<{ v: number }>();
  return row?.v ?? -1;
}

describe("tenant policy versions", () => {
  it("rise with every policy change written to D1", async () => {
    const tenant = await newTenant();
    const second = (await (await admin("POST", `/tenants/${tenant.id}/keys`)).json()) as { keyId: string };
    expect(await policyVersion(tenant.id)).toBe(0);
    await admin("POST", `/tenants/${tenant.id}/suspend`);
    await admin("POST", `/tenants/${tenant.id}/resume`);
    await admin("PUT", `/tenants/${tenant.id}/rate-limit`, { requestsPerSecond: 100, burst: 100 });
    await admin("PUT", `/tenants/${tenant.id}/cors`, { origins: ["https://app.example.com"] });
    await admin("DELETE", `/tenants/${tenant.id}/keys/${second.keyId}`);
    expect(await policyVersion(tenant.id)).toBe(5);
  });

  it("keeps the later D1 write when two changes are pushed in reverse order", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    expect((await admin("POST", `/tenants/${tenant.id}/suspend`)).status).toBe(200);
    expect((await admin("POST", `/tenants/${tenant.id}/resume`)).status).toBe(200);
    // The suspension's push, delayed, arrives after the resumption's.
    const late: TenantPolicy = { version: 1, status: "suspended", rateLimit: null, corsOrigins: [], revokedKeys: [] };
    expect(await gateOf(tenant.id).configure(tenant.id, late)).toBe(2);
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
  });

  it("suspends a tenant within the bound even when the push to its gate fails", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
    const disarm = armFault("tenant.push", (context) => {
      if (context.tenant === tenant.id) throw new Error("gate unreachable");
    });
    try {
      // D1 took the change: the admin API answers for it, the push is best effort.
      expect((await admin("POST", `/tenants/${tenant.id}/suspend`)).status).toBe(200);
    } finally {
      disarm();
    }
    const refused = await eventually(async () => {
      const res = await api.get("/v1/views/inventory");
      return res.status === 403 ? res : undefined;
    });
    expect(await refused.json()).toMatchObject({ type: "https://factline.dev/problems/tenant-suspended" });
  });
});
