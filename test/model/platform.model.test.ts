// Model-based test of the whole flow with fast-check: random commands across entities and tenants,
// interleaved with random faults (failed sends, dropped, duplicated, reordered and delayed
// messages, a stalled consumer, entity restarts), checked against a pure model once quiet:
// every accepted command's events are in the log exactly once and gapless, every view equals
// the fold of its log, inventory is never oversold, and no tenant sees another's data.
// A failing run prints its seed and shrunk counterexample. FACTLINE_MODEL_RUNS sets the run count.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { FactCloudEvent } from "../../src/core/cloud-event.js";
import { isRejection } from "../../src/core/entity.js";
import type { RecordedEvent } from "../../src/core/envelope.js";
import { armFault, armTransform, InjectedFault } from "../../src/core/fault-injection.js";
import { entityObjectName } from "../../src/core/identifiers.js";
import { inventory, type InventoryState } from "../../src/domain/inventory.js";
import { eventually, newTenant, tenantClient } from "../support/api.js";
import { deliverRaw, logOf } from "../support/facts.js";

const RUNS = Number((env as unknown as { MODEL_RUNS?: string }).MODEL_RUNS ?? "12");
const SKUS = ["s0", "s1"] as const;
const ORDERS = ["o0", "o1", "o2", "o3"] as const;

type BatchOp = "drop" | "duplicate" | "reverse" | "delay";

interface Model {
  /** Per tenant index and SKU: the state the accepted commands imply, and their event count. */
  readonly stock: Map<string, { state: InventoryState; events: number }>;
}

interface Real {
  readonly tenants: { id: string; apiKey: string }[];
  readonly relayFailing: Set<string>;
  readonly consumerFailing: Set<string>;
  nextBatchOp: BatchOp | null;
  readonly delayed: FactCloudEvent[];
  readonly disarm: (() => void)[];
}

const stats = { runs: 0, commands: 0, accepted: 0, rejected: 0, shed: 0, faults: new Map<string, number>(), anomalies: 0 };
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

class SendCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: number,
    readonly sku: string,
    readonly command: "restock" | "reserve" | "release" | "ship",
    readonly body: Record<string, unknown>,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    stats.commands++;
    const entry = modelEntry(m, this.tenant, this.sku);
    const parsed = inventory.parseCommand(this.command, this.body);
    if (!parsed?.ok) throw new Error("generator produced an invalid command");
    const decision = inventory.decide(entry.state, parsed.command);
    const res = await tenantClient(r.tenants[this.tenant]!.apiKey).command("inventory", this.sku, this.command, this.body);
    if (res.status === 429) {
      stats.shed++;
      return;
    }
    if (isRejection(decision)) {
      expect(res.status).toBe(422);
      stats.rejected++;
      return;
    }
    expect(res.status).toBe(200);
    stats.accepted++;
    entry.state = inventory.fold(decision, entry.state) as InventoryState;
    entry.events += decision.length;
    expect(entry.state.available).toBeGreaterThanOrEqual(0);
  }
  toString = () => `${this.command}(t${this.tenant}/${this.sku}, ${JSON.stringify(this.body)})`;
}

class ToggleFault implements fc.AsyncCommand<Model, Real> {
  constructor(readonly where: "relay" | "consumer", readonly tenant: number) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    const set = this.where === "relay" ? r.relayFailing : r.consumerFailing;
    const id = r.tenants[this.tenant]!.id;
    if (set.has(id)) set.delete(id);
    else {
      set.add(id);
      countFault(this.where === "relay" ? "queue send failing" : "consumer stalled");
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

class Restart implements fc.AsyncCommand<Model, Real> {
  constructor(readonly tenant: number, readonly sku: string) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    if (!m.stock.has(key(this.tenant, this.sku))) return;
    countFault("entity restarted");
    await evictDurableObject(stubOf(r.tenants[this.tenant]!.id, this.sku)).catch(() => undefined);
  }
  toString = () => `restart t${this.tenant}/${this.sku}`;
}

const stubOf = (tenant: string, sku: string) => env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, "inventory", sku)));

const quantity = fc.integer({ min: 1, max: 5 });
const sku = fc.constantFrom(...SKUS);
const order = fc.constantFrom(...ORDERS);
const tenant = fc.integer({ min: 0, max: 1 });

