// The order-fulfillment saga: OrderCreated → reserve every line (in parallel) → submit the
// payment → claim its settlement → charge it at the payment gateway under the payment's own key →
// record the approval → confirm the order (the pivot) → ship every line → ship the order. Before
// the pivot, a rejected reservation, a declined charge, a step that keeps failing, a stage that
// times out or a cancel compensates: the charge is refunded (or voided), the payment refunded or
// declined, every reservation released, and the order cancelled. Confirming the order is the point
// of no return: the order then refuses a cancel, and a shipping step that keeps failing escalates
// to an operator instead of refunding an order whose stock may already have left. So every order
// ends shipped or cancelled, and stock is only ever moved from available to reserved to shipped.
import { z } from "zod";
import { defineSaga, type TypedSagaTask } from "../core/model/saga.js";
import { serviceCall } from "../core/model/service-contract.js";
import { inventory } from "./inventory.js";
import { orders } from "./orders.js";
import { paymentGateway } from "./payment-gateway.js";
import { paymentChargeKey, payments } from "./payments.js";

/** What the saga commands and follows: every name below is checked against these definitions. */
type Entities = typeof orders | typeof inventory | typeof payments;
/** The outside service it calls (its contract): the app must provide it (`defineApp({ services })`). */
type Services = typeof paymentGateway.name;
type Task = TypedSagaTask<Entities, Services>;

export interface FulfillmentContext {
  readonly sagaId: string;
  readonly orderId: string;
  readonly items: readonly { readonly sku: string; readonly quantity: number }[];
  readonly total: number;
  readonly currency: string;
}

/** The payment of an order shares the order's id, so its facts find their saga. */
export const paymentIdFor = (orderId: string): string => orderId;

const chargeResult = z.object({ gatewayRef: z.string() });

export const orderFulfillment = defineSaga(
  orders,
  inventory,
  payments,
)({
  name: "order-fulfillment",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  services: [paymentGateway.name],
  // An order's and its payment's facts carry the order's id as theirs; a stock movement names its
  // order in its data, and a restock concerns no order.
  instanceOf(fact) {
    switch (fact.type) {
      case "Reserved":
      case "Released":
      case "Shipped":
        return fact.data.orderId;
      default:
        return fact.meta.entityType === "inventory" ? null : fact.meta.entityId;
    }
  },
  start(fact, sagaId): FulfillmentContext {
    const order = fact.data;
    return {
      sagaId,
      orderId: fact.meta.entityId,
      items: order.items.map(({ sku, quantity }) => ({ sku, quantity })),
      total: order.total,
      currency: "EUR",
    };
  },
  stages: [
    {
      name: "reserve",
      timeoutMs: 30_000,
      tasks: (o) =>
        o.items.map((line) => ({
          key: `reserve:${line.sku}`,
          run: {
            kind: "command",
            entityType: "inventory",
            entityId: line.sku,
            command: "reserve",
            data: { orderId: o.orderId, quantity: line.quantity },
          },
          compensate: {
            kind: "command",
            entityType: "inventory",
            entityId: line.sku,
            command: "release",
            data: { orderId: o.orderId },
          },
        })),
    },
    {
      name: "submit-payment",
      timeoutMs: 30_000,
      tasks: (o) => (o.total <= 0 ? [] : [submitPayment(o)]),
    },
    {
      // Claimed through the payment's single writer, which fixes the one key it is charged under.
      name: "claim-payment",
      timeoutMs: 30_000,
      tasks: (o) => (o.total <= 0 ? [] : [claimPayment(o)]),
    },
    {
      name: "charge",
      timeoutMs: 60_000,
      tasks: (o) => (o.total <= 0 ? [] : [charge(o)]),
    },
    {
      name: "settle-payment",
      timeoutMs: 30_000,
      tasks: (o, results) => {
        const charged = chargeResult.safeParse(results["charge"]);
        if (!charged.success) return [];
        const id = paymentIdFor(o.orderId);
        return [
          {
            key: "approve-payment",
            run: {
              kind: "command",
              entityType: "payments",
              entityId: id,
              command: "approve",
              data: { gatewayRef: charged.data.gatewayRef },
            },
          },
        ];
      },
    },
    {
      name: "confirm",
      timeoutMs: 30_000,
      // The order's single writer decides between this confirm and a cancel: once confirmed, the
      // order refuses cancels and the saga only goes forward.
      pivot: true,
      tasks: (o) => [
        {
          key: "confirm-order",
          run: {
            kind: "command",
            entityType: "orders",
            entityId: o.orderId,
            command: "confirm",
            data: { paymentId: o.total <= 0 ? null : paymentIdFor(o.orderId) },
          },
        },
      ],
    },
    {
      name: "ship-lines",
      timeoutMs: 30_000,
      tasks: (o) =>
        o.items.map((line) => ({
          key: `ship:${line.sku}`,
          run: {
            kind: "command",
            entityType: "inventory",
            entityId: line.sku,
            command: "ship",
            data: { orderId: o.orderId },
          },
        })),
    },
    {
      name: "ship-order",
      timeoutMs: 30_000,
      tasks: (o) => [
        {
          key: "ship-order",
          run: { kind: "command", entityType: "orders", entityId: o.orderId, command: "ship", data: {} },
        },
      ],
    },
  ],
  abortOn: {
    orders: { OrderCancelled: (fact, o) => (fact.meta.entityId === o.orderId ? "the order was cancelled" : null) },
  },
  finallyCompensate: (o, reason) => [
    // Whatever stage the saga turned round in: a charge the settle route made before the saga
    // reached its own payment stages (or with none of them done) is refunded too, and a payment
    // never charged is closed, so no cancelled order keeps a charge.
    ...(o.total <= 0 ? [] : [{ key: "refund-payment", run: refund(o) }]),
    {
      key: "cancel-order",
      run: {
        kind: "command",
        entityType: "orders",
        entityId: o.orderId,
        command: "cancel",
        data: { reason: reason.slice(0, 500) },
      },
    },
  ],
});

