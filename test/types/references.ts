// Type-level specification: every cross-file reference a domain makes is checked by the compiler.
// `tsc -p .` (the first step of `npm test`) compiles this file; each `@ts-expect-error` marks a
// mistake that must not compile, and an unused one fails the build. Nothing here runs.
import { z } from "zod";
import { defineProjection, type Db, type Statement } from "../../src/core/model/projection.js";
import { defineSaga } from "../../src/core/model/saga.js";
import { implementService, type Service } from "../../cloud/app.js";
import { serviceCall } from "../../src/core/model/service-contract.js";
import { paymentGateway } from "../../src/domain/payment-gateway.js";
import { defineApp } from "../../platform.js";
import { inventory } from "../../src/domain/inventory.js";
import { orders } from "../../src/domain/orders.js";
import { payments } from "../../src/domain/payments.js";
import { orderFulfillment } from "../../src/domain/order-fulfillment.js";
import { inventoryProjection } from "../../src/domain/projections/inventory.js";
import { ordersProjection } from "../../src/domain/projections/orders.js";
import { fact } from "../../src/testing/facts.js";
import { checkAdversarialIds, scenario } from "../../src/testing/given-when-then.js";
import { projectionScenario } from "../../src/testing/projection-scenario.js";
import { sagaScenario } from "../../src/testing/saga-scenario.js";
import type { EntityClient } from "../../edge/entity/entity-client.js";
import type { entityHttpClient } from "../support/api.js";

const stage = { name: "s", timeoutMs: 1000 };
const base = { instanceOf: () => null, finallyCompensate: () => [] } as const;

// A correct saga compiles: the baseline every mistake below departs from by one name or field.
export const correct = defineSaga(orders, inventory)({
  ...base,
  name: "ok",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: (fact) => ({ orderId: fact.meta.entityId, skus: fact.data.items.map((line) => line.sku) }),
  stages: [
    {
      ...stage,
      tasks: (c) =>
        c.skus.map((sku) => ({
          key: sku,
          run: { kind: "command", entityType: "inventory", entityId: sku, command: "reserve", data: { orderId: c.orderId, quantity: 1 } },
          compensate: { kind: "command", entityType: "inventory", entityId: sku, command: "release", data: { orderId: c.orderId } },
          nothingToUndo: ["no-reservation"],
        })),
    },
  ],
  abortOn: { orders: { OrderCancelled: (fact) => fact.data.reason } },
});

export const commandToUnknownEntityType = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [
    {
      ...stage,
      // @ts-expect-error "warehouse" is not an entity the saga lists
      tasks: () => [{ key: "k", run: { kind: "command", entityType: "warehouse", entityId: "a", command: "reserve", data: { orderId: "o", quantity: 1 } } }],
    },
  ],
});

export const commandToEntityNotListed = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [
    {
      ...stage,
      // @ts-expect-error inventory exists but this saga does not list it
      tasks: () => [{ key: "k", run: { kind: "command", entityType: "inventory", entityId: "a", command: "reserve", data: { orderId: "o", quantity: 1 } } }],
    },
  ],
});

export const unknownCommand = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [
    {
      ...stage,
      // @ts-expect-error inventory has no command "hold"
      tasks: () => [{ key: "k", run: { kind: "command", entityType: "inventory", entityId: "a", command: "hold", data: { orderId: "o", quantity: 1 } } }],
    },
  ],
});

export const wrongField = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [
    {
      ...stage,
      // @ts-expect-error reserve takes `quantity`, not `qty`
      tasks: () => [{ key: "k", run: { kind: "command", entityType: "inventory", entityId: "a", command: "reserve", data: { orderId: "o", qty: 1 } } }],
    },
  ],
});

export const wrongFieldType = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [
    {
      ...stage,
      // @ts-expect-error reserve's quantity is a number
      tasks: () => [{ key: "k", run: { kind: "command", entityType: "inventory", entityId: "a", command: "reserve", data: { orderId: "o", quantity: "1" } } }],
    },
  ],
});

export const startOnUnknownEvent = defineSaga(orders)({
  ...base,
  name: "x",
  // @ts-expect-error orders records no "OrderPlaced"
  startedBy: { entityType: "orders", eventType: "OrderPlaced" },
  start: () => ({}),
  stages: [{ ...stage, tasks: () => [] }],
});

export const startOnAnotherEntitysEvent = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  // @ts-expect-error OrderCreated is an event of orders, not of inventory
  startedBy: { entityType: "inventory", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [{ ...stage, tasks: () => [] }],
});

