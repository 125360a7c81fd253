// Model-based test of the whole flow with fast-check: random commands across entities and tenants,
// and orders whose fulfillment sagas run beside them, interleaved with random faults (failed
// sends, dropped — also before later facts of the same entity —, duplicated, reordered and
// delayed messages, a stalled consumer, failing D1 batches, entity and saga restarts, a failing,
// declining or slow payment gateway), checked against a pure model once quiet: every accepted
// command's events are in the log exactly once and gapless, every view equals the fold of its
// log, inventory is never oversold, every saga has ended (completed or compensated) with its order
// shipped or cancelled, stock is conserved, no order is charged twice, no cancelled order had
// stock shipped, the payment entity agrees with the gateway's ledger, and no tenant sees
// another's data. Operations include settling an order's payment through the settle route while
// its saga runs, and cancelling after confirmation (refused: the pivot is passed).
// Keys are revoked and tenants suspended (and resumed) with live streams open: the streams end
// and the old key is refused. A failing run prints its seed and shrunk counterexample. FACTLINE_MODEL_RUNS
// sets the run count.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { FactCloudEvent } from "../../src/core/protocol/cloud-event.js";
import type { CommandOutcome } from "../../src/core/protocol/entity-protocol.js";
import { isRejection } from "../../src/core/model/entity.js";
import { encodeHlc, MAX_LOGICAL } from "../../src/core/protocol/hlc.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { armFault, armTransform, InjectedFault } from "../../src/core/resilience/fault-injection.js";
import { entityObjectName } from "../../src/core/protocol/identifiers.js";
import { inventory, type InventoryState } from "../../src/domain/inventory.js";
import { call, eventually, internalCommand, newTenant, tenantClient } from "../support/api.js";
import { deliverRaw } from "../support/facts.js";
import { adminCall, gatewayLedger, sagaId, setGateway } from "../support/sagas.js";

const RUNS = Number((env as unknown as { MODEL_RUNS?: string }).MODEL_RUNS ?? "12");
/** Stock only direct commands touch, so the model predicts every answer. */
const SKUS = ["s0", "s1"] as const;
const ORDERS = ["o0", "o1", "o2", "o3"] as const;
/** Stock the sagas reserve and ship; direct commands only restock it. */
const ORDER_SKUS = ["p0", "p1", "p2"] as const;
/** Charges above this are declined while the gateway is declining. */
const DECLINE_ABOVE = 60;
/** Units of each order SKU a run starts with: enough for a few orders, not for all. */
const INITIAL_ORDER_STOCK = 4;

type BatchOp = "drop" | "duplicate" | "reverse" | "delay";
type Gateway = "failing" | "declining" | "slow" | "healthy";
type Toggle = "relay" | "consumer" | "d1";

const GATEWAY_CONTROLS: Record<Gateway, Record<string, unknown>> = {
  failing: { errorRate: 0.5 },
  declining: { declineAbove: DECLINE_ABOVE },
  slow: { latencyMs: 20, latencyJitterMs: 120 },
  healthy: {},
};

const TOGGLE_FAULT: Record<Toggle, string> = {
  relay: "queue send failing",
  consumer: "consumer stalled",
  d1: "D1 batch failing",
};

interface PlacedOrder {
  readonly tenant: number;
  readonly orderId: string;
  readonly lines: readonly { readonly sku: string; readonly quantity: number; readonly unitPrice: number }[];
}

interface Model {
  /** Per tenant index and SKU: the state the accepted commands imply, and their event count. */
  readonly stock: Map<string, { state: InventoryState; events: number }>;
  /** Per tenant index and order SKU: the units restocked. */
  readonly restocked: Map<string, number>;
  readonly orders: PlacedOrder[];
}

interface Real {
  readonly tenants: { id: string; apiKey: string }[];
  readonly failing: Record<Toggle, Set<string>>;
  nextBatchOp: BatchOp | null;
  /** The entity (object name) whose next relayed batch loses its first message. */
  dropFirstOf: string | null;
  readonly dropped: { entity: string; seq: number }[];
  readonly delayed: FactCloudEvent[];
  readonly disarm: (() => void)[];
}

