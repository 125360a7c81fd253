// At-least-once, unordered delivery of the facts that drive a saga: duplicates and reordered
// facts, injected through the worker's own queue handler next to the real queue, never repeat a
// step; and a saga object that restarts mid-flight continues where it stopped.
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { toCloudEvent } from "../src/core/protocol/cloud-event.js";
import type { RecordedEvent } from "../src/core/model/envelope.js";
import worker from "../worker.js";
import { eventually, newTenant, tenantClient } from "./support/api.js";
import { armFault, InjectedFault } from "../src/core/resilience/fault-injection.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { holdRelay } from "./support/facts.js";
import { adminCall, gatewayLedger, orderEnds, readEntity, sagaId, setGateway } from "./support/sagas.js";

type Api = ReturnType<typeof tenantClient>;

async function log(api: Api, type: string, id: string): Promise<RecordedEvent[]> {
  const res = await api.get(`/v1/entities/${type}/${id}/events?limit=1000`);
  return ((await res.json()) as { events: RecordedEvent[] }).events;
}

/** Delivers facts to the worker's queue handler as one batch, as the queue would (again). */
async function redeliver(facts: readonly RecordedEvent[]): Promise<{ retried: number }> {
  const batch = createMessageBatch(
    "factline-facts",
    facts.map((f, i) => ({
      id: `redelivery-${i}-${f.meta.eventId}`,
      timestamp: new Date(),
      attempts: 2,
      body: toCloudEvent(f),
    })),
  );
  const ctx = createExecutionContext();
  await (worker.queue as ExportedHandlerQueueHandler<Env>)(batch, env, ctx);
  const result = await getQueueResult(batch, ctx);
  return { retried: result.retryMessages.length };
}

/** How far the entity has been told its facts are consumed. */
function acknowledgedUpTo(tenant: string, type: string, id: string): Promise<number> {
  const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, type, id)));
  return runInDurableObject(
    stub,
    (_actor, state) =>
      state.storage.sql.exec<{ acked_up_to: number }>("SELECT acked_up_to FROM relay_state").one().acked_up_to,
  );
}

async function sagaLog(id: string): Promise<string[]> {
  const res = await adminCall(`/admin/sagas/${id}`);
  return ((await res.json()) as { log: { type: string }[] }).log.map((e) => e.type);
}

