// Inventory of one SKU: stock on hand, reserved for orders, and shipped. Never oversells;
// reserving twice for the same order is a no-op so that retried saga steps are harmless, and a
// second reserve for that order with another quantity is refused (a reservation that only looked
// the same would let a one-unit order ship what another caller held for it). Releasing and
// shipping an order's stock is its saga's alone (internal): a tenant that could ship a held
// reservation, or release one, while the order's payment is in flight would ship stock for an
// order that is then cancelled, or leave a paid order nothing to ship. An
// order's reservation ends released or shipped, and that end is kept (a tombstone): a release
// that overtook its reservation (a saga compensating a reserve whose answer it never got) still
// records the release, so the late reserve is refused instead of holding stock for ever.
// Order ids are the client's strings: every lookup by one sees own keys only (src/core/model/own-keys.ts).
import { z } from "zod";
import { defineEntity, event, reject, type EventsOf } from "../core/model/entity.js";
import { ownValue, withEntry, withoutEntry } from "../core/model/own-keys.js";
import { entityIdSchema } from "../core/protocol/identifiers.js";

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
  /** How each order's reservation ended, per order id: kept so a late reserve cannot reopen it. */
  readonly closed: Readonly<Record<string, "released" | "shipped">>;
}

export const inventory = defineEntity({
  type: "inventory",
  initialState: { onHand: 0, reserved: 0, available: 0, shipped: 0, reservations: {}, closed: {} } as InventoryState,
  // v2 added `closed`: older snapshots are refolded from the log.
  stateVersion: 2,
  commands: {
    restock: z.object({ quantity, source: z.string().min(1).max(64).default("manual") }).strict(),
    reserve: z.object({ orderId, quantity }).strict(),
    release: z.object({ orderId }).strict(),
    ship: z.object({ orderId }).strict(),
  },
  internal: ["release", "ship"],
  events: {
    // v1 carried only the quantity; v2 records where the stock came from.
    Restocked: event<{ quantity: number; source: string }>({
      version: 2,
      upcast: { 1: (data) => ({ source: "unspecified", ...(data as object) }) },
    }),
    Reserved: event<{ orderId: string; quantity: number }>(),
    Released: event<{ orderId: string; quantity: number }>(),
    Shipped: event<{ orderId: string; quantity: number }>(),
  },
  decide(state, command) {
    switch (command.type) {
      case "restock":
        return [{ type: "Restocked", data: command.data }];
      case "reserve": {
        const { orderId, quantity } = command.data;
        const ended = ownValue(state.closed, orderId);
        if (ended === "released")
          return reject(
            "order-released",
            `the reservation of order ${orderId} was released; it cannot be reserved again`,
          );
        if (ended === "shipped") return [];
        const held = ownValue(state.reservations, orderId);
        if (held === quantity) return [];
        if (held !== undefined)
          return reject(
            "reservation-exists",
            `order ${orderId} already holds ${held} of this SKU; a reserve for it must ask for the same quantity`,
          );
        if (quantity > state.available) {
          return reject("insufficient-stock", `only ${state.available} available, ${quantity} requested`);
        }
        return [{ type: "Reserved", data: { orderId, quantity } }];
      }
      case "release": {
        const { orderId } = command.data;
        if (ownValue(state.closed, orderId) !== undefined) return [];
        // Nothing held yet still records the release (quantity 0): the tombstone a late reserve meets.
        return [{ type: "Released", data: { orderId, quantity: ownValue(state.reservations, orderId) ?? 0 } }];
      }
      case "ship": {
        const { orderId } = command.data;
        if (ownValue(state.closed, orderId) === "shipped") return [];
        const held = ownValue(state.reservations, orderId);
        if (held === undefined) return reject("no-reservation", `nothing is reserved for order ${orderId}`);
        return [{ type: "Shipped", data: { orderId, quantity: held } }];
      }
    }
  },
  evolve(state, event): InventoryState {
    switch (event.type) {
      case "Restocked":
        return {
          ...state,
          onHand: state.onHand + event.data.quantity,
          available: state.available + event.data.quantity,
        };
      case "Reserved":
        return {
          ...state,
          reserved: state.reserved + event.data.quantity,
          available: state.available - event.data.quantity,
          reservations: withEntry(state.reservations, event.data.orderId, event.data.quantity),
        };
      case "Released":
        return {
          ...state,
          reserved: state.reserved - event.data.quantity,
          available: state.available + event.data.quantity,
          reservations: withoutEntry(state.reservations, event.data.orderId),
          closed: withEntry(state.closed, event.data.orderId, "released"),
        };
      case "Shipped":
        return {
          ...state,
          onHand: state.onHand - event.data.quantity,
          reserved: state.reserved - event.data.quantity,
          shipped: state.shipped + event.data.quantity,
          reservations: withoutEntry(state.reservations, event.data.orderId),
          closed: withEntry(state.closed, event.data.orderId, "shipped"),
        };
    }
  },
});

export type InventoryEvent = EventsOf<typeof inventory.definition.events>;
