// Facts to the cloud: whatever the queue does — duplicates, reordering, loss, failures — the
// views converge on the fold of the entity logs, and nothing is applied twice.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../src/core/model/envelope.js";
import { armFault, armPause, armTransform, InjectedFault } from "../src/core/resilience/fault-injection.js";
import { CONSUMER_MAX_ATTEMPTS } from "../src/core/consumer/entity-plan.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { inventory, type InventoryState } from "../src/domain/inventory.js";
import { ADMIN_TOKEN, call, eventually, internalCommand, newTenant, tenantClient } from "./support/api.js";
import { deliver, deliverRaw, failConsumerFor, holdRelay, logOf } from "./support/facts.js";

const disarm: (() => void)[] = [];
afterEach(() => {
  while (disarm.length) disarm.pop()?.();
});

/** A tenant whose inventory item `sku` has a few facts recorded but not relayed. */
async function heldFacts(sku = "sku-1") {
  const tenant = await newTenant();
  disarm.push(holdRelay(tenant.id));
  const api = tenantClient(tenant.apiKey);
  await api.command("inventory", sku, "restock", { quantity: 10 });
  await api.command("inventory", sku, "reserve", { orderId: "o1", quantity: 3 });
  await api.command("inventory", sku, "reserve", { orderId: "o2", quantity: 2 });
  // Releasing and shipping are the order saga's (internal): sent as it sends them.
  await internalCommand(tenant.id, "inventory", sku, "release", { orderId: "o2" });
  await internalCommand(tenant.id, "inventory", sku, "ship", { orderId: "o1" });
  const log = await logOf(tenant.apiKey, "inventory", sku);
  return { tenant, api, log, sku };
}

type HeldFacts = Awaited<ReturnType<typeof heldFacts>>;

async function viewRow(apiKey: string, sku: string) {
  const res = await tenantClient(apiKey).get(`/v1/views/inventory/${sku}`);
  return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
}

function fold(log: readonly RecordedEvent[]) {
  const s = inventory.fold(log) as InventoryState;
  return { onHand: s.onHand, reserved: s.reserved, available: s.available, shipped: s.shipped, version: log.length };
}

describe("projection convergence", () => {
  it("applies the same batch delivered twice only once", async () => {
    const { tenant, log } = await heldFacts();
    await deliver(log);
    await deliver(log);
    expect(await viewRow(tenant.apiKey, "sku-1")).toMatchObject(fold(log));
  });

  it("converges when a batch arrives in reverse order", async () => {
    const { tenant, log } = await heldFacts();
    await deliver([...log].reverse());
    expect(await viewRow(tenant.apiKey, "sku-1")).toMatchObject(fold(log));
  });

  it("repairs a dropped message from the entity's own log", async () => {
    const { tenant, log } = await heldFacts();
    await deliver(log.filter((e) => e.seq !== 2));
    expect(await viewRow(tenant.apiKey, "sku-1")).toMatchObject(fold(log));
  });

  it("skips a fact of a type the projection has no handler for (renamed in code), advancing past it with no retry", async () => {
    const { tenant, log, sku } = await heldFacts();
    // The last fact (Shipped) as an older deployment named it, still on its way to the consumer.
    const renamed = log.map((e) => (e.seq === 5 ? { ...e, type: "Dispatched" } : e));
    const result = await deliver(renamed);
    expect(result.retryMessages).toEqual([]);
    expect(await viewRow(tenant.apiKey, sku)).toMatchObject({ ...fold(log.slice(0, 4)), version: 4 });
    const checkpoint = await env.DB.prepare(
      "SELECT seq FROM projection_checkpoints WHERE projection = 'inventory' AND tenant_id = ? AND entity_id = ?",
    )
      .bind(tenant.id, sku)
      .first<{ seq: number }>();
    expect(checkpoint?.seq).toBe(5);
  });

  it("repairs facts that arrive one at a time, newest first", async () => {
    const { tenant, log } = await heldFacts();
    for (const event of [...log].reverse()) await deliver([event]);
    expect(await viewRow(tenant.apiKey, "sku-1")).toMatchObject(fold(log));
  });
});

/** Delivers both entities' facts in one batch: `applied`'s reach the view, `retried`'s are all retried and none applied. */
async function expectAppliedWhileRetried(applied: HeldFacts, retried: HeldFacts): Promise<void> {
  const result = await deliver([...applied.log, ...retried.log]);
  expect(result.retryMessages.length).toBe(retried.log.length);
  expect(result.explicitAcks.length).toBe(applied.log.length);
  expect(await viewRow(applied.tenant.apiKey, applied.sku)).toMatchObject(fold(applied.log));
  expect(await viewRow(retried.tenant.apiKey, retried.sku)).toBeUndefined();
}

