// An order: created pending, confirmed once stock and payment are secured, then shipped; or
// cancelled while pending (a confirmed order is being fulfilled and refuses a cancel). The
// order-fulfillment saga drives the transitions after `create`.
import { z } from "zod";
import { defineEntity, event, reject, type EventsOf } from "../core/model/entity.js";
import { entityIdSchema } from "../core/protocol/identifiers.js";
import { MAX_PAYMENT_AMOUNT } from "./payments.js";

export type OrderStatus = "pending" | "confirmed" | "shipped" | "cancelled";

const line = z
  .object({
    sku: entityIdSchema,
    quantity: z.number().int().positive().max(1_000_000),
    // In the currency's major unit with at most two decimals (cents): a price the payment can
    // carry exactly, so the order's total is what is charged.
    unitPrice: z
      .number()
      .nonnegative()
      .max(MAX_PAYMENT_AMOUNT)
      .refine((price) => Math.abs(price * 100 - Math.round(price * 100)) < 1e-6, "at most two decimals (whole cents)"),
  })
  .strict();

/**
 * An order's total in cents: the sum of quantity × unit price, computed in whole cents so that it
 * is exact (unit prices carry at most two decimals; quantities and lines are bounded, so the sum
 * stays far below 2^53).
 */
function totalCents(items: readonly { quantity: number; unitPrice: number }[]): number {
  return items.reduce((sum, i) => sum + i.quantity * Math.round(i.unitPrice * 100), 0);
}

export interface OrderLine {
  readonly sku: string;
  readonly quantity: number;
  readonly unitPrice: number;
}

export interface OrderState {
  readonly status: OrderStatus | "none";
  readonly customerId: string | null;
  readonly items: readonly OrderLine[];
  readonly total: number;
  readonly reason: string | null;
}

export const orders = defineEntity({
  type: "orders",
  initialState: { status: "none", customerId: null, items: [], total: 0, reason: null } as OrderState,
  commands: {
    create: z
      .object({
        customerId: entityIdSchema,
        items: z
          .array(line)
          .min(1)
          .max(50)
          .refine((items) => new Set(items.map((i) => i.sku)).size === items.length, "each SKU at most once")
          // An order that cannot be paid is refused here, not cancelled by its saga after it
          // reserved stock: the total must be one its payment accepts (more than 0, at most
          // MAX_PAYMENT_AMOUNT), and an order for nothing would ship without any payment.
          .refine((items) => totalCents(items) > 0, "the order's total must be more than 0")
          .refine(
            (items) => totalCents(items) <= MAX_PAYMENT_AMOUNT * 100,
            `the order's total must be at most ${MAX_PAYMENT_AMOUNT}, the most a payment accepts`,
          ),
      })
      .strict(),
    confirm: z.object({ paymentId: entityIdSchema.nullable().default(null) }).strict(),
    ship: z.object({}).strict(),
    cancel: z.object({ reason: z.string().min(1).max(500).default("cancelled by request") }).strict(),
  },
  // Confirming and shipping are the fulfilment saga's steps, not a tenant's.
  internal: ["confirm", "ship"],
  events: {
    OrderCreated: event<{ customerId: string; items: OrderLine[]; total: number }>(),
    OrderConfirmed: event<{ paymentId: string | null }>(),
    OrderShipped: event<Record<string, never>>(),
    OrderCancelled: event<{ reason: string }>(),
  },
  decide(state, command) {
    // The rule for every reference entity: a command that needs the entity, sent before it was
    // created, is refused as `<entity>-not-found`, not described as a transition from "none".
    if (state.status === "none" && command.type !== "create") {
      return reject("order-not-found", `there is no such order: create it before you ${command.type} it`);
    }
    switch (command.type) {
      case "create": {
        if (state.status !== "none") return reject("order-exists", "this order has already been created");
        return [{ type: "OrderCreated", data: { ...command.data, total: totalCents(command.data.items) / 100 } }];
      }
      case "confirm":
        if (state.status === "confirmed") return [];
        if (state.status !== "pending") return reject("invalid-transition", `cannot confirm a ${state.status} order`);
        return [{ type: "OrderConfirmed", data: command.data }];
      case "ship":
        if (state.status === "shipped") return [];
        if (state.status !== "confirmed") return reject("invalid-transition", `cannot ship a ${state.status} order`);
        return [{ type: "OrderShipped", data: {} }];
      case "cancel":
        if (state.status === "cancelled") return [];
        // Confirmation is the fulfilment saga's point of no return (its pivot): from then on the
        // order ships. This single writer decides between a cancel and the saga's confirm, so
        // exactly one of them wins.
        if (state.status === "confirmed" || state.status === "shipped") {
          return reject(
            "fulfilment-begun",
            `the order is ${state.status}; fulfilment has begun and it can no longer be cancelled`,
          );
        }
        if (state.status !== "pending") return reject("invalid-transition", `cannot cancel a ${state.status} order`);
        return [{ type: "OrderCancelled", data: command.data }];
    }
  },
  evolve(state, event): OrderState {
    switch (event.type) {
      case "OrderCreated":
        return { ...state, status: "pending", ...event.data };
      case "OrderConfirmed":
        return { ...state, status: "confirmed" };
      case "OrderShipped":
        return { ...state, status: "shipped" };
      case "OrderCancelled":
        return { ...state, status: "cancelled", reason: event.data.reason };
    }
  },
});

export type OrderEvent = EventsOf<typeof orders.definition.events>;
