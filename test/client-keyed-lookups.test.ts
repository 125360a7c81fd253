// Strings a client chooses (ids, command names, entity types, query names) are only ever names:
// none of them reaches a member of Object.prototype, whatever it is called. And commands a
// tenant must not send (saga steps, settlement) are not part of the tenant API at all.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../src/core/model/envelope.js";
import { sagaInstanceId } from "../src/core/model/saga.js";
import type { SagaRpc } from "../cloud/sagas/saga-host.js";
import { eventually, internalCommand, newTenant, tenantClient } from "./support/api.js";

async function setup() {
  const tenant = await newTenant("keys");
  return { tenant, api: tenantClient(tenant.apiKey) };
}

async function problemOf(res: Response): Promise<{ status: number; type: string; code?: string }> {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return { status: res.status, ...((await res.json()) as { type: string; code?: string }) };
}

describe("client-keyed lookups", () => {
  it("answers the T09 sequence correctly: no phantom shipment, no oversell, a reservation for 'constructor'", async () => {
    const { tenant, api } = await setup();
    expect((await api.command("inventory", "s1", "restock", { quantity: 5 })).status).toBe(200);
    // Shipping is the order saga's (internal): sent as it sends it.
    expect(await internalCommand(tenant.id, "inventory", "s1", "ship", { orderId: "toString" })).toMatchObject({
      ok: false,
      problem: { status: 422, code: "no-reservation" },
    });
    expect(
      await problemOf(await api.command("inventory", "s1", "reserve", { orderId: "big", quantity: 1_000_000 })),
    ).toMatchObject({ status: 422, code: "insufficient-stock" });
    const reserved = await api.command("inventory", "s1", "reserve", { orderId: "constructor", quantity: 1 });
    expect(reserved.status).toBe(200);
    expect(((await reserved.json()) as { events: { type: string }[] }).events.map((e) => e.type)).toEqual(["Reserved"]);
    expect((await api.command("inventory", "s1", "reserve", { orderId: "__proto__", quantity: 1 })).status).toBe(200);

    const entity = (await (await api.get("/v1/entities/inventory/s1")).json()) as { state: Record<string, unknown> };
    expect(entity.state).toMatchObject({ onHand: 5, reserved: 2, available: 3, shipped: 0 });
    const row = await eventually(async () => {
      const res = await api.get("/v1/views/inventory/s1");
      const body = res.status === 200 ? ((await res.json()) as { version: number }) : undefined;
      return body?.version === 3 ? body : undefined;
    });
    expect(row).toMatchObject({ onHand: 5, reserved: 2, available: 3, shipped: 0 });
  });

  it("refuses view filters named like Object.prototype members, as any unknown filter", async () => {
    const { api } = await setup();
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "bogus"]) {
      expect(await problemOf(await api.get(`/v1/views/orders?${name}=x`))).toMatchObject({
        status: 400,
        type: "https://factline.dev/problems/validation-failed",
      });
    }
    expect((await api.get("/v1/views/orders?status=pending")).status).toBe(200);
  });

  it("refuses view filter values no row can have (a customer id outside the id grammar, an unknown status)", async () => {
    const { api } = await setup();
    for (const query of ["customerId=a%20b", `customerId=${"c".repeat(129)}`, "status=nope", "status=PENDING"]) {
      const res = await api.get(`/v1/views/orders?${query}`);
      expect({ query, problem: await problemOf(res) }).toMatchObject({
        query,
        problem: { status: 400, type: "https://factline.dev/problems/validation-failed" },
      });
    }
    expect((await api.get("/v1/views/orders?customerId=c-1&status=cancelled")).status).toBe(200);
  });

  it("answers 404 for commands, and commands to entity types, named like Object.prototype members", async () => {
    const { api } = await setup();
    for (const command of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      expect(await problemOf(await api.command("inventory", "s1", command, {}))).toMatchObject({
        status: 404,
        type: "https://factline.dev/problems/not-found",
      });
    }
    for (const type of ["toString", "__proto__", "constructor"])
      expect(await problemOf(await api.command(type, "s1", "restock", { quantity: 1 }))).toMatchObject({ status: 404 });
  });

  it("refuses as malformed an entity type named like an Object.prototype member, which no app can define", async () => {
    const { api } = await setup();
    for (const type of ["toString", "__proto__", "constructor"]) {
      expect(await problemOf(await api.get(`/v1/entities/${type}/s1`))).toMatchObject({
        status: 400,
        type: "https://factline.dev/problems/malformed-request",
      });
    }
  });
});

describe("command visibility", () => {
  it("answers a tenant's internal command (a saga step) with 404, as a command that does not exist", async () => {
    const { api } = await setup();
    await api.command("payments", "o-1", "submit", { orderId: "o-1", amount: 20, currency: "EUR" });
    expect(await problemOf(await api.command("payments", "o-1", "approve", { gatewayRef: "x" }))).toMatchObject({
      status: 404,
      type: "https://factline.dev/problems/not-found",
    });
    for (const [type, command, body] of [
      ["payments", "decline", { reason: "x" }],
      ["payments", "settle", { chargeKey: "k" }],
      ["payments", "refund", { reason: "x" }],
      ["orders", "confirm", {}],
      ["orders", "ship", {}],
      ["inventory", "release", { orderId: "o-1" }],
      ["inventory", "ship", { orderId: "o-1" }],
    ] as const) {
      expect((await api.command(type, "o-1", command, body)).status).toBe(404);
    }
    const payment = (await (await api.get("/v1/entities/payments/o-1")).json()) as {
      version: number;
      state: { status: string };
    };
    expect(payment).toMatchObject({ version: 1, state: { status: "submitted" } });
  });

  it("leaves internal commands out of the API document", async () => {
    const doc = (await (await tenantClient("").get("/openapi.json")).json()) as { paths: Record<string, unknown> };
    const paths = Object.keys(doc.paths);
    expect(paths).toContain("/v1/entities/payments/{id}/commands/submit");
    expect(paths).toContain("/v1/entities/orders/{id}/commands/cancel");
    expect(paths).not.toContain("/v1/entities/payments/{id}/commands/approve");
    expect(paths).not.toContain("/v1/entities/orders/{id}/commands/confirm");
  });
});

describe("saga objects for instances that never start", () => {
  it("writes no storage for an inventory fact naming an order no saga runs for", async () => {
    const { tenant, api } = await setup();
    await api.command("inventory", "s1", "restock", { quantity: 5 });
    await api.command("inventory", "s1", "reserve", { orderId: "ghost-order", quantity: 1 });
    const log = (await (await api.get("/v1/entities/inventory/s1/events")).json()) as { events: RecordedEvent[] };
    const reservedFact = log.events.find((e) => e.type === "Reserved");
    expect(reservedFact).toBeDefined();

    const id = sagaInstanceId(tenant.id, "order-fulfillment", "ghost-order");
    const stub = env.SAGA.get(env.SAGA.idFromName(id));
    const saga = stub as unknown as SagaRpc;
    const address = { tenant: tenant.id, saga: "order-fulfillment", instanceKey: "ghost-order" };
    expect(await saga.deliver(address, reservedFact ? [reservedFact] : [])).toEqual({ recorded: 0 });
    const stored = await runInDurableObject(stub, async (_instance, state) => ({
      tables: state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name NOT LIKE '\\_cf\\_%' ESCAPE '\\'")
        .toArray(),
      keys: [...(await state.storage.list()).keys()],
      alarm: await state.storage.getAlarm(),
    }));
    expect(stored).toEqual({ tables: [], keys: [], alarm: null });
  });
});
