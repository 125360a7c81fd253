// The saga kit holds an app's saga to the rules the runtime holds it to, so a saga test that
// passes does not hide a delivery the consumer would refuse.
import { describe, expect, it } from "vitest";
import { defineSaga, type ServiceCallAction } from "../../src/core/model/saga.js";
import { serviceCall } from "../../src/core/model/service-contract.js";
import { inventory } from "../../src/domain/inventory.js";
import { orders } from "../../src/domain/orders.js";
import { paymentGateway } from "../../src/domain/payment-gateway.js";
import { fact } from "../../src/testing/facts.js";
import { sagaScenario } from "../../src/testing/saga-scenario.js";

// A saga whose instance key joins two ids, each valid alone: together they can pass 128 characters.
const perCustomerOrder = defineSaga(
  orders,
  inventory,
)({
  name: "per-customer-order",
  instanceOf: (f) =>
    f.meta.entityType === "orders" && f.type === "OrderCreated" ? `${f.data.customerId}.${f.meta.entityId}` : null,
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: (f) => ({ orderId: f.meta.entityId }),
  stages: [{ name: "reserve", timeoutMs: 1000, tasks: () => [] }],
  finallyCompensate: () => [],
});

const created = (customerId: string, orderId: string) =>
  fact(orders, orderId, "OrderCreated", { customerId, items: [{ sku: "s1", quantity: 1, unitPrice: 1 }], total: 1 });