describe("saga delivery", () => {
  it("does not repeat steps when driving facts arrive twice and out of order", async () => {
    const tenant = await newTenant("dup");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "cup", "restock", { quantity: 10 });
    await api.command("inventory", "mug", "restock", { quantity: 10 });
    await api.command("orders", "o-1", "create", {
      customerId: "c",
      items: [
        { sku: "cup", quantity: 2, unitPrice: 3 },
        { sku: "mug", quantity: 1, unitPrice: 4 },
      ],
    });
    // The starting fact again, three times, racing the real queue's own delivery (a consumer that
    // loses the race on a projection checkpoint may ask for a retry: that is at-least-once too).
    const created = await log(api, "orders", "o-1");
    await Promise.all([redeliver(created), redeliver([...created, ...created])]);

    expect(await orderEnds(api, "o-1")).toBe("shipped");
    const id = sagaId(tenant.id, "o-1");
    await eventually(async () => {
      const res = await adminCall(`/admin/sagas/${id}`);
      return ((await res.json()) as { status: string }).status === "completed" ? true : undefined;
    });

    // Every fact of the journey, duplicated and newest first.
    const facts = [
      ...(await log(api, "orders", "o-1")),
      ...(await log(api, "inventory", "cup")),
      ...(await log(api, "inventory", "mug")),
      ...(await log(api, "payments", "o-1")),
    ];
    const before = await sagaLog(id);
    expect(await redeliver([...facts, ...facts].reverse())).toEqual({ retried: 0 });
    // Facts the real queue had not yet brought are noted as observed; nothing else happens.
    const after = await sagaLog(id);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length).every((type) => type === "FactObserved")).toBe(true);
    // And once seen, a fact is never noted again.
    expect(await redeliver(facts)).toEqual({ retried: 0 });
    expect(await sagaLog(id)).toEqual(after);

    expect((await log(api, "orders", "o-1")).map((e) => e.type)).toEqual([
      "OrderCreated",
      "OrderConfirmed",
      "OrderShipped",
    ]);
    expect((await log(api, "payments", "o-1")).map((e) => e.type)).toEqual([
      "PaymentSubmitted",
      "SettlementClaimed",
      "PaymentApproved",
    ]);
    expect((await log(api, "inventory", "cup")).map((e) => e.type)).toEqual(["Restocked", "Reserved", "Shipped"]);
    expect((await readEntity(api, "inventory", "cup")).state).toMatchObject({ onHand: 8, shipped: 2, reserved: 0 });
    expect(await gatewayLedger(tenant.id)).toHaveLength(1);
  });

  it("starts a saga whose starting fact was lost, once a later fact of its order repairs the gap", async () => {
    const tenant = await newTenant("gap");
    const api = tenantClient(tenant.apiKey);
    expect((await api.command("inventory", "s1", "restock", { quantity: 5 })).status).toBe(200);
    const held = holdRelay(tenant.id);
    try {
      await api.command("orders", "o-1", "create", {
        customerId: "c",
        items: [{ sku: "s1", quantity: 2, unitPrice: 3 }],
      });
      await api.command("orders", "o-1", "cancel", { reason: "changed my mind" });
      const [created, cancelled] = await log(api, "orders", "o-1");
      expect([created?.type, cancelled?.type]).toEqual(["OrderCreated", "OrderCancelled"]);
      // OrderCreated never arrives: only OrderCancelled does, and the consumer reads seq 1 back.
      await redeliver([cancelled!]);
      const status = await eventually(async () => {
        const res = await adminCall(`/admin/sagas/${sagaId(tenant.id, "o-1")}`);
        const view = res.status === 200 ? ((await res.json()) as { status: string }) : undefined;
        return view?.status === "compensated" ? view.status : undefined;
      });
      expect(status).toBe("compensated");
      expect((await readEntity(api, "inventory", "s1")).state).toMatchObject({ onHand: 5, reserved: 0, available: 5 });
    } finally {
      held();
    }
  });

  it("hands facts recovered by gap repair to the sagas on the retry after handing them over failed", async () => {
    const tenant = await newTenant("f5");
    const api = tenantClient(tenant.apiKey);
    expect((await api.command("inventory", "s1", "restock", { quantity: 5 })).status).toBe(200);
    const held = holdRelay(tenant.id);
    const sagasDown = armFault("saga.deliver", (ctx) => {
      if (ctx.tenant === tenant.id) throw new InjectedFault("saga.deliver");
    });
    try {
      await api.command("orders", "o-1", "create", {
        customerId: "c",
        items: [{ sku: "s1", quantity: 2, unitPrice: 3 }],
      });
      await api.command("orders", "o-1", "cancel", { reason: "changed my mind" });
      const [, cancelled] = await log(api, "orders", "o-1");
      // Projections apply OrderCreated (read back from the entity) and OrderCancelled; the sagas fail.
      expect(await redeliver([cancelled!])).toEqual({ retried: 1 });
      const view = await api.get("/v1/views/orders/o-1");
      expect(((await view.json()) as { status: string }).status).toBe("cancelled");
      // Not acknowledged: the sagas have not consumed the facts yet.
      expect(await acknowledgedUpTo(tenant.id, "orders", "o-1")).toBe(0);
      sagasDown();
      // The retry carries only OrderCancelled, and projections skip it; the sagas still get OrderCreated.
      expect(await redeliver([cancelled!])).toEqual({ retried: 0 });
      expect(await acknowledgedUpTo(tenant.id, "orders", "o-1")).toBe(2);
      const status = await eventually(async () => {
        const res = await adminCall(`/admin/sagas/${sagaId(tenant.id, "o-1")}`);
        const saga = res.status === 200 ? ((await res.json()) as { status: string }) : undefined;
        return saga?.status === "compensated" ? saga.status : undefined;
      });
      expect(status).toBe("compensated");
    } finally {
      sagasDown();
      held();
    }
  });

  it("carries the driving fact's clock and the saga's correlation into the commands it issues", async () => {
    const tenant = await newTenant("hlc");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "pen", "restock", { quantity: 1 });
    await api.command("orders", "o-1", "create", {
      customerId: "c",
      items: [{ sku: "pen", quantity: 1, unitPrice: 1 }],
    });
    expect(await orderEnds(api, "o-1")).toBe("shipped");
    const [created] = await log(api, "orders", "o-1");
    const reserved = (await log(api, "inventory", "pen")).find((e) => e.type === "Reserved");
    expect(created && reserved).toBeTruthy();
    expect(reserved!.meta.hlc > created!.meta.hlc).toBe(true);
    expect(reserved!.meta.correlationId).toBe(sagaId(tenant.id, "o-1"));
    expect(reserved!.meta.causationId).toBe(created!.meta.eventId);
    expect(reserved!.meta.idempotencyKey).toBe(`${sagaId(tenant.id, "o-1")}/reserve:pen`);
  });

  it("continues from its own log after the saga object restarts", async () => {
    const tenant = await newTenant("rst");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "box", "restock", { quantity: 4 });
    await setGateway(tenant.id, { errorRate: 1 });
    await api.command("orders", "o-1", "create", {
      customerId: "c",
      items: [{ sku: "box", quantity: 3, unitPrice: 2 }],
    });
    const id = sagaId(tenant.id, "o-1");

    // With the gateway down the saga ends up waiting for an operator, its progress only in its log.
    await eventually(async () => {
      const res = await adminCall(`/admin/sagas/${id}`);
      return res.status === 200 && ((await res.json()) as { status: string }).status === "attention" ? true : undefined;
    }, 30_000);
    const before = await sagaLog(id);
    // Crash the object: its memory is gone, the next call constructs it anew from storage.
    await runInDurableObject(env.SAGA.get(env.SAGA.idFromName(id)), (_saga, state) =>
      state.abort("simulated crash"),
    ).catch(() => undefined);
    await setGateway(tenant.id, { errorRate: 0 });
    expect((await adminCall(`/admin/sagas/${id}/retry`, { method: "POST" })).status).toBe(202);

    expect(await orderEnds(api, "o-1")).toBe("cancelled");
    const after = await sagaLog(id);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.filter((t) => t === "SagaStarted")).toHaveLength(1);
    expect((await log(api, "inventory", "box")).map((e) => e.type)).toEqual(["Restocked", "Reserved", "Released"]);
    // A failing gateway may have charged before its answer was lost: the payment then records the
    // charge and its refund, as the ledger does; with no charge made, it is declined.
    const ledger = await gatewayLedger(tenant.id);
    expect(ledger.filter((e) => e.status === "approved" && !e.refunded)).toEqual([]);
    const charged = ledger.some((e) => e.status === "approved" && e.refunded);
    expect((await log(api, "payments", "o-1")).map((e) => e.type)).toEqual(
      charged
        ? ["PaymentSubmitted", "SettlementClaimed", "PaymentApproved", "PaymentRefunded"]
        : ["PaymentSubmitted", "SettlementClaimed", "PaymentDeclined"],
    );
  }, 60_000);
});