const stats = {
  runs: 0,
  commands: 0,
  accepted: 0,
  rejected: 0,
  shed: 0,
  orders: 0,
  cancelRequests: 0,
  cancelsAfterConfirmation: 0,
  settleRequests: 0,
  sagasChecked: 0,
  sagasCompleted: 0,
  sagasCompensated: 0,
  droppedMessages: 0,
  droppedBeforeLaterFacts: 0,
  /** Live streams ended by a key revocation or a suspension. */
  streamsEnded: 0,
  faults: new Map<string, number>(),
  anomalies: 0,
};
const countFault = (kind: string) => stats.faults.set(kind, (stats.faults.get(kind) ?? 0) + 1);

const key = (tenant: number, sku: string) => `${tenant}/${sku}`;

function modelEntry(m: Model, tenant: number, sku: string) {
  let entry = m.stock.get(key(tenant, sku));
  if (!entry) {
    entry = { state: inventory.initialState() as InventoryState, events: 0 };
    m.stock.set(key(tenant, sku), entry);
  }
  return entry;
}

/** The HTTP status an outcome would have been answered with (200 when accepted). */
function statusOf(outcome: CommandOutcome): number {
  return outcome.ok ? 200 : outcome.problem.status;
}

class SendCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly sku: string,
    readonly command: "restock" | "reserve" | "release" | "ship",
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    stats.commands++;
    const entry = modelEntry(m, this.tenant, this.sku);
    const parsed = inventory.parseCommand(this.command, this.body);
    if (!parsed?.ok) throw new Error("generator produced an invalid command");
    const decision = inventory.decide(entry.state, parsed.command);
    const tenant = r.tenants[this.tenant]!;
    // Releasing and shipping are the order saga's commands (internal): sent as a saga sends them.
    const status =
      this.command === "release" || this.command === "ship"
        ? statusOf(await internalCommand(tenant.id, "inventory", this.sku, this.command, this.body))
        : (await tenantClient(tenant.apiKey).command("inventory", this.sku, this.command, this.body, this.headers))
            .status;
    if (status === 429) {
      stats.shed++;
      return;
    }
    if (isRejection(decision)) {
      expect(status).toBe(422);
      stats.rejected++;
      return;
    }
    expect(status).toBe(200);
    stats.accepted++;
    entry.state = inventory.fold(decision, entry.state) as InventoryState;
    entry.events += decision.length;
    expect(entry.state.available).toBeGreaterThanOrEqual(0);
  }
  toString = () =>
    `${this.command}(t${this.tenant}/${this.sku}, ${JSON.stringify(this.body)}${Object.keys(this.headers).length > 0 ? ", maximal headers" : ""})`;
}

let maximalCounter = 0;

/**
 * A restock with every recorded header at its bound (and a cause clock whose logical part is
 * full): the facts it records must still travel, be applied and fold like any other.
 */
function maximalHeaders(): Record<string, string> {
  const unique = `${Date.now().toString(36)}-${(maximalCounter++).toString(36)}-`;
  return {
    "idempotency-key": unique.padEnd(255, "k"),
    "factline-correlation-id": "c".repeat(256),
    "factline-causation-id": "d".repeat(256),
    "x-request-id": "r".repeat(128),
    traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
    "factline-cause-clock": encodeHlc({ wall: Date.now(), logical: MAX_LOGICAL }),
  };
}

/** Loses the first fact of the entity's next batch, then records two more: a gap to repair. */
class DropThenFollow implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly sku: string,
    readonly first: number,
    readonly second: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.dropFirstOf = entityObjectName(r.tenants[this.tenant]!.id, "inventory", this.sku);
    await new SendCommand(this.tenant, this.sku, "restock", { quantity: this.first }).run(m, r);
    await new SendCommand(this.tenant, this.sku, "restock", { quantity: this.second }).run(m, r);
  }
  toString = () =>
    `drop the next fact of t${this.tenant}/${this.sku}, then restock it ${this.first} and ${this.second}`;
}

class RestockOrderStock implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly sku: string,
    readonly quantity: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    stats.commands++;
    const res = await tenantClient(r.tenants[this.tenant]!.apiKey).command("inventory", this.sku, "restock", {
      quantity: this.quantity,
    });
    if (res.status === 429) {
      stats.shed++;
      return;
    }
    expect(res.status).toBe(200);
    stats.accepted++;
    m.restocked.set(key(this.tenant, this.sku), (m.restocked.get(key(this.tenant, this.sku)) ?? 0) + this.quantity);
  }
  toString = () => `restock(t${this.tenant}/${this.sku}, ${this.quantity}) for orders`;
}