export const startReadsAFieldTheEventLacks = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  // @ts-expect-error OrderCreated's data has no `amount`
  start: (fact) => ({ amount: fact.data.amount }),
  stages: [{ ...stage, tasks: () => [] }],
});

export const instanceOfReadsAFieldTheEventLacks = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  // @ts-expect-error Reserved's data has `orderId`, not `order`
  instanceOf: (fact) => (fact.type === "Reserved" ? fact.data.order : null),
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [{ ...stage, tasks: () => [] }],
});

export const abortOnUnknownEvent = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [{ ...stage, tasks: () => [] }],
  // @ts-expect-error orders records no "OrderVoided"
  abortOn: { orders: { OrderVoided: () => "voided" } },
});

export const abortOnUnknownEntityType = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [{ ...stage, tasks: () => [] }],
  // @ts-expect-error the saga lists no entity "customers"
  abortOn: { customers: { CustomerLeft: () => "left" } },
});

export const abortReadsAFieldTheEventLacks = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [{ ...stage, tasks: () => [] }],
  // @ts-expect-error OrderCancelled's data has `reason`, not `why`
  abortOn: { orders: { OrderCancelled: (fact) => fact.data.why } },
});

export const compensationWithUnknownCommand = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [
    {
      ...stage,
      tasks: () => [
        {
          key: "k",
          run: { kind: "command", entityType: "inventory", entityId: "a", command: "reserve", data: { orderId: "o", quantity: 1 } },
          // @ts-expect-error inventory has no command "unreserve"
          compensate: { kind: "command", entityType: "inventory", entityId: "a", command: "unreserve", data: { orderId: "o" } },
        },
      ],
    },
  ],
});

export const compensationWithWrongField = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [
    {
      ...stage,
      tasks: () => [
        {
          key: "k",
          run: { kind: "command", entityType: "inventory", entityId: "a", command: "reserve", data: { orderId: "o", quantity: 1 } },
          // @ts-expect-error release takes `orderId`, not `order`
          compensate: { kind: "command", entityType: "inventory", entityId: "a", command: "release", data: { order: "o" } },
        },
      ],
    },
  ],
});

export const nothingToUndoWithUnknownCode = defineSaga(orders, inventory)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  stages: [
    {
      ...stage,
      tasks: () => [
        {
          key: "k",
          run: { kind: "command", entityType: "inventory", entityId: "a", command: "reserve", data: { orderId: "o", quantity: 1 } },
          compensate: { kind: "command", entityType: "inventory", entityId: "a", command: "release", data: { orderId: "o" } },
          // @ts-expect-error no listed entity rejects with "not-reserved"
          nothingToUndo: ["not-reserved"],
        },
      ],
    },
  ],
});

export const finalCompensationToUnknownCommand = defineSaga(orders)({
  name: "x",
  instanceOf: () => null,
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: (fact) => ({ orderId: fact.meta.entityId }),
  stages: [{ ...stage, tasks: () => [] }],
  // @ts-expect-error orders has no command "void"
  finallyCompensate: (c) => [{ key: "void", run: { kind: "command", entityType: "orders", entityId: c.orderId, command: "void", data: {} } }],
});

// A final task runs its `run` and nothing undoes it: it has no compensation of its own.
const cancel = (orderId: string) => ({ kind: "command", entityType: "orders", entityId: orderId, command: "cancel", data: { reason: "r" } }) as const;

export const finalTaskWithACompensation = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: (fact) => ({ orderId: fact.meta.entityId }),
  stages: [{ ...stage, tasks: () => [] }],
  // @ts-expect-error a final task has no `compensate`
  finallyCompensate: (c) => [{ key: "cancel", run: cancel(c.orderId), compensate: cancel(c.orderId) }],
});

export const finalTaskWithNothingToUndo = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: (fact) => ({ orderId: fact.meta.entityId }),
  stages: [{ ...stage, tasks: () => [] }],
  // @ts-expect-error a final task has no `nothingToUndo`
  finallyCompensate: (c) => [{ key: "cancel", run: cancel(c.orderId), nothingToUndo: ["invalid-transition"] }],
});

// A saga's calls name only the services it declares; an app must provide every one it declares.
const charge = { kind: "call", service: "payment-gateway", operation: "charge", data: {} } as const;

export const callsADeclaredService = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  services: ["payment-gateway"],
  stages: [{ ...stage, tasks: () => [{ key: "charge", run: charge }] }],
});

export const callsAnUndeclaredService = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  services: ["payment-gateway"],
  stages: [
    {
      ...stage,
      // @ts-expect-error the saga declares no service "mailer"
      tasks: () => [{ key: "mail", run: { kind: "call", service: "mailer", operation: "send", data: {} } }],
    },
  ],
});

