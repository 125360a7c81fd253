// The order entity as a specification of its status transitions.
import { describe, expect, it } from "vitest";
import { orders, type OrderEvent } from "../../src/domain/orders.js";
import { checkAdversarialIds, scenario } from "../../src/testing/given-when-then.js";

const items = [
  { sku: "a", quantity: 2, unitPrice: 1.5 },
  { sku: "b", quantity: 1, unitPrice: 10 },
];
const created: OrderEvent = { type: "OrderCreated", data: { customerId: "c1", items, total: 13 } };

describe("orders", () => {
  it("creates a pending order with its total", () => {
    scenario(orders)
      .given()
      .when("create", { customerId: "c1", items })
      .expectEvents([created])
      .expectState({ status: "pending", total: 13 });
  });

  it("totals prices with cents exactly", () => {
    const lines = [
      { sku: "a", quantity: 3, unitPrice: 0.1 },
      { sku: "b", quantity: 1, unitPrice: 0.2 },
    ];
    scenario(orders).given().when("create", { customerId: "c1", items: lines }).expectState({ total: 0.5 });
  });

  it("refuses to create an order that can never be paid: a total of 0, above what a payment accepts, or a price finer than a cent", () => {
    const refused = (lines: unknown) => orders.parseCommand("create", { customerId: "c1", items: lines });
    expect(refused([{ sku: "a", quantity: 3, unitPrice: 1e9 }])).toMatchObject({
      ok: false,
      errors: [{ path: "items" }],
    });
    expect(refused([{ sku: "a", quantity: 1_000_000, unitPrice: 1e9 }])).toMatchObject({
      ok: false,
      errors: [{ path: "items" }],
    });
    expect(refused([{ sku: "a", quantity: 1, unitPrice: 0 }])).toMatchObject({
      ok: false,
      errors: [{ path: "items" }],
    });
    expect(refused([{ sku: "a", quantity: 1, unitPrice: 0.004 }])).toMatchObject({
      ok: false,
      errors: expect.arrayContaining([expect.objectContaining({ path: "items.0.unitPrice" })]),
    });
    expect(refused([{ sku: "a", quantity: 1, unitPrice: 1e9 }])).toMatchObject({ ok: true });
  });

  it("refuses a cancel, confirm or ship of an order that was never created as order-not-found", () => {
    scenario(orders).given().when("cancel", { reason: "x" }).expectRejection("order-not-found");
    scenario(orders).given().when("confirm", { paymentId: null }).expectRejection("order-not-found");
    scenario(orders).given().when("ship", {}).expectRejection("order-not-found");
  });

  it("refuses to create the same order twice", () => {
    scenario(orders).given(created).when("create", { customerId: "c1", items }).expectRejection("order-exists");
  });

  it("confirms a pending order and ships a confirmed one", () => {
    scenario(orders)
      .given(created)
      .when("confirm", { paymentId: "p1" })
      .expectEvents([{ type: "OrderConfirmed", data: { paymentId: "p1" } }]);
    scenario(orders)
      .given(created, { type: "OrderConfirmed", data: { paymentId: "p1" } })
      .when("ship", {})
      .expectEvents([{ type: "OrderShipped", data: {} }])
      .expectState({ status: "shipped" });
  });

  it("refuses to ship an order that is not confirmed", () => {
    scenario(orders).given(created).when("ship", {}).expectRejection("invalid-transition");
  });

  it("cancels a pending order, and a second cancel is a no-op", () => {
    scenario(orders)
      .given(created)
      .when("cancel", { reason: "payment declined" })
      .expectEvents([{ type: "OrderCancelled", data: { reason: "payment declined" } }]);
    scenario(orders)
      .given(created, { type: "OrderCancelled", data: { reason: "x" } })
      .when("cancel", {})
      .expectEvents([]);
  });

  it("refuses to cancel an order once it is confirmed: fulfilment has begun", () => {
    scenario(orders)
      .given(created, { type: "OrderConfirmed", data: { paymentId: null } })
      .when("cancel", {})
      .expectRejection("fulfilment-begun");
  });

  it("refuses to cancel a shipped order", () => {
    scenario(orders)
      .given(created, { type: "OrderConfirmed", data: { paymentId: null } }, { type: "OrderShipped", data: {} })
      .when("cancel", {})
      .expectRejection("fulfilment-begun");
  });

  it("refuses a late confirm once the order was cancelled", () => {
    scenario(orders)
      .given(created, { type: "OrderCancelled", data: { reason: "x" } })
      .when("confirm", { paymentId: "p1" })
      .expectRejection("invalid-transition");
  });

  it("treats ids named like Object.prototype members (__proto__, constructor, toString…) as plain ids", () => {
    checkAdversarialIds(orders, {
      commands: [
        { command: "confirm", body: { paymentId: "p1" } },
        { command: "create", body: { customerId: "c1", items: [{ sku: "a", quantity: 2, unitPrice: 1.5 }] } },
        { command: "confirm", body: { paymentId: "p1" } },
        { command: "cancel", body: { reason: "r" } },
        { command: "ship", body: {} },
      ],
      invariants: {
        "the total is the sum of the lines": (s) =>
          s.total === s.items.reduce((sum, i) => sum + i.quantity * i.unitPrice, 0),
      },
    });
  });
});