/** Creates an order: its fulfillment saga starts once the OrderCreated fact reaches the cloud. */
class PlaceOrder implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly lines: PlacedOrder["lines"],
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    stats.commands++;
    const order: PlacedOrder = { tenant: this.tenant, orderId: `n${m.orders.length}`, lines: this.lines };
    const res = await tenantClient(r.tenants[this.tenant]!.apiKey).command("orders", order.orderId, "create", {
      customerId: "c",
      items: this.lines,
    });
    if (res.status === 429) {
      stats.shed++;
      return;
    }
    expect(res.status).toBe(200);
    stats.accepted++;
    stats.orders++;
    m.orders.push(order);
  }
  toString = () => `order(t${this.tenant}, ${JSON.stringify(this.lines)})`;
}

/** A customer cancels an order, at whatever point its saga has reached (or once it is confirmed). */
class CancelOrder implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly afterConfirmation = false,
  ) {}
  check = (m: Readonly<Model>) => m.orders.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const order = m.orders[this.pick % m.orders.length]!;
    const api = tenantClient(r.tenants[order.tenant]!.apiKey);
    // Waits (a little) for the saga to pass its pivot; a stalled saga is cancelled wherever it is.
    const status = !this.afterConfirmation
      ? undefined
      : await eventually(async () => {
          const res = await api.get(`/v1/entities/orders/${order.orderId}`);
          const current =
            res.status === 200 ? ((await res.json()) as { state: { status: string } }).state.status : "pending";
          return current === "pending" ? undefined : current;
        }, 3_000).catch(() => undefined);
    stats.commands++;
    stats.cancelRequests++;
    const res = await api.command("orders", order.orderId, "cancel", { reason: "the customer changed their mind" });
    // Accepted while pending; refused once fulfilment has begun (confirmed or shipped).
    expect([200, 422, 429]).toContain(res.status);
    if (status === "confirmed" || status === "shipped") {
      stats.cancelsAfterConfirmation++;
      expect(res.status).toBe(422);
      expect(((await res.json()) as { code?: string }).code).toBe("fulfilment-begun");
    }
  }
  toString = () => `cancel order #${this.pick}${this.afterConfirmation ? " once confirmed" : ""}`;
}

/** The tenant settles an order's payment through the settle route while the order's saga runs. */
class SettleRacingSaga implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.orders.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const order = m.orders[this.pick % m.orders.length]!;
    stats.settleRequests++;
    const res = await call(`/v1/payments/${order.orderId}/settle`, {
      method: "POST",
      headers: { authorization: `Bearer ${r.tenants[order.tenant]!.apiKey}` },
    });
    // 404 before the saga submitted the payment, 422 once it is settled or closed, 503 while the gateway fails.
    expect([200, 404, 422, 429, 503]).toContain(res.status);
  }
  toString = () => `settle the payment of order #${this.pick}`;
}

class SetGateway implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly behaviour: Gateway,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    await setGateway(r.tenants[this.tenant]!.id, GATEWAY_CONTROLS[this.behaviour]);
    if (this.behaviour !== "healthy") countFault(`gateway ${this.behaviour}`);
  }
  toString = () => `gateway ${this.behaviour} (t${this.tenant})`;
}

class RestartSaga implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.orders.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const order = m.orders[this.pick % m.orders.length]!;
    countFault("saga restarted");
    await evictDurableObject(sagaStubOf(r.tenants[order.tenant]!.id, order.orderId)).catch(() => undefined);
  }
  toString = () => `restart the saga of order #${this.pick}`;
}

class ToggleFault implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly where: Toggle,
    readonly tenant: number,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    const set = r.failing[this.where];
    const id = r.tenants[this.tenant]!.id;
    if (set.has(id)) set.delete(id);
    else {
      set.add(id);
      countFault(TOGGLE_FAULT[this.where]);
    }
  }
  toString = () => `toggle ${this.where} failure (t${this.tenant})`;
}

class NextBatch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly op: BatchOp) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    r.nextBatchOp = this.op;
  }
  toString = () => `${this.op} the next relayed batch`;
}

class DeliverDelayed implements fc.AsyncCommand<Model, Real> {
  check = (_m: Readonly<Model>) => true;
  async run(_m: Model, r: Real): Promise<void> {
    const late = r.delayed.splice(0);
    if (late.length > 0) await deliverRaw(late);
  }
  toString = () => "deliver the delayed messages";
}