export const callsWithoutDeclaringServices = defineSaga(orders)({
  ...base,
  name: "x",
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: () => ({}),
  // @ts-expect-error the saga declares no services at all
  stages: [{ ...stage, tasks: () => [{ key: "charge", run: charge }] }],
});

export function appMistakes(gateway: Service): void {
  defineApp({ entities: [orders], projections: [], sagas: [callsADeclaredService], services: { "payment-gateway": gateway } });
  // @ts-expect-error the app provides no service "payment-gateway", which the saga declares
  defineApp({ entities: [orders], projections: [], sagas: [callsADeclaredService], services: { "payment-gatewy": gateway } });
  // @ts-expect-error an app with no services runs no saga that declares one
  defineApp({ entities: [orders], projections: [], sagas: [callsADeclaredService] });
}

// A call built from a service's contract names only an operation it declares, with its request;
// an implementation of the contract answers every operation, and no other.
export function contractMistakes(): void {
  serviceCall(paymentGateway, "charge", { reference: "o-1", amount: 10, currency: "EUR" });
  // @ts-expect-error the payment gateway has no operation "capture"
  serviceCall(paymentGateway, "capture", { reference: "o-1", amount: 10, currency: "EUR" });
  // @ts-expect-error a charge's request names its order `reference`, not `orderId`
  serviceCall(paymentGateway, "charge", { orderId: "o-1", amount: 10, currency: "EUR" });
  // @ts-expect-error a charge's amount is a number
  serviceCall(paymentGateway, "charge", { reference: "o-1", amount: "10", currency: "EUR" });
  const done = async () => ({ kind: "done", result: null }) as const;
  // @ts-expect-error the gateway's contract also declares refund
  implementService(paymentGateway, { charge: done });
  // @ts-expect-error the gateway's contract declares no operation "capture"
  implementService(paymentGateway, { charge: done, refund: done, capture: done });
  implementService(paymentGateway, {
    // @ts-expect-error a charge's request has no `orderId` (its order is its `reference`)
    charge: async (request) => ({ kind: "done", result: request.orderId }),
    refund: done,
  });
}

export function kitMistakes(): void {
  // @ts-expect-error reserve's body has no `qty`
  scenario(inventory).given().when("reserve", { orderId: "o1", qty: 1 });
  // @ts-expect-error inventory has no command "hold"
  scenario(inventory).given().when("hold", { orderId: "o1", quantity: 1 });
  // @ts-expect-error inventory's decide never rejects with "out-of-stock" (it is "insufficient-stock")
  scenario(inventory).given().when("reserve", { orderId: "o1", quantity: 1 }).expectRejection("out-of-stock");
  // @ts-expect-error a given event with a field its data lacks
  scenario(payments).given({ type: "PaymentSubmitted", data: { orderId: "o", amount: 1, currency: "EUR", extra: 1 } });
  // @ts-expect-error a given event the entity does not record
  scenario(orders).given({ type: "OrderPlaced", data: {} });
  // @ts-expect-error an adversarial-id sample body with a field reserve does not take
  checkAdversarialIds(inventory, { commands: [{ command: "reserve", body: { orderId: "o1", qty: 1 } }] });
  // The correct forms compile.
  scenario(inventory).given({ type: "Restocked", data: { quantity: 1, source: "manual" } }).when("reserve", { orderId: "o1", quantity: 2 }).expectRejection("insufficient-stock");
}

interface Row {
  readonly id: string;
  readonly count: number;
}
const view = {
  clear: () => [],
  filters: {},
  key: "id",
  list: async (): Promise<Row[]> => [],
  get: async (): Promise<Row | undefined> => undefined,
} as const;
const nothing = (_db: Db, _value: unknown): readonly Statement[] => [];

// A correct projection compiles: handlers keyed by the followed entities' event names, data typed.
export const correctProjection = defineProjection(inventory, orders)({
  ...view,
  name: "ok",
  on: {
    Reserved: (db, e) => nothing(db, e.data.quantity),
    OrderCancelled: (db, e) => nothing(db, e.data.reason),
  },
  applyRun: (db, events) => events.flatMap((e) => (e.type === "Restocked" ? nothing(db, e.data.source) : [])),
});

export const projectionHandlerForUnknownEvent = defineProjection(inventory)({
  ...view,
  name: "x",
  on: {
    // @ts-expect-error inventory records no "Reservd"
    Reservd: (db: Db) => nothing(db, null),
  },
});

export const projectionHandlerForEntityNotFollowed = defineProjection(inventory)({
  ...view,
  name: "x",
  on: {
    // @ts-expect-error OrderCreated belongs to orders, which this projection does not follow
    OrderCreated: (db: Db) => nothing(db, null),
  },
});