describe("the saga kit", () => {
  it("delivers a fact to the instance its saga names when the key is an entity id", () => {
    const run = sagaScenario(perCustomerOrder).given(created("c1", "o1"));
    expect(run.state.status).not.toBe("new");
  });

  it("fails a fact whose instance key the consumer would refuse, with the consumer's error", () => {
    const given = () => sagaScenario(perCustomerOrder).given(created("c".repeat(100), "o".repeat(100)));
    expect(given).toThrow(/names instance "c+.*\(201 characters\).*an instance key is 1-128 of/);
  });
});

/** The refund that undoes a charge under `chargeKey`, as the fulfilment saga sends it. */
const refund = (chargeKey: string) => serviceCall(paymentGateway, "refund", { chargeKey });

/**
 * A saga whose one stage charges its order with `charge`, refunded on the way back: a literal
 * call task (operation and data typed only as a string and an object), or `serviceCall`'s.
 */
const chargingWith = (charge: (orderId: string) => ServiceCallAction<"payment-gateway">, undo = refund) =>
  defineSaga(orders)({
    name: "charge-order",
    services: [paymentGateway.name],
    instanceOf: (f) => (f.type === "OrderCreated" ? f.meta.entityId : null),
    startedBy: { entityType: "orders", eventType: "OrderCreated" },
    start: (f) => ({ orderId: f.meta.entityId }),
    stages: [
      {
        name: "charge",
        timeoutMs: 1000,
        tasks: (c) => [{ key: "charge", run: charge(c.orderId), compensate: undo(`charge/${c.orderId}`) }],
      },
    ],
    finallyCompensate: () => [],
  });

const literalCharge =
  (operation: string, data: Readonly<Record<string, unknown>>) =>
  (orderId: string): ServiceCallAction<"payment-gateway"> => ({
    kind: "call",
    service: "payment-gateway",
    operation,
    data: { reference: orderId, ...data },
  });

describe("the saga kit, given its services' contracts", () => {
  const withContracts = { services: [paymentGateway] };

  it("rejects a literal call naming an operation its service's contract lacks, as the runtime does, and turns round", () => {
    const run = sagaScenario(chargingWith(literalCharge("chrge", { amount: 10, currency: "EUR" })), withContracts)
      .given(created("c1", "o1"))
      .expectStatus("compensating")
      .expectCompensations(refund("charge/o1"));
    expect(run.state.reason).toBe(
      "charge was rejected: invalid call payment-gateway.chrge: the payment-gateway contract declares no such operation",
    );
  });

  it("rejects a literal call whose request the operation's schema refuses, naming the field and its issue", () => {
    const run = sagaScenario(chargingWith(literalCharge("charge", { amount: 10, currency: "eur" })), withContracts)
      .given(created("c1", "o1"))
      .expectStatus("compensating");
    expect(run.state.reason).toMatch(/^charge was rejected: invalid call payment-gateway\.charge: currency: /);
  });

  it("rejects a typed call whose request compiles but breaks a refinement of its schema", () => {
    const zero = (orderId: string) =>
      serviceCall(paymentGateway, "charge", { reference: orderId, amount: 0, currency: "EUR" });
    const run = sagaScenario(chargingWith(zero), withContracts).given(created("c1", "o1")).expectStatus("compensating");
    expect(run.state.reason).toMatch(/^charge was rejected: invalid call payment-gateway\.charge: amount: /);
  });

  it("leaves a literal call its contract accepts for the test to answer", () => {
    const charge = literalCharge("charge", { amount: 10, currency: "EUR" });
    sagaScenario(chargingWith(charge), withContracts)
      .given(created("c1", "o1"))
      .expectCommands(charge("o1"))
      .whenDone("charge")
      .expectStatus("completed");
  });

  it("rejects a literal call whose operation is null, as untyped code may build it, instead of failing on it", () => {
    const run = sagaScenario(chargingWith(literalCharge(null as unknown as string, {})), withContracts)
      .given(created("c1", "o1"))
      .expectStatus("compensating");
    expect(run.state.reason).toBe("charge was rejected: invalid call payment-gateway: its operation is not a string");
  });

  it("rejects a call to a service its saga does not declare, as the runtime does, contract or none", () => {
    const ghost = (orderId: string): ServiceCallAction<"payment-gateway"> => ({
      ...literalCharge("charge", { amount: 10, currency: "EUR" })(orderId),
      service: "ghost" as "payment-gateway",
    });
    const run = sagaScenario(chargingWith(ghost)).given(created("c1", "o1")).expectStatus("compensating");
    expect(run.state.reason).toBe("charge was rejected: saga charge-order does not declare service ghost");
  });

  it("stops the saga for attention at once, as the runtime does, when its contract refuses a compensating call, with no attempt spent", () => {
    const emptyKey = () => serviceCall(paymentGateway, "refund", { chargeKey: "" });
    const charge = literalCharge("charge", { amount: 10, currency: "EUR" });
    const run = sagaScenario(chargingWith(charge, emptyKey), withContracts)
      .given(created("c1", "o1"))
      .whenCallRejected("charge", "payment declined")
      .expectStatus("attention");
    expect(run.state.error).toMatch(
      /^compensating charge \(payment-gateway\.refund\) is refused: invalid call payment-gateway\.refund: chargeKey: /,
    );
    expect(run.state.attempts).toEqual({});
    expect(run.due).toEqual([]);
  });

  it("leaves calls to services whose contracts it was not given for the test to answer", () => {
    const charge = literalCharge("chrge", {});
    sagaScenario(chargingWith(charge)).given(created("c1", "o1")).expectCommands(charge("o1"));
  });
});

/**
 * A saga reserving `quantity` of `sku` for its order, released on the way back from `releaseSku`
 * for `releaseOrder` (the saga's order by default).
 */
const reservingAt = (sku: string, releaseSku = sku, quantity = 1, releaseOrder?: string) =>
  defineSaga(
    orders,
    inventory,
  )({
    name: "reserve-one",
    instanceOf: (f) => (f.type === "OrderCreated" ? f.meta.entityId : null),
    startedBy: { entityType: "orders", eventType: "OrderCreated" },
    start: (f) => ({ orderId: f.meta.entityId }),
    stages: [
      {
        name: "reserve",
        timeoutMs: 1000,
        tasks: (c) => [
          {
            key: "reserve",
            run: {
              kind: "command",
              entityType: "inventory",
              entityId: sku,
              command: "reserve",
              data: { orderId: c.orderId, quantity },
            },
            compensate: {
              kind: "command",
              entityType: "inventory",
              entityId: releaseSku,
              command: "release",
              data: { orderId: releaseOrder ?? c.orderId },
            },
          },
        ],
      },
    ],
    finallyCompensate: () => [],
  });

describe("the saga kit and entity ids", () => {
  it("rejects a command to an entity id outside the URL grammar, as the runtime does before sending it", () => {
    const run = sagaScenario(reservingAt("sku/1", "sku-1")).given(created("c1", "o1")).expectStatus("compensating");
    expect(run.state.reason).toBe('reserve was rejected: invalid inventory.reserve: "sku/1" is not an entity id');
  });

  it("stops the saga for attention at once when a compensating command names such an id", () => {
    const run = sagaScenario(reservingAt("sku-1", "sku/1"))
      .given(created("c1", "o1"))
      .whenRejected("reserve", "insufficient-stock")
      .expectStatus("attention");
    expect(run.state.error).toBe(
      'compensating reserve (inventory.release) is refused: invalid inventory.release: "sku/1" is not an entity id',
    );
  });
});

describe("the saga kit, given the entity types its saga commands", () => {
  const withEntities = { entities: [inventory] };

  it("rejects a command whose data compiles but breaks a refinement of its schema, as the runtime does", () => {
    const run = sagaScenario(reservingAt("sku-1", "sku-1", 0), withEntities)
      .given(created("c1", "o1"))
      .expectStatus("compensating");
    expect(run.state.reason).toMatch(/^reserve was rejected: invalid inventory\.reserve: quantity: /);
  });

  it("stops the saga for attention at once when a compensating command's data breaks its schema", () => {
    const run = sagaScenario(reservingAt("sku-1", "sku-1", 1, ""), withEntities)
      .given(created("c1", "o1"))
      .whenRejected("reserve", "insufficient-stock")
      .expectStatus("attention");
    expect(run.state.error).toMatch(
      /^compensating reserve \(inventory\.release\) is refused: invalid inventory\.release: orderId: /,
    );
    expect(run.state.attempts).toEqual({});
  });

  it("leaves such commands for the test to answer when their entity types are not given", () => {
    sagaScenario(reservingAt("sku-1", "sku-1", 0))
      .given(created("c1", "o1"))
      .expectCommands({
        kind: "command",
        entityType: "inventory",
        entityId: "sku-1",
        command: "reserve",
        data: { orderId: "o1", quantity: 0 },
      });
  });
});

describe("the saga kit and a call's own idempotency key", () => {
  const keyed = (idempotencyKey: string) => (orderId: string) =>
    serviceCall(paymentGateway, "charge", { reference: orderId, amount: 10, currency: "EUR" }, { idempotencyKey });

  it("sends a call's own key that fits the Idempotency-Key grammar as given", () => {
    sagaScenario(chargingWith(keyed("payments/o1/charge")))
      .given(created("c1", "o1"))
      .expectCommands(keyed("payments/o1/charge")("o1"));
  });

  it("stops the saga for attention before its stage when a call's own key holds a space, naming the key and where", () => {
    const run = sagaScenario(chargingWith(keyed("payments/o 1/charge")))
      .given(created("c1", "o1"))
      .expectStatus("attention");
    expect(run.state.error).toBe(
      'stage charge has task charge whose run idempotencyKey "payments/o 1/charge" holds " " (U+0020) at character 11: a call\'s own key must be 1-255 visible ASCII characters (no spaces), since it is sent as given, never fitted',
    );
    expect(run.due).toEqual([]);
  });

  it("stops the saga for attention when a call's own key is longer than 255 characters, rather than fitting it", () => {
    const run = sagaScenario(chargingWith(keyed("k".repeat(300))))
      .given(created("c1", "o1"))
      .expectStatus("attention");
    expect(run.state.error).toMatch(/whose run idempotencyKey "k{64}"… is 300 characters long, over 255: /);
  });

  it("stops the saga for attention when a call's own key holds a character outside ASCII", () => {
    const run = sagaScenario(chargingWith(keyed("paiement/ö")))
      .given(created("c1", "o1"))
      .expectStatus("attention");
    expect(run.state.error).toMatch(/holds "ö" \(U\+00F6\) at character 10/);
  });

  it("names a control character in a call's own key by its code, since it would print as nothing", () => {
    const run = sagaScenario(chargingWith(keyed("p\u007f")))
      .given(created("c1", "o1"))
      .expectStatus("attention");
    expect(run.state.error).toMatch(/holds control character U\+007F at character 2: /);
  });

  it("checks a compensation's own key when the stage is entered, before its run is sent", () => {
    const undo = (chargeKey: string) => serviceCall(paymentGateway, "refund", { chargeKey }, { idempotencyKey: "" });
    const run = sagaScenario(chargingWith(keyed("payments/o1/charge"), undo))
      .given(created("c1", "o1"))
      .expectStatus("attention");
    expect(run.state.error).toMatch(/^stage charge has task charge whose compensate idempotencyKey "" is empty: /);
  });
});