describe("concurrent deliveries", () => {
  it("plans again, with no retry, a delivery whose entity a concurrent delivery wrote between its reads and its write", async () => {
    const { tenant, log, sku } = await heldFacts();
    let raced = false;
    disarm.push(
      armPause("consumer.beforeWrite", async (ctx) => {
        if (ctx.tenant !== tenant.id || raced) return;
        raced = true;
        // The twin, carrying the older facts, reads and writes while this delivery waits.
        const twin = await deliver(log.slice(0, 2));
        expect(twin.explicitAcks).toHaveLength(2);
      }),
    );
    const result = await deliver(log);
    expect(raced).toBe(true);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(log.length);
    expect(await viewRow(tenant.apiKey, sku)).toMatchObject(fold(log));
  });
});

describe("consumer failures", () => {
  it("retries only the failing entity of a batch and applies the rest", async () => {
    const a = await heldFacts("a");
    const b = await heldFacts("b");
    const stopFailing = failConsumerFor(b.tenant.id, "b");
    await expectAppliedWhileRetried(a, b);

    stopFailing();
    await deliver(b.log, 2);
    expect(await viewRow(b.tenant.apiKey, "b")).toMatchObject(fold(b.log));
  });

  it("applies entity by entity when the delivery's one D1 batch fails", async () => {
    const a = await heldFacts("a");
    const b = await heldFacts("b");
    // A D1 error on the whole write: nothing of it is applied; each entity's own batch then succeeds.
    disarm.push(
      armFault("consumer.batch", (ctx) => {
        if (ctx.entityId === undefined) throw new InjectedFault("consumer.batch");
      }),
    );
    const result = await deliver([...a.log, ...b.log]);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks.length).toBe(a.log.length + b.log.length);
    expect(await viewRow(a.tenant.apiKey, "a")).toMatchObject(fold(a.log));
    expect(await viewRow(b.tenant.apiKey, "b")).toMatchObject(fold(b.log));
  });

  it("retries the facts whose D1 batch fails, then applies them exactly once", async () => {
    const a = await heldFacts("a");
    const b = await heldFacts("b");
    const stopFailing = armFault("consumer.batch", (ctx) => {
      if (ctx.entityId === undefined || ctx.tenant === b.tenant.id) throw new InjectedFault("consumer.batch");
    });
    disarm.push(stopFailing);
    await expectAppliedWhileRetried(a, b);

    stopFailing();
    // The retry, with a duplicate of what was already applied beside it: each fact counts once.
    await deliver([...b.log, ...a.log], 2);
    expect(await viewRow(a.tenant.apiKey, "a")).toMatchObject(fold(a.log));
    expect(await viewRow(b.tenant.apiKey, "b")).toMatchObject(fold(b.log));
  });

  it("records a message that is not a Factline fact as a dead letter without retrying it", async () => {
    const result = await deliverRaw([{ hello: "world" }]);
    expect(result.explicitAcks.length).toBe(1);
    const letters = await call("/admin/dead-letters?tenant=(unknown)", {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const body = (await letters.json()) as { items: { error: string }[] };
    expect(body.items.some((l) => l.error.startsWith("not a Factline fact"))).toBe(true);
  });

  it("dead-letters a fact that still fails on its last attempt, and replays it once the cause is fixed", async () => {
    const { tenant, log } = await heldFacts();
    const stopFailing = failConsumerFor(tenant.id);
    const result = await deliver(log, 5);
    expect(result.explicitAcks.length).toBe(log.length);
    stopFailing();

    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const listed = (await (await call(`/admin/dead-letters?tenant=${tenant.id}`, { headers: admin })).json()) as {
      items: { id: string; error: string; seq: number }[];
    };
    expect(listed.items.length).toBe(log.length);
    expect(listed.items[0]?.error).toContain("injected fault");

    for (const letter of listed.items) {
      const replay = await call(`/admin/dead-letters/${letter.id}/replay`, { method: "POST", headers: admin });
      expect(replay.status).toBe(202);
    }
    const row = await eventually(async () => {
      const r = await viewRow(tenant.apiKey, "sku-1");
      return r?.version === log.length ? r : undefined;
    });
    expect(row).toMatchObject(fold(log));
    const after = (await (await call(`/admin/dead-letters?tenant=${tenant.id}`, { headers: admin })).json()) as {
      items: unknown[];
    };
    expect(after.items).toEqual([]);
  });
});

describe("projection handler failures", () => {
  it("dead-letters a fact a projection's handler throws for, naming that projection in the letter and its error", async () => {
    const { tenant, log } = await heldFacts();
    // The first fact as the inventory handler cannot read it (no data): `delta` throws a TypeError.
    const unreadable = { ...(log[0] as RecordedEvent), data: null };
    const result = await deliver([unreadable], CONSUMER_MAX_ATTEMPTS);
    expect(result.explicitAcks.length).toBe(1);

    const listed = (await (
      await call(`/admin/dead-letters?tenant=${tenant.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as { items: { seq: number; projection: string | null; error: string }[] };
    expect(listed.items).toEqual([
      expect.objectContaining({
        seq: 1,
        projection: "inventory",
        error: expect.stringMatching(/^projection inventory: /),
      }),
    ]);
  });
});

describe("relay", () => {
  it("absorbs the duplicate sent after a crash between send and mark", async () => {
    const tenant = await newTenant();
    let crashes = 0;
    disarm.push(
      armFault("relay.afterSend", (ctx) => {
        if (ctx.tenant === tenant.id && crashes++ === 0) throw new InjectedFault("relay.afterSend");
      }),
    );
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "dup", "restock", { quantity: 4 });
    await api.command("inventory", "dup", "restock", { quantity: 1 });
    const log = await logOf(tenant.apiKey, "inventory", "dup");
    const row = await eventually(async () => {
      const r = await viewRow(tenant.apiKey, "dup");
      return r?.version === 2 ? r : undefined;
    });
    expect(crashes).toBeGreaterThan(1);
    expect(row).toMatchObject(fold(log));
  });

  it("keeps failed sends in the outbox and delivers them once the queue accepts again", async () => {
    const tenant = await newTenant();
    const release = holdRelay(tenant.id);
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "held", "restock", { quantity: 4 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await viewRow(tenant.apiKey, "held")).toBeUndefined();
    release();
    const row = await eventually(() => viewRow(tenant.apiKey, "held"), 20_000);
    expect(row).toMatchObject({ onHand: 4, version: 1 });
  });

  it("sends the facts an evicted object left in its outbox, from the object's alarm", async () => {
    const tenant = await newTenant();
    const release = holdRelay(tenant.id);
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "evicted", "restock", { quantity: 2 });
    await evictDurableObject(
      env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "evicted"))),
    );
    release();
    const row = await eventually(() => viewRow(tenant.apiKey, "evicted"), 20_000);
    expect(row).toMatchObject({ onHand: 2, version: 1 });
  });

  it("re-sends a fact lost on the way once its acknowledgement is overdue", async () => {
    const tenant = await newTenant();
    let dropped = 0;
    disarm.push(
      armTransform<unknown>("relay.batch", (batch, ctx) => {
        if (ctx.tenant !== tenant.id || dropped > 0) return batch;
        dropped += batch.length;
        return [];
      }),
    );
    await tenantClient(tenant.apiKey).command("inventory", "lost", "restock", { quantity: 3 });
    await eventually(async () => (dropped > 0 ? true : undefined));
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "lost")));
    // No acknowledgement comes: the commit's safety-net alarm runs and writes the cursors the
    // dropped send moved (until then they wait for an acknowledgement to write them).
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // The deadline passes at once instead of in 30 s (a restart makes the relay read it); the
    // alarm must still be set for it.
    await runInDurableObject(stub, (_actor, state) => {
      state.storage.sql.exec("UPDATE relay_state SET redeliver_at = 0");
    });
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const row = await eventually(() => viewRow(tenant.apiKey, "lost"), 20_000);
    expect(row).toMatchObject({ onHand: 3, version: 1 });
  });
});

describe("re-sends are probes, not floods", () => {
  /** An entity whose five facts were all lost on the way, and whose re-send deadline has passed. */
  async function lostTail(sku: string) {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const release = holdRelay(tenant.id);
    for (let i = 0; i < 5; i++) await api.command("inventory", sku, "restock", { quantity: 1 });
    const sent: number[][] = [];
    let dropping = true;
    disarm.push(
      armTransform<{ seq: number }>("relay.batch", (batch, ctx) => {
        if (ctx.tenant !== tenant.id) return batch;
        sent.push(batch.map((m) => m.seq));
        return dropping ? [] : batch;
      }),
    );
    release();
    await eventually(async () => (sent.flat().length >= 5 ? true : undefined), 20_000);
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", sku)));
    const overdue = () =>
      runInDurableObject(stub, (_actor, state) => {
        state.storage.sql.exec("UPDATE relay_state SET redeliver_at = 0");
      });
    await overdue();
    await evictDurableObject(stub);
    return {
      tenant,
      stub,
      sent,
      overdue,
      deliver: () => {
        dropping = false;
      },
    };
  }

  it("re-sends only the newest unacknowledged fact, and the consumer repairs the rest from the log", async () => {
    const { tenant, stub, sent, deliver } = await lostTail("probe");
    sent.length = 0;
    deliver();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toEqual([[5]]);
    const row = await eventually(async () => {
      const r = await viewRow(tenant.apiKey, "probe");
      return r?.version === 5 ? r : undefined;
    }, 20_000);
    expect(row).toMatchObject({ onHand: 5 });
  });

  it("doubles the wait before the next probe while nothing is acknowledged", async () => {
    const { stub, sent, overdue } = await lostTail("backoff");
    const deadline = () =>
      runInDurableObject(stub, (_actor, state) =>
        state.storage.sql
          .exec<{ redeliver_at: number; redeliveries: number }>("SELECT redeliver_at, redeliveries FROM relay_state")
          .one(),
      );
    sent.length = 0;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const first = await deadline();
    await overdue();
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const second = await deadline();
    expect(sent).toEqual([[5], [5]]);
    expect(second.redeliveries).toBe(first.redeliveries + 1);
    // 30 s × 2^n: each wait is twice the one before (measured from the probe, so allow the test's own time).
    expect(second.redeliver_at - Date.now()).toBeGreaterThan(1.5 * (first.redeliver_at - Date.now()));
  });
});

describe("read your writes", () => {
  it("answers Factline-Stale when the view has not caught up with the presented write", async () => {
    const tenant = await newTenant();
    disarm.push(holdRelay(tenant.id));
    const api = tenantClient(tenant.apiKey);
    const res = await api.command("inventory", "ryw", "restock", { quantity: 1 });
    const token = res.headers.get("factline-consistency")!;
    const list = await api.get("/v1/views/inventory", { "factline-consistency": token });
    expect(list.status).toBe(200);
    expect(list.headers.get("factline-stale")).toBe("true");
  });

  it("waits for the view to include the presented write", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const res = await api.command("inventory", "ryw", "restock", { quantity: 1 });
    const read = await api.get("/v1/views/inventory/ryw", {
      "factline-consistency": res.headers.get("factline-consistency")!,
    });
    expect(read.status).toBe(200);
    expect(read.headers.get("factline-stale")).toBeNull();
    expect(await read.json()).toMatchObject({ onHand: 1, version: 1 });
  });

  it("refuses another tenant's token", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const res = await tenantClient(a.apiKey).command("inventory", "x", "restock", { quantity: 1 });
    const read = await tenantClient(b.apiKey).get("/v1/views/inventory", {
      "factline-consistency": res.headers.get("factline-consistency")!,
    });
    expect(read.status).toBe(400);
  });
});

describe("backpressure", () => {
  it("sheds commands with 429 and Retry-After while the consumer is stalled, then recovers without losing any", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const resumeConsumer = failConsumerFor(tenant.id);
    disarm.push(resumeConsumer);
    const bound = Number(env.ENTITY_MAX_BACKLOG);
    let accepted = 0;
    let shed: Response | undefined;
    while (!shed && accepted <= bound) {
      const burst = await Promise.all(
        Array.from({ length: 25 }, () => api.command("inventory", "busy", "restock", { quantity: 1 })),
      );
      accepted += burst.filter((r) => r.status === 200).length;
      shed = burst.find((r) => r.status !== 200);
    }
    expect(shed?.status).toBe(429);
    expect(Number(shed?.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await shed?.json()).toMatchObject({ type: "https://factline.dev/problems/backlog-full" });
    // Reads keep working while writes are shed.
    expect((await api.get("/v1/entities/inventory/busy")).status).toBe(200);

    resumeConsumer();
    const more = await eventually(async () => {
      const res = await api.command("inventory", "busy", "restock", { quantity: 1 });
      return res.status === 200 ? res : undefined;
    }, 30_000);
    expect(more.status).toBe(200);
    accepted++;
    const entity = (await (await api.get("/v1/entities/inventory/busy")).json()) as {
      version: number;
      state: { onHand: number };
    };
    expect(entity).toMatchObject({ version: accepted, state: { onHand: accepted } });
    // About ENTITY_MAX_BACKLOG commands before the first is shed: past 30 s on a loaded machine.
  }, 120_000);
});