/** An SSE stream and a WebSocket on one entity, opened with `apiKey`; `closed` gives the socket's close code. */
async function openStreams(apiKey: string, sku: string): Promise<{ sse: Response; closed: Promise<number> }> {
  const sse = await tenantClient(apiKey).get(`/v1/entities/inventory/${sku}/events`, { accept: "text/event-stream" });
  expect(sse.status).toBe(200);
  const upgraded = await tenantClient(apiKey).get(`/v1/entities/inventory/${sku}/events`, { upgrade: "websocket" });
  expect(upgraded.status).toBe(101);
  const socket = upgraded.webSocket!;
  const closed = new Promise<number>((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
  socket.accept();
  return { sse, closed };
}

/** A second key of the tenant, with live streams open, is revoked: its streams end, it is refused, the first key goes on. */
class RevokeKeyWithStreamsOpen implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly sku: string,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    const tenantRef = r.tenants[this.tenant]!;
    const issued = (await (await adminCall(`/admin/tenants/${tenantRef.id}/keys`, { method: "POST" })).json()) as {
      keyId: string;
      apiKey: string;
    };
    const { sse, closed } = await openStreams(issued.apiKey, this.sku);
    expect((await adminCall(`/admin/tenants/${tenantRef.id}/keys/${issued.keyId}`, { method: "DELETE" })).status).toBe(
      204,
    );
    expect(await closed).toBe(4401);
    await sse.text(); // ends; the run would time out if it went on
    expect((await tenantClient(issued.apiKey).get("/v1/views/inventory")).status).toBe(401);
    expect((await tenantClient(tenantRef.apiKey).get("/v1/views/inventory")).status).toBe(200);
    stats.streamsEnded += 2;
  }
  toString = () => `revoke a key of t${this.tenant} with streams open on ${this.sku}`;
}

/** The tenant is suspended with live streams open: they end and its key is refused; then it is resumed. */
class SuspendWithStreamsOpen implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly sku: string,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    const tenantRef = r.tenants[this.tenant]!;
    const { sse, closed } = await openStreams(tenantRef.apiKey, this.sku);
    expect((await adminCall(`/admin/tenants/${tenantRef.id}/suspend`, { method: "POST" })).status).toBe(200);
    expect(await closed).toBe(4403);
    await sse.text();
    expect((await tenantClient(tenantRef.apiKey).get("/v1/views/inventory")).status).toBe(403);
    expect((await adminCall(`/admin/tenants/${tenantRef.id}/resume`, { method: "POST" })).status).toBe(200);
    stats.streamsEnded += 2;
  }
  toString = () => `suspend and resume t${this.tenant} with streams open on ${this.sku}`;
}

class Restart implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly sku: string,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    if (!m.stock.has(key(this.tenant, this.sku)) && !m.restocked.has(key(this.tenant, this.sku))) return;
    countFault("entity restarted");
    await evictDurableObject(stubOf(r.tenants[this.tenant]!.id, "inventory", this.sku)).catch(() => undefined);
  }
  toString = () => `restart t${this.tenant}/${this.sku}`;
}

/** An operator rebuilds a projection while commands flow; sometimes two starts race. */
class RebuildProjection implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly projection: "inventory" | "orders",
    readonly twice: boolean,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    countFault(this.twice ? "rebuild started twice at once" : "rebuild started");
    const start = () =>
      adminCall(`/admin/projections/${this.projection}/rebuild?tenant=${r.tenants[this.tenant]!.id}`, {
        method: "POST",
      });
    const answers = await Promise.all(this.twice ? [start(), start()] : [start()]);
    const statuses = answers.map((a) => a.status);
    // One start wins; the other (or a start while an earlier rebuild runs) is a 409, never a 500.
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    expect(statuses.filter((s) => s === 202).length).toBeLessThanOrEqual(1);
  }
  toString = () => `rebuild ${this.projection} (t${this.tenant})${this.twice ? ", two starts at once" : ""}`;
}

const stubOf = (tenant: string, type: string, id: string) =>
  env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, type, id)));
const sagaStubOf = (tenant: string, orderId: string) => env.SAGA.get(env.SAGA.idFromName(sagaId(tenant, orderId)));

const quantity = fc.integer({ min: 1, max: 5 });
const sku = fc.constantFrom(...SKUS);
const order = fc.constantFrom(...ORDERS);
const tenant = fc.integer({ min: 0, max: 1 });
const orderLines = fc.uniqueArray(
  fc.record({
    sku: fc.constantFrom<string>(...ORDER_SKUS),
    quantity: fc.integer({ min: 1, max: 3 }),
    unitPrice: fc.integer({ min: 5, max: 40 }),
  }),
  { minLength: 1, maxLength: 2, selector: (line) => line.sku },
);
const pick = fc.nat({ max: 20 });

