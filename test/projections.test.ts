// Projection operations: rebuilding from the entity logs while the old rows keep serving, and
// measuring how far a projection lags behind the facts.
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, call, eventually, internalCommand, newTenant, tenantClient } from "./support/api.js";
import { failConsumerFor } from "./support/facts.js";

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const disarm: (() => void)[] = [];
afterEach(() => {
  while (disarm.length) disarm.pop()?.();
});

interface ProjectionStatus {
  name: string;
  lag: { tenant: string; entities: number; factsBehind: number; secondsBehind: number }[];
  rebuild: { generation: number; entitiesTotal: number; entitiesDone: number } | null;
}

async function projectionStatus(tenant: string, name: string): Promise<ProjectionStatus> {
  const res = await call(`/admin/projections?tenant=${tenant}`, { headers: admin });
  const body = (await res.json()) as { items: ProjectionStatus[] };
  return body.items.find((p) => p.name === name)!;
}

async function settledList(apiKey: string, view: string, expected: number) {
  return eventually(async () => {
    const res = await tenantClient(apiKey).get(`/v1/views/${view}`);
    const body = (await res.json()) as { items: { version: number }[] };
    const total = body.items.reduce((sum, row) => sum + row.version, 0);
    return total === expected ? body.items : undefined;
  });
}

describe("rebuild", () => {
  it("rebuilds the same rows from the entity logs while the old rows keep serving", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    for (const sku of ["a", "b", "c"]) {
      await api.command("inventory", sku, "restock", { quantity: 10 });
      await api.command("inventory", sku, "reserve", { orderId: "o1", quantity: 4 });
    }
    // Shipping and releasing are the order saga's (internal): sent as it sends them.
    await internalCommand(tenant.id, "inventory", "a", "ship", { orderId: "o1" });
    await internalCommand(tenant.id, "inventory", "b", "release", { orderId: "o1" });
    const incremental = await settledList(tenant.apiKey, "inventory", 8);

    const started = await call(`/admin/projections/inventory/rebuild?tenant=${tenant.id}`, {
      method: "POST",
      headers: admin,
    });
    expect(started.status).toBe(202);
    expect(await started.json()).toMatchObject({ generation: 1, entitiesTotal: 3 });
    // Reads are answered from the old generation meanwhile.
    expect(((await (await api.get("/v1/views/inventory")).json()) as { items: unknown[] }).items).toEqual(incremental);

    await eventually(async () =>
      (await projectionStatus(tenant.id, "inventory")).rebuild === null ? true : undefined,
    );
    const rebuilt = ((await (await api.get("/v1/views/inventory")).json()) as { items: unknown[] }).items;
    expect(rebuilt).toEqual(incremental);
  });

  it("rebuilds every entity when a tenant has more of them than one rebuild step replays", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const skus = Array.from({ length: 45 }, (_, i) => `sku-${String(i).padStart(2, "0")}`);
    for (const [i, sku] of skus.entries()) await api.command("inventory", sku, "restock", { quantity: i + 1 });
    const incremental = await settledList(tenant.apiKey, "inventory", skus.length);

    const started = await call(`/admin/projections/inventory/rebuild?tenant=${tenant.id}`, {
      method: "POST",
      headers: admin,
    });
    expect(await started.json()).toMatchObject({ generation: 1, entitiesTotal: skus.length });
    await eventually(async () =>
      (await projectionStatus(tenant.id, "inventory")).rebuild === null ? true : undefined,
    );
    const rebuilt = ((await (await api.get("/v1/views/inventory")).json()) as { items: unknown[] }).items;
    expect(rebuilt).toEqual(incremental);
  });

  it("keeps applying new facts during and after a rebuild", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "a", "restock", { quantity: 1 });
    await settledList(tenant.apiKey, "inventory", 1);
    await call(`/admin/projections/inventory/rebuild?tenant=${tenant.id}`, { method: "POST", headers: admin });
    await api.command("inventory", "a", "restock", { quantity: 2 });
    await api.command("inventory", "b", "restock", { quantity: 3 });
    await eventually(async () =>
      (await projectionStatus(tenant.id, "inventory")).rebuild === null ? true : undefined,
    );
    const rows = await settledList(tenant.apiKey, "inventory", 3);
    expect(rows).toMatchObject([
      { sku: "a", onHand: 3, version: 2 },
      { sku: "b", onHand: 3, version: 1 },
    ]);
  });

  it("refuses a second rebuild while one runs, and unknown projections or tenants", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "a", "restock", { quantity: 1 });
    await settledList(tenant.apiKey, "inventory", 1);
    const first = await call(`/admin/projections/inventory/rebuild?tenant=${tenant.id}`, {
      method: "POST",
      headers: admin,
    });
    const second = await call(`/admin/projections/inventory/rebuild?tenant=${tenant.id}`, {
      method: "POST",
      headers: admin,
    });
    expect(first.status).toBe(202);
    expect([202, 409]).toContain(second.status); // 202 only if the first had already finished
    expect(
      (await call(`/admin/projections/nope/rebuild?tenant=${tenant.id}`, { method: "POST", headers: admin })).status,
    ).toBe(404);
    expect(
      (await call(`/admin/projections/inventory/rebuild?tenant=nobody-here`, { method: "POST", headers: admin }))
        .status,
    ).toBe(404);
    expect((await call(`/admin/projections/inventory/rebuild`, { method: "POST", headers: admin })).status).toBe(400);
  });
});

describe("lag", () => {
  it("counts facts received but not applied, and returns to zero once applied", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const resume = failConsumerFor(tenant.id);
    disarm.push(resume);
    await api.command("inventory", "slow", "restock", { quantity: 1 });
    await api.command("inventory", "slow", "restock", { quantity: 1 });
    const behind = await eventually(async () => {
      const lag = (await projectionStatus(tenant.id, "inventory")).lag[0];
      return lag && lag.factsBehind === 2 ? lag : undefined;
    });
    expect(behind).toMatchObject({ tenant: tenant.id, entities: 1, factsBehind: 2 });
    expect(behind.secondsBehind).toBeGreaterThanOrEqual(0);

    resume();
    const caughtUp = await eventually(async () => {
      const lag = (await projectionStatus(tenant.id, "inventory")).lag[0];
      return lag && lag.factsBehind === 0 ? lag : undefined;
    }, 20_000);
    expect(caughtUp.secondsBehind).toBe(0);
  });
});