const commands = fc.commands(
  [
    fc.tuple(tenant, sku, quantity).map(([t, s, q]) => new SendCommand(t, s, "restock", { quantity: q })),
    fc.tuple(tenant, sku, quantity).map(([t, s, q]) => new SendCommand(t, s, "restock", { quantity: q })),
    fc.tuple(tenant, sku, order, quantity).map(([t, s, o, q]) => new SendCommand(t, s, "reserve", { orderId: o, quantity: q })),
    fc.tuple(tenant, sku, order).map(([t, s, o]) => new SendCommand(t, s, "release", { orderId: o })),
    fc.tuple(tenant, sku, order).map(([t, s, o]) => new SendCommand(t, s, "ship", { orderId: o })),
    fc.tuple(fc.constantFrom("relay" as const, "consumer" as const), tenant).map(([w, t]) => new ToggleFault(w, t)),
    fc.constantFrom<BatchOp>("drop", "duplicate", "reverse", "delay").map((op) => new NextBatch(op)),
    fc.constant(new NextBatch("drop")),
    fc.constant(new DeliverDelayed()),
    fc.tuple(tenant, sku).map(([t, s]) => new Restart(t, s)),
  ],
  { maxCommands: 30, size: "large" },
);

async function setUp(): Promise<Real> {
  const r: Real = {
    tenants: [await newTenant("m"), await newTenant("m")],
    relayFailing: new Set(),
    consumerFailing: new Set(),
    nextBatchOp: null,
    delayed: [],
    disarm: [],
  };
  const mine = new Set(r.tenants.map((t) => t.id));
  r.disarm.push(
    armFault("relay.send", (ctx) => {
      if (ctx.tenant && r.relayFailing.has(ctx.tenant)) throw new InjectedFault("relay.send");
    }),
    armFault("consumer.apply", (ctx) => {
      if (ctx.tenant && r.consumerFailing.has(ctx.tenant)) throw new InjectedFault("consumer.apply");
    }),
    armTransform<FactCloudEvent>("relay.batch", (batch, ctx) => {
      const op = r.nextBatchOp;
      if (!op || !ctx.tenant || !mine.has(ctx.tenant) || batch.length === 0) return batch;
      r.nextBatchOp = null;
      countFault(`message ${op}`);
      if (op === "drop") return batch.slice(1);
      if (op === "duplicate") return [...batch, ...batch];
      if (op === "reverse") return [...batch].reverse();
      r.delayed.push(...batch);
      return [];
    }),
  );
  return r;
}

/** Lets the system go quiet: faults off, late messages delivered, unacknowledged facts re-sent. */
async function quiesce(m: Model, r: Real): Promise<void> {
  while (r.disarm.length) r.disarm.pop()?.();
  if (r.delayed.length > 0) await deliverRaw(r.delayed.splice(0));
  for (const k of m.stock.keys()) {
    const [t, s] = k.split("/") as [string, string];
    const stub = stubOf(r.tenants[Number(t)]!.id, s);
    // Let the acknowledgement timeout pass at once: whatever was lost on the way is sent again.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE relay_state SET redeliver_at = 0 WHERE acked_up_to < sent_up_to");
    });
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
  }
}

async function checkInvariants(m: Model, r: Real): Promise<void> {
  for (const [k, expected] of m.stock) {
    const [t, s] = k.split("/") as [string, string];
    const tenantRef = r.tenants[Number(t)]!;
    const log: RecordedEvent[] = expected.events === 0 ? [] : await logOf(tenantRef.apiKey, "inventory", s);
    // Exactly once, gapless, and nothing but this tenant's own commands.
    expect(log.map((e) => e.seq)).toEqual(Array.from({ length: expected.events }, (_, i) => i + 1));
    expect(new Set(log.map((e) => e.meta.eventId)).size).toBe(log.length);
    expect(log.every((e) => e.meta.tenant === tenantRef.id)).toBe(true);
    // Never oversold at any point of the log.
    let state = inventory.initialState() as InventoryState;
    for (const e of log) {
      state = inventory.evolve(state, e) as InventoryState;
      expect(state.available).toBeGreaterThanOrEqual(0);
    }
    expect(state).toEqual(expected.state);
    if (expected.events === 0) continue;
    // The view converges on the fold of the log.
    await eventually(async () => {
      const res = await tenantClient(tenantRef.apiKey).get(`/v1/views/inventory/${s}`);
      if (res.status !== 200) return undefined;
      const row = (await res.json()) as Record<string, number>;
      return row.version === log.length && row.onHand === state.onHand && row.reserved === state.reserved && row.available === state.available && row.shipped === state.shipped
        ? true
        : undefined;
    }, 30_000);
  }
}

describe("the platform against its model", () => {
  afterAll(() => {
    const faults = Object.fromEntries(stats.faults);
    console.log(`model-based: ${JSON.stringify({ ...stats, faults })}`);
  });

  it("keeps every promise under random commands and faults", async () => {
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        stats.runs++;
        const real = await setUp();
        const model: Model = { stock: new Map() };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await quiesce(model, real);
          await checkInvariants(model, real);
        } catch (error) {
          stats.anomalies++;
          throw error;
        } finally {
          while (real.disarm.length) real.disarm.pop()?.();
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 600_000);
});