const commandList = fc.commands(
  [
    fc.tuple(tenant, sku, quantity).map(([t, s, q]) => new SendCommand(t, s, "restock", { quantity: q })),
    fc.tuple(tenant, sku, quantity).map(([t, s, q]) => new SendCommand(t, s, "restock", { quantity: q })),
    fc
      .tuple(tenant, sku, order, quantity)
      .map(([t, s, o, q]) => new SendCommand(t, s, "reserve", { orderId: o, quantity: q })),
    fc.tuple(tenant, sku, order).map(([t, s, o]) => new SendCommand(t, s, "release", { orderId: o })),
    fc.tuple(tenant, sku, order).map(([t, s, o]) => new SendCommand(t, s, "ship", { orderId: o })),
    fc
      .tuple(tenant, sku, quantity)
      .map(([t, s, q]) => new SendCommand(t, s, "restock", { quantity: q }, maximalHeaders())),
    fc.tuple(tenant, sku, quantity, quantity).map(([t, s, a, b]) => new DropThenFollow(t, s, a, b)),
    fc
      .tuple(tenant, fc.constantFrom(...ORDER_SKUS), fc.integer({ min: 1, max: 6 }))
      .map(([t, s, q]) => new RestockOrderStock(t, s, q)),
    fc.tuple(tenant, orderLines).map(([t, lines]) => new PlaceOrder(t, lines)),
    fc.tuple(tenant, orderLines).map(([t, lines]) => new PlaceOrder(t, lines)),
    pick.map((p) => new CancelOrder(p)),
    pick.map((p) => new CancelOrder(p, true)),
    pick.map((p) => new CancelOrder(p, true)),
    pick.map((p) => new SettleRacingSaga(p)),
    fc
      .tuple(tenant, fc.constantFrom<Gateway>("failing", "declining", "slow", "healthy"))
      .map(([t, g]) => new SetGateway(t, g)),
    pick.map((p) => new RestartSaga(p)),
    fc.tuple(fc.constantFrom<Toggle>("relay", "consumer", "d1"), tenant).map(([w, t]) => new ToggleFault(w, t)),
    fc.constantFrom<BatchOp>("drop", "duplicate", "reverse", "delay").map((op) => new NextBatch(op)),
    fc.constant(new DeliverDelayed()),
    fc.tuple(tenant, fc.constantFrom(...SKUS, ...ORDER_SKUS)).map(([t, s]) => new Restart(t, s)),
    fc
      .tuple(tenant, fc.constantFrom<"inventory" | "orders">("inventory", "orders"), fc.boolean())
      .map(([t, p, twice]) => new RebuildProjection(t, p, twice)),
    fc.tuple(tenant, sku).map(([t, s]) => new RevokeKeyWithStreamsOpen(t, s)),
    fc.tuple(tenant, sku).map(([t, s]) => new SuspendWithStreamsOpen(t, s)),
  ],
  { maxCommands: 30, size: "large" },
);
/** Each run takes seconds against the real runtime: shrinking is bounded so a failure reports in minutes. */
const MAX_SHRINKS = 20;
const commands = fc.limitShrink(commandList, MAX_SHRINKS);