export const projectionReadsAFieldTheEventLacks = defineProjection(inventory)({
  ...view,
  name: "x",
  on: {
    // @ts-expect-error Reserved's data has `quantity`, not `amount`
    Reserved: (db, e) => nothing(db, e.data.amount),
  },
});

export const projectionRunReadsAFieldTheEventLacks = defineProjection(orders)({
  ...view,
  name: "x",
  on: {},
  // @ts-expect-error OrderConfirmed's data has `paymentId`, not `paymentRef`
  applyRun: (db, events) => events.flatMap((e) => (e.type === "OrderConfirmed" ? nothing(db, e.data.paymentRef) : [])),
});

export const projectionKeyedByAFieldItsRowsLack = defineProjection(inventory)({
  ...view,
  name: "x",
  on: {},
  // @ts-expect-error its rows have no `sku` field
  key: "sku",
});

export const projectionKeyedByAFieldThatIsNotAString = defineProjection(inventory)({
  ...view,
  name: "x",
  on: {},
  // @ts-expect-error `count` holds a number, and a view's key is a string
  key: "count",
});

export const projectionListReadsAFilterItDoesNotDeclare = defineProjection(orders)({
  ...view,
  name: "x",
  on: {},
  filters: { status: z.enum(["pending", "shipped"]) },
  list: async (_db, _scope, query): Promise<Row[]> => {
    const status: "pending" | "shipped" | undefined = query.status;
    // @ts-expect-error the view declares no filter "customerId"
    return [{ id: `${status}${query.customerId}`, count: 0 }];
  },
});

export const projectionRowsWithoutAStringField = defineProjection(orders)({
  ...view,
  name: "x",
  on: {},
  // @ts-expect-error its rows (`{ count }`) have no string field to key by: the error says so
  key: "count",
  list: async (): Promise<{ count: number }[]> => [],
  get: async () => undefined,
});

export function sagaKitMistakes(): void {
  const run = sagaScenario(orderFulfillment);
  // @ts-expect-error inventory has no command "hold"
  run.expectCommands({ kind: "command", entityType: "inventory", entityId: "a", command: "hold", data: { orderId: "o" } });
  // @ts-expect-error release takes `orderId`, not `order`
  run.expectCompensations({ kind: "command", entityType: "inventory", entityId: "a", command: "release", data: { order: "o" } });
  // @ts-expect-error no entity of the saga rejects with "sold-out"
  run.whenRejected("reserve:a", "sold-out");
  // @ts-expect-error a fact whose data lacks the event's fields
  fact(orders, "o1", "OrderCancelled", { why: "x" });
  // @ts-expect-error a fact of an event the entity does not record
  fact(orders, "o1", "OrderPlaced", {});
  // The correct forms compile.
  run.whenRejected("reserve:a", "insufficient-stock").expectCompensations({ kind: "command", entityType: "inventory", entityId: "a", command: "release", data: { orderId: "o" } });
}

export async function projectionKitMistakes(db: Db): Promise<void> {
  const run = projectionScenario(inventoryProjection, db);
  // @ts-expect-error the inventory view does not follow orders
  await run.given(fact(orders, "o1", "OrderCancelled", { reason: "x" }));
  // The correct form compiles.
  await run.given(fact(inventory, "sku-1", "Restocked", { quantity: 1, source: "manual" }));
  const orderRows = projectionScenario(ordersProjection, db);
  // @ts-expect-error the orders view has no filter "state"
  await orderRows.expectList({ state: "shipped" }, []);
  // @ts-expect-error "sent" is not a status the orders view's filter admits
  await orderRows.expectList({ status: "sent" }, []);
  await orderRows.expectList({ status: "shipped", customerId: "c-1" }, []);
}

// An app's HTTP tests and its routes reach an entity by its definition: names and bodies checked.
export async function typedEntityClients(sku: ReturnType<typeof entityHttpClient<typeof inventory>>) {
  await sku.command("s1", "restock", { quantity: 1 });
  // @ts-expect-error: inventory has no command "restok"
  await sku.command("s1", "restok", { quantity: 1 });
  // @ts-expect-error: restock's quantity is a number
  await sku.command("s1", "restock", { quantity: "1" });
}

export async function typedRouteClient(items: EntityClient<typeof inventory>) {
  const read = await items.read("s1");
  const onHand: number | undefined = read?.state.onHand;
  // @ts-expect-error: reserve needs an orderId
  await items.command("s1", "reserve", { quantity: 1 });
  return onHand;
}
