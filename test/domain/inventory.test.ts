// The inventory entity as a specification: given past facts, when a command, then new facts.
import { describe, it } from "vitest";
import { inventory, type InventoryEvent } from "../../src/domain/inventory.js";
import { checkAdversarialIds, scenario } from "../../src/testing/given-when-then.js";

const restocked = (quantity: number): InventoryEvent => ({ type: "Restocked", data: { quantity, source: "manual" } });
const reserved = (orderId: string, quantity: number): InventoryEvent => ({
  type: "Reserved",
  data: { orderId, quantity },
});

describe("inventory", () => {
  it("records a restock, with 'manual' as the default source", () => {
    // A new entity: `when` needs no `given()` first.
    scenario(inventory)
      .when("restock", { quantity: 5 })
      .expectEvents([restocked(5)])
      .expectState({ onHand: 5, available: 5 });
  });

  it("reserves what is available", () => {
    scenario(inventory)
      .given(restocked(5))
      .when("reserve", { orderId: "o1", quantity: 3 })
      .expectEvents([reserved("o1", 3)])
      .expectState({ onHand: 5, reserved: 3, available: 2 });
  });

  it("never oversells: a reservation beyond what is available is rejected", () => {
    scenario(inventory)
      .given(restocked(5), reserved("o1", 3))
      .when("reserve", { orderId: "o2", quantity: 3 })
      .expectRejection("insufficient-stock");
  });

  it("treats a second reservation for the same order as a no-op", () => {
    scenario(inventory)
      .given(restocked(5), reserved("o1", 3))
      .when("reserve", { orderId: "o1", quantity: 3 })
      .expectEvents([]);
  });

  it("refuses a second reservation for the same order that asks for another quantity", () => {
    // Else a one-unit order's saga would take 1,000 units someone reserved under its id for its own.
    scenario(inventory)
      .given(restocked(2000), reserved("o1", 1000))
      .when("reserve", { orderId: "o1", quantity: 1 })
      .expectRejection("reservation-exists");
  });

  it("releases exactly what an order had reserved", () => {
    scenario(inventory)
      .given(restocked(5), reserved("o1", 3))
      .when("release", { orderId: "o1" })
      .expectEvents([{ type: "Released", data: { orderId: "o1", quantity: 3 } }])
      .expectState({ reserved: 0, available: 5 });
  });

  it("records a release for an order that holds nothing, so that a late reserve for it is refused", () => {
    const released: InventoryEvent = { type: "Released", data: { orderId: "o9", quantity: 0 } };
    scenario(inventory)
      .given(restocked(5))
      .when("release", { orderId: "o9" })
      .expectEvents([released])
      .expectState({ reserved: 0, available: 5 });
    scenario(inventory)
      .given(restocked(5), released)
      .when("reserve", { orderId: "o9", quantity: 1 })
      .expectRejection("order-released")
      .expectState({ available: 5 });
  });

  it("refuses a reserve for an order whose reservation was released", () => {
    scenario(inventory)
      .given(restocked(5), reserved("o1", 3), { type: "Released", data: { orderId: "o1", quantity: 3 } })
      .when("reserve", { orderId: "o1", quantity: 3 })
      .expectRejection("order-released");
  });

  it("treats a second release, or a release after shipping, as a no-op", () => {
    scenario(inventory)
      .given(restocked(5), { type: "Released", data: { orderId: "o1", quantity: 0 } })
      .when("release", { orderId: "o1" })
      .expectEvents([]);
    scenario(inventory)
      .given(restocked(5), reserved("o1", 2), { type: "Shipped", data: { orderId: "o1", quantity: 2 } })
      .when("release", { orderId: "o1" })
      .expectEvents([]);
  });

  it("treats a late reserve or ship for a shipped order as a no-op", () => {
    const history = [
      restocked(5),
      reserved("o1", 2),
      { type: "Shipped", data: { orderId: "o1", quantity: 2 } } as InventoryEvent,
    ];
    scenario(inventory)
      .given(...history)
      .when("reserve", { orderId: "o1", quantity: 2 })
      .expectEvents([])
      .expectState({ available: 3 });
    scenario(inventory)
      .given(...history)
      .when("ship", { orderId: "o1" })
      .expectEvents([])
      .expectState({ onHand: 3 });
  });

  it("ships a reservation out of stock on hand", () => {
    scenario(inventory)
      .given(restocked(5), reserved("o1", 2))
      .when("ship", { orderId: "o1" })
      .expectEvents([{ type: "Shipped", data: { orderId: "o1", quantity: 2 } }])
      .expectState({ onHand: 3, reserved: 0, available: 3, shipped: 2 });
  });

  it("refuses to ship an order that reserved nothing", () => {
    scenario(inventory).given(restocked(5)).when("ship", { orderId: "o1" }).expectRejection("no-reservation");
  });

  it("lifts a v1 Restocked (no source) to v2", () => {
    const lifted = inventory.upcast("Restocked", 1, { quantity: 4 });
    if (JSON.stringify(lifted) !== JSON.stringify({ source: "unspecified", quantity: 4 }))
      throw new Error(JSON.stringify(lifted));
  });

  it("treats ids named like Object.prototype members (__proto__, constructor, toString…) as plain ids", () => {
    checkAdversarialIds(inventory, {
      given: [restocked(5)],
      commands: [
        { command: "ship", body: { orderId: "o1" } },
        { command: "release", body: { orderId: "o2" } },
        { command: "reserve", body: { orderId: "o2", quantity: 1 } },
        { command: "reserve", body: { orderId: "o1", quantity: 2 } },
        { command: "reserve", body: { orderId: "o1", quantity: 2 } },
        { command: "reserve", body: { orderId: "big", quantity: 1_000_000 } },
        { command: "ship", body: { orderId: "o1" } },
        { command: "ship", body: { orderId: "o1" } },
        { command: "restock", body: { quantity: 1, source: "manual" } },
      ],
      invariants: {
        "available = onHand - reserved": (s) => s.available === s.onHand - s.reserved,
        "never oversold": (s) => s.available >= 0 && s.reserved >= 0 && s.onHand >= 0,
        "reserved is the sum of the reservations": (s) =>
          s.reserved === Object.values(s.reservations).reduce((a, b) => a + b, 0),
      },
    });
  });
});