/** Two fresh tenants, each with some stock for orders, and the faults armed (off until toggled). */
async function setUp(m: Model): Promise<Real> {
  const r: Real = {
    tenants: [await newTenant("m"), await newTenant("m")],
    failing: { relay: new Set(), consumer: new Set(), d1: new Set() },
    nextBatchOp: null,
    dropFirstOf: null,
    dropped: [],
    delayed: [],
    disarm: [],
  };
  for (const [t, tenantRef] of r.tenants.entries()) {
    for (const s of ORDER_SKUS) {
      expect(
        (await tenantClient(tenantRef.apiKey).command("inventory", s, "restock", { quantity: INITIAL_ORDER_STOCK }))
          .status,
      ).toBe(200);
      m.restocked.set(key(t, s), INITIAL_ORDER_STOCK);
    }
  }
  const mine = new Set(r.tenants.map((t) => t.id));
  const drop = (fact: FactCloudEvent) => {
    r.dropped.push({ entity: entityObjectName(fact.tenant, fact.entitytype, fact.entityid), seq: fact.seq });
    stats.droppedMessages++;
  };
  r.disarm.push(
    armFault("relay.send", (ctx) => {
      if (ctx.tenant && r.failing.relay.has(ctx.tenant)) throw new InjectedFault("relay.send");
    }),
    armFault("consumer.apply", (ctx) => {
      if (ctx.tenant && r.failing.consumer.has(ctx.tenant)) throw new InjectedFault("consumer.apply");
    }),
    // A D1 error fails the delivery's whole batch; the failing tenant's own batches fail after it.
    armFault("consumer.batch", (ctx) => {
      if (r.failing.d1.size > 0 && (ctx.tenant === undefined || r.failing.d1.has(ctx.tenant)))
        throw new InjectedFault("consumer.batch");
    }),
    armTransform<FactCloudEvent>("relay.batch", (batch, ctx) => {
      const first = batch[0];
      if (!first || !ctx.tenant || !mine.has(ctx.tenant)) return batch;
      if (
        r.dropFirstOf !== null &&
        ctx.entityType &&
        ctx.entityId &&
        entityObjectName(ctx.tenant, ctx.entityType, ctx.entityId) === r.dropFirstOf
      ) {
        r.dropFirstOf = null;
        countFault("message dropped, later facts follow");
        drop(first);
        return batch.slice(1);
      }
      const op = r.nextBatchOp;
      if (!op) return batch;
      r.nextBatchOp = null;
      countFault(`message ${op}`);
      if (op === "drop") {
        drop(first);
        return batch.slice(1);
      }
      if (op === "duplicate") return [...batch, ...batch];
      if (op === "reverse") return [...batch].reverse();
      r.delayed.push(...batch);
      return [];
    }),
  );
  return r;
}

