// The order-fulfillment saga through real bindings: facts travel from the entities through the
// queue to the saga's own object, which drives the entities and the (simulated) payment gateway.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { paymentGateway } from "../reference/payment-gateway-client.js";
import { paymentGatewayService } from "../reference/payment-service.js";
import { paymentChargeKey } from "../src/domain/payments.js";
import { call, eventually, internalCommand, newTenant, tenantClient } from "./support/api.js";
import { adminCall, gatewayLedger, orderEnds, readEntity, sagaId, setGateway } from "./support/sagas.js";

async function stocked(skus: Record<string, number>) {
  const tenant = await newTenant("saga");
  const api = tenantClient(tenant.apiKey);
  for (const [sku, quantity] of Object.entries(skus)) {
    expect((await api.command("inventory", sku, "restock", { quantity })).status).toBe(200);
  }
  return { tenant, api };
}

/** Submits payment `paymentId` for `orderId` in euros through the tenant API. */
async function submitPayment(api: ReturnType<typeof tenantClient>, paymentId: string, orderId: string, amount: number) {
  expect((await api.command("payments", paymentId, "submit", { orderId, amount, currency: "EUR" })).status).toBe(200);
}

/** Settles payment `paymentId` through the reference app's settle route (a charge the saga never made). */
async function settleThroughRoute(tenant: { apiKey: string }, paymentId: string) {
  const auth = { authorization: `Bearer ${tenant.apiKey}` };
  expect((await call(`/v1/payments/${paymentId}/settle`, { method: "POST", headers: auth })).status).toBe(200);
}

/** Runs the payment's compensation (the gateway refund of its key) as a saga would, under `idempotencyKey`. */
function compensatePayment(tenant: { id: string }, paymentId: string, idempotencyKey: string) {
  return paymentGatewayService.call(
    "refund",
    { chargeKey: paymentChargeKey(paymentId), paymentId, reason: "the order was not fulfilled" },
    { env, tenant: tenant.id, idempotencyKey },
  );
}

/** Waits until payment `paymentId` reads `status`. */
function paymentEnds(api: ReturnType<typeof tenantClient>, paymentId: string, status: string) {
  return eventually(async () =>
    (await readEntity(api, "payments", paymentId)).state["status"] === status ? true : undefined,
  );
}