function submitPayment(o: FulfillmentContext): Task {
  const id = paymentIdFor(o.orderId);
  return {
    key: "submit-payment",
    run: {
      kind: "command",
      entityType: "payments",
      entityId: id,
      command: "submit",
      data: { orderId: o.orderId, amount: o.total, currency: o.currency },
    },
    // No compensation of its own: every compensated order ends with the payment's refund
    // (finallyCompensate), which also closes a payment submitted here.
  };
}

/**
 * Refunds the order's payment key at the gateway and records the answer on the payment: approved
 * then refunded when a charge was found — whoever made it, the saga or the settle route, even one
 * this saga never saw —, else declined; one never submitted is closed so that a late submission is
 * refused. The same call (the gateway's refund is idempotent per key) undoes the payment's
 * submission, the charge, and closes every compensated order.
 */
function refund(o: FulfillmentContext) {
  const id = paymentIdFor(o.orderId);
  return serviceCall(paymentGateway, "refund", {
    chargeKey: paymentChargeKey(id),
    paymentId: id,
    reason: "the order was not fulfilled",
  });
}

function claimPayment(o: FulfillmentContext): Task {
  const id = paymentIdFor(o.orderId);
  return {
    key: "claim-payment",
    run: {
      kind: "command",
      entityType: "payments",
      entityId: id,
      command: "settle",
      data: { chargeKey: paymentChargeKey(id) },
    },
  };
}

function charge(o: FulfillmentContext): Task {
  const chargeKey = paymentChargeKey(paymentIdFor(o.orderId));
  return {
    key: "charge",
    // Under the payment's key, the one the settle route uses too: the gateway charges once.
    run: serviceCall(
      paymentGateway,
      "charge",
      { reference: o.orderId, amount: o.total, currency: o.currency },
      { idempotencyKey: chargeKey },
    ),
    // Voids the key so a late charge is refused; a charge found is recorded on the payment
    // (approved, then refunded), since the saga may have turned round before it recorded the approval.
    compensate: refund(o),
  };
}
