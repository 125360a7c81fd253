// Inventory of one SKU: stock on hand, reserved for orders, and shipped. Never oversells;
// reserving twice for the same order is a no-op so that retried saga steps are harmless.
import { z } from "zod";
import { defineEntity, reject, type DomainEvent } from "../core/entity.js";
import { entityIdSchema } from "../core/identifiers.js";

const quantity = z.number().int().positive().max(1_000_000_000);
// An order id names an entity (and a saga instance): the one id grammar.
const orderId = entityIdSchema;

export interface InventoryState {
  readonly onHand: number;
  readonly reserved: number;
  readonly available: number;
  readonly shipped: number;
  /** Quantity reserved per order id. */
  readonly reservations: Readonly<Record<string, number>>;
}

export type InventoryEvent =
  | DomainEvent<"Restocked", { quantity: number; source: string }>
  | DomainEvent<"Reserved", { orderId: string; quantity: number }>
  | DomainEvent<"Released", { orderId: string; quantity: number }>
  | DomainEvent<"Shipped", { orderId: string; quantity: number }>;

export const inventory = defineEntity({
  type: "inventory",
  initialState: { onHand: 0, reserved: 0, available: 0, shipped: 0, reservations: {} } as InventoryState,
  commands: {
    restock: z.object({ quantity, source: z.string().min(1).max(64).default("manual") }).strict(),
    reserve: z.object({ orderId, quantity }).strict(),
    release: z.object({ orderId }).strict(),
    ship: z.object({ orderId }).strict(),
  },
  events: {
    // v1 carried only the quantity; v2 records where the stock came from.
    Restocked: { version: 2, upcast: { 1: (data) => ({ source: "unspecified", ...(data as object) }) } },
    Reserved: {},
    Released: {},
    Shipped: {},
  },
  decide(state, command): InventoryEvent[] | ReturnType<typeof reject> {
    switch (command.type) {
      case "restock":
        return [{ type: "Restocked", data: command.data }];
      case "reserve": {
        const { orderId, quantity } = command.data;
        if (state.reservations[orderId] !== undefined) return [];
        if (quantity > state.available) {
          return reject("insufficient-stock", `only ${state.available} available, ${quantity} requested`);
        }
        return [{ type: "Reserved", data: { orderId, quantity } }];
      }
      case "release": {
        const held = state.reservations[command.data.orderId];
        return held === undefined ? [] : [{ type: "Released", data: { orderId: command.data.orderId, quantity: held } }];
      }
      case "ship": {
        const held = state.reservations[command.data.orderId];
        if (held === undefined) return reject("no-reservation", `nothing is reserved for order ${command.data.orderId}`);
        return [{ type: "Shipped", data: { orderId: command.data.orderId, quantity: held } }];
      }
    }
  },
  evolve(state, event): InventoryState {
    switch (event.type) {
      case "Restocked":
        return { ...state, onHand: state.onHand + event.data.quantity, available: state.available + event.data.quantity };
      case "Reserved":
        return {
          ...state,
          reserved: state.reserved + event.data.quantity,
          available: state.available - event.data.quantity,
          reservations: { ...state.reservations, [event.data.orderId]: event.data.quantity },
        };
      case "Released":
        return {
          ...state,
          reserved: state.reserved - event.data.quantity,
          available: state.available + event.data.quantity,
          reservations: without(state.reservations, event.data.orderId),
        };
      case "Shipped":
        return {
          ...state,
          onHand: state.onHand - event.data.quantity,
          reserved: state.reserved - event.data.quantity,
          shipped: state.shipped + event.data.quantity,
          reservations: without(state.reservations, event.data.orderId),
        };
    }
  },
});

function without(record: Readonly<Record<string, number>>, key: string): Record<string, number> {
  const { [key]: _dropped, ...rest } = record;
  return rest;
}
