// A saga's task commands hand their facts to the saga host, which sends the facts of the commands
// its isolate's sagas made within one linger window in one `sendBatch` (cloud/sagas/saga-host.ts,
// src/core/outbox/fact-hand-off.ts), as the tenant API's Worker does for its commands; a send that
// fails is reported to each entity, which sends its facts itself.
import { afterEach, describe, expect, it, vi } from "vitest";
import { sagaFactHandOff } from "../cloud/sagas/saga-host.js";
import type { FactsQueueMessage } from "../src/core/protocol/cloud-event.js";
import { armTransform, InjectedFault } from "../src/core/resilience/fault-injection.js";
import { eventually, newTenant, tenantClient } from "./support/api.js";
import { handOffsSettled } from "./support/facts.js";

const SKUS = ["h1", "h2", "h3"];

/** Waits until the inventory view shows `shipped` for every SKU (the saga reserved, then shipped). */
function shippedInView(api: ReturnType<typeof tenantClient>, shipped: number) {
  return eventually(async () => {
    const rows = await Promise.all(
      SKUS.map(async (sku) => {
        const res = await api.get(`/v1/views/inventory/${sku}`);
        return res.status === 200 ? ((await res.json()) as { shipped: number }) : undefined;
      }),
    );
    return rows.every((row) => row?.shipped === shipped) ? rows : undefined;
  }, 20_000);
}

const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  vi.restoreAllMocks();
  await handOffsSettled();
});

describe("a saga's task commands", () => {
  it("hand their facts to the saga host, which sends them to the read models", async () => {
    const api = tenantClient((await newTenant("handoff")).apiKey);
    for (const sku of SKUS) expect((await api.command("inventory", sku, "restock", { quantity: 5 })).status).toBe(200);
    const handedOff = vi.spyOn(sagaFactHandOff, "add");

    const items = SKUS.map((sku) => ({ sku, quantity: 2, unitPrice: 1 }));
    expect((await api.command("orders", "o-1", "create", { customerId: "c", items })).status).toBe(200);

    await shippedInView(api, 2);
    const entities = handedOff.mock.calls.map(([, address]) => `${address.entityType}/${address.entityId}`);
    expect(entities).toEqual(expect.arrayContaining(SKUS.map((sku) => `inventory/${sku}`)));
  });

  it("reach the read models when the saga host's send fails, sent again by their entities", async () => {
    const api = tenantClient((await newTenant("handoff")).apiKey);
    for (const sku of SKUS) expect((await api.command("inventory", sku, "restock", { quantity: 5 })).status).toBe(200);
    await handOffsSettled();
    // The first send of each SKU's shipment, its last fact, is refused: nothing after it would make
    // the consumer repair the gap, so only the entity, told of the failure, can send it in time
    // (its probe would wait 30 s).
    const failed = new Set<string>();
    cleanups.push(
      armTransform<FactsQueueMessage>("relay.batch", (messages, ctx) => {
        const sku = ctx.entityId;
        if (sku === undefined || !SKUS.includes(sku) || failed.has(sku)) return messages;
        if (!messages.some((m) => "type" in m && m.type.endsWith("Shipped"))) return messages;
        failed.add(sku);
        throw new InjectedFault("relay.batch");
      }),
    );
    const handedOff = vi.spyOn(sagaFactHandOff, "add");

    const items = SKUS.map((sku) => ({ sku, quantity: 3, unitPrice: 1 }));
    expect((await api.command("orders", "o-2", "create", { customerId: "c", items })).status).toBe(200);

    await shippedInView(api, 3);
    expect([...failed].sort()).toEqual(SKUS);
    expect(handedOff.mock.calls.length).toBeGreaterThanOrEqual(SKUS.length);
  });
});