describe("order fulfillment", () => {
  it("ships an order: stock moves from available to shipped and the views agree", async () => {
    const { tenant, api } = await stocked({ apple: 10, pear: 5 });
    const created = await api.command("orders", "o-1", "create", {
      customerId: "c-1",
      items: [
        { sku: "apple", quantity: 3, unitPrice: 2 },
        { sku: "pear", quantity: 1, unitPrice: 5 },
      ],
    });
    expect(created.status).toBe(200);

    expect(await orderEnds(api, "o-1")).toBe("shipped");
    expect((await readEntity(api, "inventory", "apple")).state).toMatchObject({
      onHand: 7,
      reserved: 0,
      available: 7,
      shipped: 3,
    });
    expect((await readEntity(api, "inventory", "pear")).state).toMatchObject({
      onHand: 4,
      reserved: 0,
      available: 4,
      shipped: 1,
    });
    expect((await readEntity(api, "payments", "o-1")).state).toMatchObject({ status: "approved", amount: 11 });

    const ledger = await gatewayLedger(tenant.id);
    expect(ledger).toMatchObject([{ reference: "o-1", amount: 11, status: "approved", refunded: false }]);

    const order = await eventually(async () => {
      const row = (await (await api.get("/v1/views/orders/o-1")).json()) as { status?: string };
      return row.status === "shipped" ? row : undefined;
    });
    expect(order).toMatchObject({ orderId: "o-1", status: "shipped" });
    const apple = await eventually(async () => {
      const row = (await (await api.get("/v1/views/inventory/apple")).json()) as { shipped?: number };
      return row.shipped === 3 ? row : undefined;
    });
    expect(apple).toMatchObject({ onHand: 7, reserved: 0, available: 7, shipped: 3 });
  });

  it("ships an order whose id and SKU are as long as their grammar allows", async () => {
    // The saga's task keys then derive idempotency keys past the 255 characters an entity accepts.
    const orderId = "ship-".padEnd(128, "o");
    const sku = "sku-".padEnd(100, "s");
    const { api } = await stocked({ [sku]: 2 });
    const created = await api.command("orders", orderId, "create", {
      customerId: "c-1",
      items: [{ sku, quantity: 1, unitPrice: 5 }],
    });
    expect(created.status).toBe(200);

    expect(await orderEnds(api, orderId)).toBe("shipped");
    expect((await readEntity(api, "inventory", sku)).state).toMatchObject({ onHand: 1, reserved: 0, shipped: 1 });
  });

  it("compensates the saga of a cancelled order whose id and SKU are as long as their grammar allows", async () => {
    const orderId = "cancel-".padEnd(128, "o");
    const sku = "sku-".padEnd(100, "s");
    const { tenant, api } = await stocked({ [sku]: 2 });
    await setGateway(tenant.id, { latencyMs: 1_500 });
    await api.command("orders", orderId, "create", {
      customerId: "c-1",
      items: [{ sku, quantity: 1, unitPrice: 5 }],
    });
    const id = sagaId(tenant.id, orderId);
    // Reserved, and the charge in flight: the cancellation turns the saga round, releasing the stock.
    await eventually(async () => {
      const res = await adminCall(`/admin/sagas/${id}`);
      return res.status === 200 && ((await res.json()) as { stage: string | null }).stage === "charge"
        ? true
        : undefined;
    });
    expect((await api.command("orders", orderId, "cancel", { reason: "changed my mind" })).status).toBe(200);

    const saga = await eventually(async () => {
      const view = (await (await adminCall(`/admin/sagas/${id}`)).json()) as { status: string; error: string | null };
      return view.status === "compensated" || view.status === "attention" ? view : undefined;
    });
    expect(saga).toMatchObject({ status: "compensated", error: null });
    expect((await readEntity(api, "inventory", sku)).state).toMatchObject({ onHand: 2, reserved: 0, available: 2 });
  });

  it("cancels an order whose reservation is rejected and releases what was reserved", async () => {
    const { api } = await stocked({ apple: 10, pear: 1 });
    await api.command("orders", "o-2", "create", {
      customerId: "c-1",
      items: [
        { sku: "apple", quantity: 4, unitPrice: 1 },
        { sku: "pear", quantity: 2, unitPrice: 1 },
      ],
    });
    expect(await orderEnds(api, "o-2")).toBe("cancelled");
    const { state } = await readEntity(api, "orders", "o-2");
    expect(String(state["reason"])).toContain("insufficient-stock");
    expect((await readEntity(api, "inventory", "apple")).state).toMatchObject({
      onHand: 10,
      reserved: 0,
      available: 10,
      shipped: 0,
    });
    expect((await readEntity(api, "inventory", "pear")).state).toMatchObject({ onHand: 1, reserved: 0, available: 1 });
  });

  it("refunds a charge the settle route made before its order existed when the order is cancelled at once", async () => {
    const { tenant, api } = await stocked({ lamp: 5 });
    await submitPayment(api, "o-early", "o-early", 5);
    await settleThroughRoute(tenant, "o-early");
    await api.command("orders", "o-early", "create", {
      customerId: "c-1",
      items: [{ sku: "lamp", quantity: 1, unitPrice: 5 }],
    });
    expect((await api.command("orders", "o-early", "cancel", {})).status).toBe(200);

    await paymentEnds(api, "o-early", "refunded");
    expect(await gatewayLedger(tenant.id)).toMatchObject([
      { key: paymentChargeKey("o-early"), status: "approved", refunded: true },
    ]);
    expect((await readEntity(api, "inventory", "lamp")).state).toMatchObject({ onHand: 5, reserved: 0, available: 5 });
  });

  it("refunds a charge the settle route made before its order existed when a reservation is refused", async () => {
    const { tenant, api } = await stocked({});
    await submitPayment(api, "o-none", "o-none", 5);
    await settleThroughRoute(tenant, "o-none");
    await api.command("orders", "o-none", "create", {
      customerId: "c-1",
      items: [{ sku: "lamp", quantity: 1, unitPrice: 5 }],
    });

    expect(await orderEnds(api, "o-none")).toBe("cancelled");
    await paymentEnds(api, "o-none", "refunded");
    expect(await gatewayLedger(tenant.id)).toMatchObject([
      { key: paymentChargeKey("o-none"), status: "approved", refunded: true },
    ]);
  });

  it("takes the gateway's refusal of a key already used for another charge as a decline, not a failure to retry", async () => {
    const { tenant } = await stocked({});
    const gateway = paymentGateway(env, tenant.id, 1);
    const first = await gateway.charge("k-reused", { reference: "o-1", amount: 5, currency: "EUR" });
    expect(first.ok && first.value.status).toBe("approved");
    const other = await gateway.charge("k-reused", { reference: "o-1", amount: 5, currency: "JPY" });
    expect(other).toMatchObject({ ok: true, value: { status: "declined", reason: expect.stringContaining("reused") } });
  });

  it("cancels an order whose payment is declined, releasing its stock and charging nothing", async () => {
    const { tenant, api } = await stocked({ tv: 3 });
    await setGateway(tenant.id, { declineAbove: 500 });
    await api.command("orders", "o-3", "create", {
      customerId: "c-1",
      items: [{ sku: "tv", quantity: 1, unitPrice: 900 }],
    });

    expect(await orderEnds(api, "o-3")).toBe("cancelled");
    expect((await readEntity(api, "payments", "o-3")).state).toMatchObject({ status: "declined" });
    expect((await readEntity(api, "inventory", "tv")).state).toMatchObject({ onHand: 3, reserved: 0, available: 3 });
    const ledger = await gatewayLedger(tenant.id);
    expect(ledger.filter((e) => e.status === "approved" && !e.refunded)).toEqual([]);
  });

  it("charges an order once when its payment is settled through the route while the saga charges it", async () => {
    const { tenant, api } = await stocked({ lamp: 5 });
    await setGateway(tenant.id, { latencyMs: 1_500 });
    await api.command("orders", "o-4", "create", {
      customerId: "c-1",
      items: [{ sku: "lamp", quantity: 1, unitPrice: 40 }],
    });
    await eventually(async () => {
      const res = await api.get("/v1/entities/payments/o-4");
      return res.status === 200 && ((await res.json()) as { state: { status: string } }).state.status === "submitted"
        ? true
        : undefined;
    });

    const settled = await call("/v1/payments/o-4/settle", {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    expect(settled.status).toBe(200);
    // Whoever recorded it, the answer carries the payment's outcome.
    expect(await settled.json()).toMatchObject({
      payment: { status: "approved", gatewayRef: expect.stringMatching(/^gw_/) },
    });

    expect(await orderEnds(api, "o-4")).toBe("shipped");
    const charges = (await gatewayLedger(tenant.id)).filter((e) => e.reference === "o-4");
    expect(charges).toMatchObject([{ key: "payments/o-4/charge", status: "approved", refunded: false }]);
    expect((await readEntity(api, "payments", "o-4")).state).toMatchObject({
      status: "approved",
      chargeKey: "payments/o-4/charge",
    });
  });

  it("refuses to cancel an order once it is confirmed, and ships it", async () => {
    const { tenant, api } = await stocked({ desk: 2 });
    await api.command("orders", "o-5", "create", {
      customerId: "c-1",
      items: [{ sku: "desk", quantity: 1, unitPrice: 120 }],
    });
    await orderEnds(api, "o-5", ["confirmed", "shipped"]);

    const cancel = await api.command("orders", "o-5", "cancel", { reason: "changed my mind" });
    expect(cancel.status).toBe(422);
    expect(((await cancel.json()) as { code: string }).code).toBe("fulfilment-begun");

    expect(await orderEnds(api, "o-5")).toBe("shipped");
    expect((await readEntity(api, "inventory", "desk")).state).toMatchObject({ onHand: 1, reserved: 0, shipped: 1 });
    expect((await readEntity(api, "payments", "o-5")).state).toMatchObject({ status: "approved" });
    expect((await gatewayLedger(tenant.id)).filter((e) => e.refunded)).toEqual([]);
  });

  it("escalates a shipping step that keeps failing after confirmation to attention, and never refunds", async () => {
    const { tenant, api } = await stocked({ sofa: 3 });
    await setGateway(tenant.id, { latencyMs: 1_000 });
    await api.command("orders", "o-6", "create", {
      customerId: "c-1",
      items: [{ sku: "sofa", quantity: 1, unitPrice: 700 }],
    });
    // While the charge is in flight, the reservation disappears: shipping it will be refused.
    await eventually(async () =>
      ((await readEntity(api, "inventory", "sofa")).state["reserved"] as number) === 1 ? true : undefined,
    );
    // (An operator's mistake: releasing is the saga's own command, sent here over RPC.)
    expect((await internalCommand(tenant.id, "inventory", "sofa", "release", { orderId: "o-6" })).ok).toBe(true);

    const id = sagaId(tenant.id, "o-6");
    const stuck = await eventually(async () => {
      const res = await adminCall(`/admin/sagas?status=attention&tenant=${tenant.id}`);
      return ((await res.json()) as { items: { id: string; error: string | null }[] }).items.find((s) => s.id === id);
    }, 20_000);
    expect(stuck.error).toContain("ship:sofa");

    const saga = (await (await adminCall(`/admin/sagas/${id}`)).json()) as { log: { type: string }[] };
    expect(saga.log.map((e) => e.type)).not.toContain("CompensationBegan");
    expect((await readEntity(api, "orders", "o-6")).state).toMatchObject({ status: "confirmed" });
    expect((await readEntity(api, "payments", "o-6")).state).toMatchObject({ status: "approved" });
    expect((await gatewayLedger(tenant.id)).filter((e) => e.reference === "o-6")).toMatchObject([
      { status: "approved", refunded: false },
    ]);
    // Nor can an operator turn it round: it can only be retried forward.
    const forced = await adminCall(`/admin/sagas/${id}/compensate`, { method: "POST" });
    expect(forced.status).toBe(409);
    expect(await forced.json()).toMatchObject({
      code: "past-pivot",
      detail: expect.stringContaining("point of no return"),
    });
  });

  it("records a payment as refunded, not declined, when the compensation refunds a charge the saga never recorded", async () => {
    // The race of a cancel while the charge is in flight: the gateway approved the charge under the
    // payment's key, but the saga turned round before it recorded the approval. Its compensations
    // then run in order: the charge's refund at the gateway, then the payment's own refund.
    const { tenant, api } = await stocked({});
    await submitPayment(api, "p-race", "o-race", 7);
    const chargeKey = paymentChargeKey("p-race");
    const charged = await paymentGateway(env, tenant.id, 1).charge(chargeKey, {
      reference: "o-race",
      amount: 7,
      currency: "EUR",
    });
    expect(charged.ok && charged.value.status).toBe("approved");

    const refund = await compensatePayment(tenant, "p-race", "saga-race/charge/undo");
    expect(refund.kind).toBe("done");

    const { state } = await readEntity(api, "payments", "p-race");
    expect(state).toMatchObject({
      status: "refunded",
      gatewayRef: charged.ok && charged.value.status === "approved" ? charged.value.gatewayRef : null,
    });
    const log = (await (await api.get("/v1/entities/payments/p-race/events")).json()) as { events: { type: string }[] };
    expect(log.events.map((e) => e.type)).toEqual(["PaymentSubmitted", "PaymentApproved", "PaymentRefunded"]);
    expect(await gatewayLedger(tenant.id)).toMatchObject([{ key: chargeKey, status: "approved", refunded: true }]);
  });

  it("refunds at the gateway a charge the settle route made when the saga compensates the payment", async () => {
    const { tenant, api } = await stocked({});
    await submitPayment(api, "p-route", "o-route", 9);
    await settleThroughRoute(tenant, "p-route");

    // The payment's compensation (a saga that turned round before it reached its own charge).
    const undo = await compensatePayment(tenant, "p-route", "saga-route/submit-payment/undo");
    expect(undo.kind).toBe("done");
    expect((await readEntity(api, "payments", "p-route")).state).toMatchObject({ status: "refunded" });
    expect(await gatewayLedger(tenant.id)).toMatchObject([
      { key: paymentChargeKey("p-route"), status: "approved", refunded: true },
    ]);
  });

  it("records a refund on the payment when the compensation's own key is already 255 characters", async () => {
    const { tenant, api } = await stocked({});
    await submitPayment(api, "p-long", "o-long", 9);
    const undo = await compensatePayment(tenant, "p-long", "u".repeat(255));
    expect(undo.kind).toBe("done");
    expect((await readEntity(api, "payments", "p-long")).state).toMatchObject({ status: "declined" });
  });

  it("declines a payment and voids its key when the compensation finds no charge, so a late charge is refused", async () => {
    const { tenant, api } = await stocked({});
    await submitPayment(api, "p-void", "o-void", 9);
    const undo = await compensatePayment(tenant, "p-void", "saga-void/submit-payment/undo");
    expect(undo.kind).toBe("done");
    expect((await readEntity(api, "payments", "p-void")).state).toMatchObject({ status: "declined" });
    const late = await paymentGateway(env, tenant.id, 1).charge(paymentChargeKey("p-void"), {
      reference: "o-void",
      amount: 9,
      currency: "EUR",
    });
    expect(late.ok && late.value.status).toBe("declined");
  });
});
