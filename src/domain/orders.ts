// An order: created pending, confirmed once stock and payment are secured, then shipped; or
// cancelled while pending (a confirmed order is being fulfilled and refuses a cancel). The
// order-fulfillment saga drives the transitions after `create`.
import { z } from "zod";
import { defineEntity, event, reject, type EventsOf } from "../core/model/entity.js";
import { entityIdSchema } from "../core/protocol/identifiers.js";

export type OrderStatus = "pending" | "confirmed" | "shipped" | "cancelled";

const line = z
  .object({
    sku: entityIdSchema,
    quantity: z.number().int().positive().max(1_000_000),
    unitPrice: z.number().nonnegative().max(1_000_000_000),
  })
  .strict();

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
          .refine((items) => new Set(items.map((i) => i.sku)).size === items.length, "each SKU at most once"),
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
    switch (command.type) {
      case "create": {
        if (state.status !== "none") return reject("order-exists", "this order has already been created");
        const total = command.data.items.reduce((sum, i) => sum + i.quantity * i.unitPrice, 0);
        return [{ type: "OrderCreated", data: { ...command.data, total: Math.round(total * 100) / 100 } }];
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
          return reject("fulfilment-begun", `the order is ${state.status}; fulfilment has begun and it can no longer be cancelled`);
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