/** Every entity object a run may have written to, as (tenant index, type, id). */
function entitiesOf(m: Model): { tenant: number; type: string; id: string }[] {
  const stock = [...new Set([...m.stock.keys(), ...m.restocked.keys()])].map((k) => {
    const [t, s] = k.split("/") as [string, string];
    return { tenant: Number(t), type: "inventory", id: s };
  });
  const ordered = m.orders.flatMap((o) => [
    { tenant: o.tenant, type: "orders", id: o.orderId },
    { tenant: o.tenant, type: "payments", id: o.orderId },
    ...o.lines.map((l) => ({ tenant: o.tenant, type: "inventory", id: l.sku })),
  ]);
  const seen = new Set<string>();
  return [...stock, ...ordered].filter((e) => {
    const k = `${e.tenant}/${e.type}/${e.id}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Lets the system go quiet: faults off, the gateway healthy, late messages delivered,
 * unacknowledged facts re-sent, and every saga given the time to end.
 */
async function quiesce(m: Model, r: Real): Promise<void> {
  while (r.disarm.length) r.disarm.pop()?.();
  for (const t of r.tenants) await setGateway(t.id, GATEWAY_CONTROLS.healthy);
  if (r.delayed.length > 0) await deliverRaw(r.delayed.splice(0));
  for (const e of entitiesOf(m)) {
    const stub = stubOf(r.tenants[e.tenant]!.id, e.type, e.id);
    // Let the acknowledgement timeout pass at once: whatever was lost on the way is sent again.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE relay_state SET redeliver_at = 0 WHERE acked_up_to < sent_up_to");
    });
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
  }
  // Every rebuild started during the run switches (the checks then read the rebuilt views).
  await eventually(async () => {
    for (const t of r.tenants) {
      const res = await adminCall(`/admin/projections?tenant=${t.id}`);
      if (((await res.json()) as { items: { rebuild: unknown }[] }).items.some((p) => p.rebuild !== null))
        return undefined;
    }
    return true;
  }, 60_000);
  // A saga that does not end in time is reported by the checks with the status it is stuck in.
  await eventually(async () => {
    for (const o of m.orders) {
      const status = await sagaStatus(r.tenants[o.tenant]!.id, o.orderId);
      if (status !== "completed" && status !== "compensated" && status !== "attention") return undefined;
    }
    return true;
  }, 30_000).catch(() => undefined);
}

async function sagaStatus(tenantId: string, orderId: string): Promise<string | undefined> {
  const res = await adminCall(`/admin/sagas/${sagaId(tenantId, orderId)}`);
  return res.status === 200 ? ((await res.json()) as { status: string }).status : undefined;
}

/** The entity's log, checked gapless, unique and the tenant's own. */
async function checkedLog(
  tenantRef: { id: string; apiKey: string },
  type: string,
  id: string,
): Promise<RecordedEvent[]> {
  const res = await tenantClient(tenantRef.apiKey).get(`/v1/entities/${type}/${id}/events?limit=1000`);
  if (res.status === 404) return [];
  expect(res.status).toBe(200);
  const log = ((await res.json()) as { events: RecordedEvent[] }).events;
  expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
  expect(new Set(log.map((e) => e.meta.eventId)).size).toBe(log.length);
  expect(log.every((e) => e.meta.tenant === tenantRef.id)).toBe(true);
  return log;
}

/** Folds an inventory log, checking it is never oversold at any point. */
function foldStock(log: readonly RecordedEvent[]): InventoryState {
  let state = inventory.initialState() as InventoryState;
  for (const e of log) {
    state = inventory.evolve(state, e) as InventoryState;
    expect(state.available).toBeGreaterThanOrEqual(0);
  }
  return state;
}

async function viewConverges(
  apiKey: string,
  path: string,
  matches: (row: Record<string, unknown>) => boolean,
): Promise<void> {
  await eventually(async () => {
    const res = await tenantClient(apiKey).get(path);
    if (res.status !== 200) return undefined;
    return matches((await res.json()) as Record<string, unknown>) ? true : undefined;
  }, 30_000);
}

const stockViewMatches = (log: readonly RecordedEvent[], s: InventoryState) => (row: Record<string, unknown>) =>
  row["version"] === log.length &&
  row["onHand"] === s.onHand &&
  row["reserved"] === s.reserved &&
  row["available"] === s.available &&
  row["shipped"] === s.shipped;

async function checkInvariants(m: Model, r: Real): Promise<void> {
  const lengths = new Map<string, number>();
  for (const [k, expected] of m.stock) {
    const [t, s] = k.split("/") as [string, string];
    const tenantRef = r.tenants[Number(t)]!;
    const log = await checkedLog(tenantRef, "inventory", s);
    lengths.set(entityObjectName(tenantRef.id, "inventory", s), log.length);
    // Exactly once: as many events as the accepted commands decided, and the model's state.
    expect(log.length).toBe(expected.events);
    const state = foldStock(log);
    expect(state).toEqual(expected.state);
    if (log.length > 0) await viewConverges(tenantRef.apiKey, `/v1/views/inventory/${s}`, stockViewMatches(log, state));
  }

  // Sagas: each has ended, its order with it, charged at most once and kept only if shipped.
  const shippedOrders = new Set<string>();
  for (const o of m.orders) {
    const tenantRef = r.tenants[o.tenant]!;
    const status = await sagaStatus(tenantRef.id, o.orderId);
    stats.sagasChecked++;
    expect({ order: o.orderId, saga: status }).toEqual({
      order: o.orderId,
      saga: expect.stringMatching(/^(completed|compensated)$/),
    });
    if (status === "completed") stats.sagasCompleted++;
    else stats.sagasCompensated++;
    const log = await checkedLog(tenantRef, "orders", o.orderId);
    lengths.set(entityObjectName(tenantRef.id, "orders", o.orderId), log.length);
    const final = log[log.length - 1]?.type;
    expect(final).toBe(status === "completed" ? "OrderShipped" : "OrderCancelled");
    if (status === "completed") shippedOrders.add(key(o.tenant, o.orderId));
    await viewConverges(
      tenantRef.apiKey,
      `/v1/views/orders/${o.orderId}`,
      (row) => row["version"] === log.length && row["status"] === (status === "completed" ? "shipped" : "cancelled"),
    );
    const payments = await checkedLog(tenantRef, "payments", o.orderId);
    lengths.set(entityObjectName(tenantRef.id, "payments", o.orderId), payments.length);
  }
  for (const [t, tenantRef] of r.tenants.entries()) {
    const ledger = await gatewayLedger(tenantRef.id);
    for (const o of m.orders.filter((x) => x.tenant === t)) {
      const charges = ledger.filter((e) => e.reference === o.orderId && e.status === "approved");
      expect(charges.length).toBeLessThanOrEqual(1);
      expect({ order: o.orderId, kept: charges.filter((e) => !e.refunded).length }).toEqual({
        order: o.orderId,
        kept: shippedOrders.has(key(t, o.orderId)) ? 1 : 0,
      });
      // The payment entity agrees with the ledger: approved ⇔ a kept charge (and the order shipped);
      // refunded ⇔ its charge was refunded (a compensation that refunds a charge the saga never
      // recorded records the approval and the refund on the payment, never a decline).
      const res = await tenantClient(tenantRef.apiKey).get(`/v1/entities/payments/${o.orderId}`);
      const payment = res.status === 200 ? ((await res.json()) as { state: { status: string } }).state.status : "none";
      const kept = charges.some((e) => !e.refunded);
      const refunded = charges.some((e) => e.refunded);
      const agrees = (payment === "approved") === kept && (payment === "refunded") === refunded;
      expect({ order: o.orderId, payment, kept, refunded, agrees }).toEqual({
        order: o.orderId,
        payment,
        kept,
        refunded,
        agrees: true,
      });
    }
  }

  // Order stock is conserved: nothing left reserved, and only shipped orders took any away.
  const orderStock = new Set([
    ...m.restocked.keys(),
    ...m.orders.flatMap((o) => o.lines.map((l) => key(o.tenant, l.sku))),
  ]);
  for (const k of orderStock) {
    const [t, s] = k.split("/") as [string, string];
    const tenantRef = r.tenants[Number(t)]!;
    const log = await checkedLog(tenantRef, "inventory", s);
    lengths.set(entityObjectName(tenantRef.id, "inventory", s), log.length);
    const state = foldStock(log);
    const shipped = m.orders
      .filter((o) => o.tenant === Number(t) && shippedOrders.has(key(o.tenant, o.orderId)))
      .flatMap((o) => o.lines)
      .filter((l) => l.sku === s)
      .reduce((sum, l) => sum + l.quantity, 0);
    const restocked = m.restocked.get(k) ?? 0;
    expect({
      sku: k,
      onHand: state.onHand,
      reserved: state.reserved,
      available: state.available,
      shipped: state.shipped,
      reservations: state.reservations,
    }).toEqual({
      sku: k,
      onHand: restocked - shipped,
      reserved: 0,
      available: restocked - shipped,
      shipped,
      reservations: {},
    });
    // No stock shipped for an order that ended cancelled.
    for (const e of log.filter((x) => x.type === "Shipped")) {
      const orderId = (e.data as { orderId: string }).orderId;
      expect({ sku: k, shippedFor: orderId, orderShipped: shippedOrders.has(key(Number(t), orderId)) }).toEqual({
        sku: k,
        shippedFor: orderId,
        orderShipped: true,
      });
    }
    if (log.length > 0) await viewConverges(tenantRef.apiKey, `/v1/views/inventory/${s}`, stockViewMatches(log, state));
  }

  // Rebuilds leave rows only in the generation that serves reads.
  for (const t of r.tenants) {
    const stray = await env.DB.prepare(
      `SELECT v.p, v.generation FROM (SELECT 'inventory' AS p, generation FROM inventory_view WHERE tenant_id = ?1
         UNION SELECT 'orders', generation FROM orders_view WHERE tenant_id = ?1) AS v
        WHERE v.generation <> coalesce((SELECT g.active FROM projection_generations g WHERE g.projection = v.p AND g.tenant_id = ?1), 0)`,
    )
      .bind(t.id)
      .all<{ p: string; generation: number }>();
    expect({ tenant: t.id, stray: stray.results }).toEqual({ tenant: t.id, stray: [] });
  }

  // Facts dropped before later facts of their entity: the consumer had a gap to repair.
  stats.droppedBeforeLaterFacts += r.dropped.filter((d) => d.seq < (lengths.get(d.entity) ?? 0)).length;
}

describe("the platform against its model", () => {
  afterAll(() => {
    const faults = Object.fromEntries(stats.faults);
    console.log(`model-based: ${JSON.stringify({ ...stats, faults })}`);
  });

  it(
    "keeps every promise under random commands, sagas and faults",
    async () => {
      let shrinking = false;
      await fc.assert(
        fc.asyncProperty(commands, async (cmds) => {
          if (!shrinking) stats.runs++;
          const model: Model = { stock: new Map(), restocked: new Map(), orders: [] };
          const real = await setUp(model);
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
            await quiesce(model, real);
            await checkInvariants(model, real);
          } catch (error) {
            // The first failure is the anomaly; the runs after it only shrink it.
            if (!shrinking) stats.anomalies++;
            shrinking = true;
            throw error;
          } finally {
            while (real.disarm.length) real.disarm.pop()?.();
          }
        }),
        { numRuns: RUNS },
      );
    },
    (RUNS + MAX_SHRINKS) * 60_000,
  );
});
