// The spine, end to end through real bindings: a command recorded by the entity's Durable
// Object, relayed through the queue, and applied to the D1 view.
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { call, eventually, newTenant, tenantClient } from "./support/api.js";

describe("the first vertical slice", () => {
  it("records a restock, serves the entity, and projects it into the inventory view", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);

    const res = await api.command("inventory", "sku-1", "restock", { quantity: 5 });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe('"1"');
    const body = (await res.json()) as { version: number; events: { seq: number; type: string; data: unknown }[] };
    expect(body.version).toBe(1);
    expect(body.events).toMatchObject([{ seq: 1, type: "Restocked", data: { quantity: 5, source: "manual" } }]);

    const entity = await api.get("/v1/entities/inventory/sku-1");
    expect(await entity.json()).toMatchObject({
      type: "inventory",
      id: "sku-1",
      version: 1,
      state: { onHand: 5, available: 5 },
    });

    const row = await eventually(async () => {
      const view = await api.get("/v1/views/inventory/sku-1");
      return view.status === 200 ? view.json() : undefined;
    });
    expect(row).toMatchObject({ sku: "sku-1", onHand: 5, reserved: 0, available: 5, version: 1 });
  });

  it("rebuilds the same state from the log after the entity object restarts", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "sku-2", "restock", { quantity: 3 });
    await api.command("inventory", "sku-2", "restock", { quantity: 4 });
    const before = await (await api.get("/v1/entities/inventory/sku-2")).json();

    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "sku-2")));
    await evictDurableObject(stub);

    const after = await (await api.get("/v1/entities/inventory/sku-2")).json();
    expect(after).toEqual(before);
    expect(after).toMatchObject({ version: 2, state: { onHand: 7 } });
  });

  it("answers a malformed body with problem+json 400 and records nothing", async () => {
    const tenant = await newTenant();
    const res = await call("/v1/entities/inventory/sku-3/commands/restock", {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.apiKey}`, "content-type": "application/json" },
      body: "{ not json",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ type: "https://factline.dev/problems/malformed-request", status: 400 });
    const entity = await tenantClient(tenant.apiKey).get("/v1/entities/inventory/sku-3");
    expect(entity.status).toBe(404);
  });

  it("refuses /v1 routes without a valid tenant key", async () => {
    const res = await call("/v1/entities/inventory/sku-1");
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const forged = await call("/v1/entities/inventory/sku-1", {
      headers: { authorization: "Bearer fl_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
    });
    expect(forged.status).toBe(401);
  });

  it("answers the health check", async () => {
    const res = await call("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});
