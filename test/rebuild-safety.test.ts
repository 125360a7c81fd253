// Projection rebuilds under crashes and races: every step may run twice, starts may race, and
// consumer batches may read the generations just before a rebuild starts or switches. In every
// case the view ends equal to the fold of the entity logs, with no rows left in other generations.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { afterEach, describe, expect, it } from "vitest";
import { inventoryProjection } from "../src/domain/projections/inventory.js";
import { rebuildRetryDelay, SWITCH_CATCH_UP_LIMIT } from "../src/core/projection/rebuild-job.js";
import type { ProjectionRebuilder } from "../cloud/projections/projection-rebuilder.js";
import { armFault, armPause, InjectedFault } from "../src/core/resilience/fault-injection.js";
import { ADMIN_TOKEN, call, eventually, newTenant, tenantClient } from "./support/api.js";
import { deliver, holdRelay, logOf } from "./support/facts.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const disarm: (() => void)[] = [];
afterEach(() => {
  while (disarm.length) disarm.pop()?.();
});

interface RebuildView {
  generation: number;
  phase: string;
  entitiesDone: number;
  failures: number;
  lastError: string | null;
  retryAt: number | null;
}

async function rebuildOf(tenant: string): Promise<RebuildView | null> {
  const res = await call(`/admin/projections?tenant=${tenant}`, { headers: admin });
  const body = (await res.json()) as { items: { name: string; rebuild: RebuildView | null }[] };
  return body.items.find((p) => p.name === "inventory")!.rebuild;
}

function startRebuild(tenant: string): Promise<Response> {
  return call(`/admin/projections/inventory/rebuild?tenant=${tenant}`, { method: "POST", headers: admin });
}

async function rebuilt(tenant: string): Promise<void> {
  await eventually(async () => ((await rebuildOf(tenant)) === null ? true : undefined), 20_000);
}

function rebuilder(tenant: string) {
  return env.REBUILDER.get(env.REBUILDER.idFromName(`inventory:${tenant}`));
}

/** The inventory view row and the entity's own state, which the row must equal. */
async function rowAndState(apiKey: string, sku: string) {
  const api = tenantClient(apiKey);
  const row = (await (await api.get(`/v1/views/inventory/${sku}`)).json()) as Record<string, unknown>;
  const entity = (await (await api.get(`/v1/entities/inventory/${sku}`)).json()) as {
    version: number;
    state: Record<string, unknown>;
  };
  return {
    row: { onHand: row["onHand"], reserved: row["reserved"], available: row["available"], version: row["version"] },
    fold: {
      onHand: entity.state["onHand"],
      reserved: entity.state["reserved"],
      available: entity.state["available"],
      version: entity.version,
    },
  };
}

/** Generations that still hold rows or checkpoints of the tenant's inventory view. */
async function generationsWithData(tenant: string): Promise<number[]> {
  const rows = await env.DB.prepare(
    `SELECT generation FROM inventory_view WHERE tenant_id = ?1
     UNION SELECT generation FROM projection_checkpoints WHERE projection = 'inventory' AND tenant_id = ?1 ORDER BY generation`,
  )
    .bind(tenant)
    .all<{ generation: number }>();
  return rows.results.map((r) => r.generation);
}

async function settledRow(apiKey: string, sku: string, version: number) {
  return eventually(async () => {
    const res = await tenantClient(apiKey).get(`/v1/views/inventory/${sku}`);
    const row = res.status === 200 ? ((await res.json()) as { version: number }) : undefined;
    return row?.version === version ? row : undefined;
  });
}

/** The rebuild's status once one of its steps has failed (it then backs off). */
function failedStep(tenant: string): Promise<RebuildView> {
  return eventually(async () => {
    const status = await rebuildOf(tenant);
    return status && status.failures > 0 ? status : undefined;
  });
}

/**
 * Rewrites the first event of each inventory entity `skus` of the tenant as if stored at schema
 * `version` (0: below every upcaster, so its log cannot be lifted; the reference domain's upcasters
 * all work), and evicts each so its next read lifts the log afresh.
 */
async function storeFirstEventAt(tenant: string, skus: readonly string[], version: number): Promise<void> {
  for (const sku of skus) {
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, "inventory", sku)));
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE events SET schema_version = ? WHERE seq = 1", version);
    });
    await evictDurableObject(stub);
  }
}

/** The tenant's inventory feed, all of it: each change's entity id and seq. */
async function feedOf(apiKey: string): Promise<string[]> {
  const res = await tenantClient(apiKey).get("/v1/views/inventory/changes/stream?offset=-1");
  return ((await res.json()) as { entity: { id: string }; seq: number }[]).map((c) => `${c.entity.id}#${c.seq}`);
}

/** The tenant's inventory generations: the one serving reads and the one a rebuild fills. */
function generationsOf(tenant: string) {
  return env.DB.prepare(
    "SELECT active, building FROM projection_generations WHERE projection = 'inventory' AND tenant_id = ?",
  )
    .bind(tenant)
    .first<{ active: number; building: number | null }>();
}

/**
 * Checkpoints at seq 1 in `generation` for inventory entities `ids` of the tenant, in one statement,
 * as if that generation had applied each one's first fact (the entities themselves do not exist).
 */
function checkpointsAt(tenant: string, generation: number, ids: readonly string[]) {
  return env.DB.prepare(
    `INSERT INTO projection_checkpoints (projection, generation, tenant_id, entity_type, entity_id, seq, recorded_at, applied_at)
     SELECT 'inventory', ?, ?, 'inventory', value, 1, 0, 0 FROM json_each(?)`,
  )
    .bind(generation, tenant, JSON.stringify(ids))
    .run();
}

/**
 * A tenant with `applied` restocked once and that fact in the view, then `unseen` restocked with
 * its fact held from the consumer (the relay held until the test ends).
 */
async function consumerBehind(prefix: string, applied = "a", unseen = "a", quantity = 2) {
  const tenant = await newTenant(prefix);
  const api = tenantClient(tenant.apiKey);
  await api.command("inventory", applied, "restock", { quantity: 1 });
  await settledRow(tenant.apiKey, applied, 1);
  disarm.push(holdRelay(tenant.id));
  await api.command("inventory", unseen, "restock", { quantity });
  return tenant;
}

describe("rebuild steps run twice", () => {
  it("keeps the new generation when the finish runs again after its switch committed", async () => {
    const tenant = await newTenant("f3");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "a", "restock", { quantity: 6 });
    await api.command("inventory", "a", "reserve", { orderId: "o1", quantity: 2 });
    await settledRow(tenant.apiKey, "a", 2);
    let crashes = 0;
    disarm.push(
      armFault("rebuild.afterSwitch", (ctx) => {
        // D1 committed the switch, then the step failed: the alarm runs the finish again.
        if (ctx.tenant === tenant.id && crashes++ === 0) throw new InjectedFault("rebuild.afterSwitch");
      }),
    );
    expect((await startRebuild(tenant.id)).status).toBe(202);
    await rebuilt(tenant.id);
    expect(crashes).toBeGreaterThanOrEqual(2);

    const after = await rowAndState(tenant.apiKey, "a");
    expect(after.row).toEqual(after.fold);
    expect(await generationsWithData(tenant.id)).toEqual([1]);
    // Later deltas land on the rebuilt row, not on a row cleared under its checkpoint.
    await api.command("inventory", "a", "restock", { quantity: 1 });
    await settledRow(tenant.apiKey, "a", 3);
    const later = await rowAndState(tenant.apiKey, "a");
    expect(later.row).toEqual(later.fold);
  });

  it("clears an old generation in chunks that never touch the kept one", async () => {
    const tenant = `chunk-${Date.now().toString(36)}`;
    const insert = (generation: number, sku: string) =>
      env.DB.prepare("INSERT INTO inventory_view (tenant_id, generation, sku, updated_at) VALUES (?, ?, ?, '')").bind(
        tenant,
        generation,
        sku,
      );
    await env.DB.batch([insert(0, "a"), insert(0, "b"), insert(0, "c"), insert(1, "a")]);
    const db = drizzle(env.DB);
    const chunk = async () => {
      const [statement] = inventoryProjection.clear(db, { tenant, keep: 1 }, 2);
      const result = (await db.batch([statement!]))[0] as D1Result;
      return result.meta.changes;
    };
    expect([await chunk(), await chunk(), await chunk()]).toEqual([2, 1, 0]);
    const left = await env.DB.prepare("SELECT generation, sku FROM inventory_view WHERE tenant_id = ?")
      .bind(tenant)
      .all();
    expect(left.results).toEqual([{ generation: 1, sku: "a" }]);
  });
});

describe("the switch", () => {
  it("waits for an entity that fell behind in the new generation after the re-scan, then switches with it", async () => {
    const tenant = await newTenant("hold");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "a", "restock", { quantity: 2 });
    await api.command("inventory", "b", "restock", { quantity: 3 });
    await settledRow(tenant.apiKey, "a", 1);
    await settledRow(tenant.apiKey, "b", 1);
    let held = 0;
    disarm.push(
      armPause("rebuild.beforeSwitch", async (ctx) => {
        if (ctx.tenant !== tenant.id || held++ > 0) return;
        // Entity b leaves the new generation (its row and checkpoint) right after the re-scan.
        await env.DB.batch([
          env.DB.prepare("DELETE FROM inventory_view WHERE tenant_id = ? AND generation = 1 AND sku = 'b'").bind(
            tenant.id,
          ),
          env.DB.prepare(
            "DELETE FROM projection_checkpoints WHERE projection = 'inventory' AND tenant_id = ? AND generation = 1 AND entity_id = 'b'",
          ).bind(tenant.id),
        ]);
      }),
    );
    expect((await startRebuild(tenant.id)).status).toBe(202);
    await rebuilt(tenant.id);
    expect(held).toBeGreaterThanOrEqual(2);
    for (const sku of ["a", "b"]) {
      const row = await rowAndState(tenant.apiKey, sku);
      expect(row.row).toEqual(row.fold);
    }
  });

  it("waits, with its reason in the rebuild's status, while more than 1,000 entities wait for the consumer, then switches once it has caught up", async () => {
    // The replay takes a to its second fact, which the consumer has not applied; at the switch, the
    // new generation also shows SWITCH_CATCH_UP_LIMIT entities the old one lacks (checkpoints only:
    // the switch counts the entities ahead before it reads any of their facts).
    const tenant = await consumerBehind("switch-wait");
    const others = Array.from({ length: SWITCH_CATCH_UP_LIMIT }, (_, i) => `ahead-${i}`);
    const switchAttempts: number[] = [];
    disarm.push(
      armPause("rebuild.beforeSwitch", async (ctx) => {
        if (ctx.tenant !== tenant.id) return;
        switchAttempts.push(Date.now());
        if (switchAttempts.length === 1) await checkpointsAt(tenant.id, 1, others);
      }),
    );
    expect((await startRebuild(tenant.id)).status).toBe(202);
    const waiting = await failedStep(tenant.id);

    expect(waiting).toMatchObject({
      phase: "replaying",
      lastError: `more than ${SWITCH_CATCH_UP_LIMIT} entities wait for the consumer before the switch`,
    });
    // Backed off, not re-tried at once: every switch attempt so far failed (a retry due 1 s after the
    // first may have run on a loaded machine), and the next waits its delay after the latest.
    const attempt = switchAttempts[waiting.failures - 1]!;
    expect(waiting.retryAt! - attempt).toBeGreaterThanOrEqual(rebuildRetryDelay(waiting.failures));
    // The old generation still serves, and the feed lists nothing the new one shows ahead of it.
    expect(await generationsOf(tenant.id)).toEqual({ active: 0, building: 1 });
    expect((await rowAndState(tenant.apiKey, "a")).row.version).toBe(1);
    expect(await feedOf(tenant.apiKey)).toEqual(["a#1"]);

    // The consumer catches up: it applies a's second fact, and the old generation the others.
    await deliver(await logOf(tenant.apiKey, "inventory", "a"));
    await checkpointsAt(tenant.id, 0, others);
    await runDurableObjectAlarm(rebuilder(tenant.id));
    await rebuilt(tenant.id);
    expect(await generationsOf(tenant.id)).toEqual({ active: 1, building: null });
    expect(await feedOf(tenant.apiKey)).toEqual(["a#1", "a#2"]);
    const row = await rowAndState(tenant.apiKey, "a");
    expect(row.row).toEqual(row.fold);
  });
});

describe("a rebuild with entities it cannot replay", () => {
  it("replays the others, names the entity in its status, and completes once the entity's log lifts again", async () => {
    const tenant = await newTenant("unliftable");
    const api = tenantClient(tenant.apiKey);
    for (const sku of ["a", "b", "c"]) {
      await api.command("inventory", sku, "restock", { quantity: 2 });
      await settledRow(tenant.apiKey, sku, 1);
    }
    await storeFirstEventAt(tenant.id, ["b"], 0);

    expect((await startRebuild(tenant.id)).status).toBe(202);
    expect(await failedStep(tenant.id)).toMatchObject({
      phase: "replaying",
      entitiesDone: 2,
      lastError: expect.stringContaining("inventory/b: inventory b: its stored log cannot be folded"),
    });

    await storeFirstEventAt(tenant.id, ["b"], 2);
    await runDurableObjectAlarm(rebuilder(tenant.id));
    await rebuilt(tenant.id);
    for (const sku of ["a", "b", "c"]) {
      const row = await rowAndState(tenant.apiKey, sku);
      expect(row.row).toEqual(row.fold);
    }
  });

  it("moves a step's worth of them behind the rest, so the entities after them are still replayed", async () => {
    const tenant = await newTenant("unliftable-many");
    const api = tenantClient(tenant.apiKey);
    const bad = Array.from({ length: 20 }, (_, i) => `a${String(i).padStart(2, "0")}`);
    for (const sku of [...bad, "z"]) await api.command("inventory", sku, "restock", { quantity: 1 });
    for (const sku of [...bad, "z"]) await settledRow(tenant.apiKey, sku, 1);
    await storeFirstEventAt(tenant.id, bad, 0);

    expect((await startRebuild(tenant.id)).status).toBe(202);
    // The first step meets only the 20 (listed first); the next one reaches z.
    const status = await eventually(async () => {
      const s = await rebuildOf(tenant.id);
      return s && s.entitiesDone === 1 ? s : undefined;
    }, 20_000);
    expect(status).toMatchObject({ phase: "replaying", lastError: expect.stringContaining("inventory/a00") });

    await storeFirstEventAt(tenant.id, bad, 2);
    await runDurableObjectAlarm(rebuilder(tenant.id));
    await rebuilt(tenant.id);
  });
});

describe("rebuild jobs of the previous layout", () => {
  it("restarts a job left by the previous rebuilder from its preparation, and completes it", async () => {
    const tenant = await newTenant("legacy");
    await tenantClient(tenant.apiKey).command("inventory", "a", "restock", { quantity: 2 });
    await settledRow(tenant.apiKey, "a", 1);
    const stub = rebuilder(tenant.id);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec(
        "CREATE TABLE job (singleton INTEGER PRIMARY KEY, projection TEXT, tenant TEXT, generation INTEGER, total INTEGER, started_at INTEGER)",
      );
      state.storage.sql.exec("INSERT INTO job VALUES (1, 'inventory', ?, 7, 1, ?)", tenant.id, Date.now());
    });
    await evictDurableObject(stub);
    expect(await rebuildOf(tenant.id)).toMatchObject({ phase: "preparing", generation: 0 });
    await rebuilt(tenant.id);
    const row = await rowAndState(tenant.apiKey, "a");
    expect(row.row).toEqual(row.fold);
    expect(await generationsWithData(tenant.id)).toEqual([1]);
  });
});

describe("rebuild starts", () => {
  it("answers twelve concurrent starts with one 202 and eleven 409 rebuild-in-progress", async () => {
    const tenant = await newTenant("f6a");
    await tenantClient(tenant.apiKey).command("inventory", "a", "restock", { quantity: 1 });
    const answers = await Promise.all(Array.from({ length: 12 }, () => startRebuild(tenant.id)));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([202, ...Array<number>(11).fill(409)]);
    for (const res of answers.filter((r) => r.status === 409)) {
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(((await res.json()) as { type: string }).type).toBe("https://factline.dev/problems/rebuild-in-progress");
    }
    await rebuilt(tenant.id);
  });

  it("keeps a new entity whose first fact was applied by a batch that read the generations before the start", async () => {
    const tenant = await consumerBehind("f6b", "old", "new", 4);
    let paused = false;
    disarm.push(
      armPause("consumer.beforeWrite", async (ctx) => {
        if (ctx.tenant !== tenant.id || paused) return;
        paused = true;
        // The batch has read "no rebuild"; the rebuild starts and lists entities before it writes.
        expect((await startRebuild(tenant.id)).status).toBe(202);
      }),
    );
    await deliver(await logOf(tenant.apiKey, "inventory", "new"));
    expect(paused).toBe(true);
    await rebuilt(tenant.id);

    const row = await rowAndState(tenant.apiKey, "new");
    expect(row.row).toEqual(row.fold);
    expect(await generationsWithData(tenant.id)).toEqual([1]);
  });

  it("leaves no orphan rows when a batch that read the old generation writes after the switch", async () => {
    const tenant = await consumerBehind("f16");
    let paused = false;
    disarm.push(
      armPause("consumer.beforeWrite", async (ctx) => {
        if (ctx.tenant !== tenant.id || paused) return;
        paused = true;
        // The batch has read generation 0 as active; a whole rebuild switches and clears it.
        expect((await startRebuild(tenant.id)).status).toBe(202);
        await rebuilt(tenant.id);
      }),
    );
    await deliver(await logOf(tenant.apiKey, "inventory", "a"));
    expect(paused).toBe(true);

    expect(await generationsWithData(tenant.id)).toEqual([1]);
    const row = await rowAndState(tenant.apiKey, "a");
    expect(row.row).toEqual(row.fold);
  });
});

describe("a view's change feed across a rebuild", () => {
  it("lists, from the switch on, a fact the replay applied before the consumer did, once", async () => {
    const tenant = await consumerBehind("feed-switch");
    expect((await startRebuild(tenant.id)).status).toBe(202);
    await rebuilt(tenant.id);
    // The view shows the second fact from the switch; so does the feed.
    expect(await feedOf(tenant.apiKey)).toEqual(["a#1", "a#2"]);
    // The consumer's late delivery finds it applied and records nothing more.
    await deliver(await logOf(tenant.apiKey, "inventory", "a"));
    expect(await feedOf(tenant.apiKey)).toEqual(["a#1", "a#2"]);
    const row = await rowAndState(tenant.apiKey, "a");
    expect(row.row).toEqual(row.fold);
  });

  it("records nothing twice when the switch step runs again", async () => {
    const tenant = await consumerBehind("feed-again");
    let crashed = false;
    disarm.push(
      armFault("rebuild.afterSwitch", (ctx) => {
        if (ctx.tenant !== tenant.id || crashed) return;
        crashed = true;
        throw new InjectedFault("rebuild.afterSwitch");
      }),
    );
    expect((await startRebuild(tenant.id)).status).toBe(202);
    await eventually(async () => (crashed ? true : undefined));
    await runDurableObjectAlarm(rebuilder(tenant.id));
    await rebuilt(tenant.id);
    expect(await feedOf(tenant.apiKey)).toEqual(["a#1", "a#2"]);
  });
});

describe("rebuild failures and load", () => {
  it("retries a failing step with growing delay and shows the failures in the projection status", async () => {
    const tenant = await newTenant("f15");
    await tenantClient(tenant.apiKey).command("inventory", "a", "restock", { quantity: 1 });
    await settledRow(tenant.apiKey, "a", 1);
    // When each step failed: the first retry is due 1 s later, and on a loaded machine that alarm
    // can fire on its own before the test runs it, so the checks count the failures that happened.
    const failedAt: number[] = [];
    const stop = armFault("rebuild.step", (ctx) => {
      if (ctx.tenant !== tenant.id) return;
      failedAt.push(Date.now());
      throw new InjectedFault("rebuild.step");
    });
    disarm.push(stop);
    expect((await startRebuild(tenant.id)).status).toBe(202);
    const first = (await rebuildOf(tenant.id))!;
    expect(first).toMatchObject({ lastError: "injected fault at rebuild.step", phase: "preparing" });
    expect(first.failures).toBeGreaterThanOrEqual(1);

    // Runs the retry if it is still waiting.
    await runDurableObjectAlarm(rebuilder(tenant.id));
    const second = (await rebuildOf(tenant.id))!;
    expect(second.failures).toBeGreaterThanOrEqual(2);
    expect(second.failures).toBe(failedAt.length);
    expect(second.retryAt! - failedAt[failedAt.length - 1]!).toBeGreaterThanOrEqual(rebuildRetryDelay(second.failures));
    expect(rebuildRetryDelay(2)).toBe(2 * rebuildRetryDelay(1));
    expect(rebuildRetryDelay(1_000)).toBe(rebuildRetryDelay(30));

    stop();
    await runDurableObjectAlarm(rebuilder(tenant.id));
    await rebuilt(tenant.id);
    const row = await rowAndState(tenant.apiKey, "a");
    expect(row.row).toEqual(row.fold);
  });

  it("fails, with backoff, the steps of a job whose projection the deployment no longer has", async () => {
    const tenant = `gone-${Date.now().toString(36)}`;
    const stub = rebuilder(tenant);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec(
        "INSERT INTO rebuild_job (singleton, projection, tenant, generation, previous, phase, total, started_at) VALUES (1, 'gone', ?, 0, 0, 'preparing', 0, ?)",
        tenant,
        Date.now(),
      );
      return state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const status = await runInDurableObject(stub, (instance: ProjectionRebuilder) => instance.status());
    expect(status).toMatchObject({
      projection: "gone",
      phase: "preparing",
      failures: 1,
      lastError: "no rebuild job of a known projection",
    });
    expect(status?.retryAt).not.toBeNull();
  });

  it("backs off, instead of spinning, while D1 refuses every replay batch", async () => {
    const tenant = await newTenant("f15d");
    await tenantClient(tenant.apiKey).command("inventory", "a", "restock", { quantity: 1 });
    await settledRow(tenant.apiKey, "a", 1);
    const stop = armFault("rebuild.batch", (ctx) => {
      if (ctx.tenant === tenant.id) throw new InjectedFault("rebuild.batch");
    });
    disarm.push(stop);
    expect((await startRebuild(tenant.id)).status).toBe(202);
    const failing = await eventually(async () => {
      const status = await rebuildOf(tenant.id);
      return status && status.failures > 0 ? status : undefined;
    });
    expect(failing).toMatchObject({
      phase: "replaying",
      failures: 1,
      lastError: "no entity could be applied: injected fault at rebuild.batch",
    });

    stop();
    await runDurableObjectAlarm(rebuilder(tenant.id));
    await rebuilt(tenant.id);
    const row = await rowAndState(tenant.apiKey, "a");
    expect(row.row).toEqual(row.fold);
  });

  it("leaves an entity the rebuilder has not reached to the rebuilder when the consumer sees a gap", async () => {
    const tenant = await newTenant("f15g");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "a", "restock", { quantity: 1 });
    await settledRow(tenant.apiKey, "a", 1);
    const held = holdRelay(tenant.id);
    disarm.push(held);
    await api.command("inventory", "a", "restock", { quantity: 2 });
    await api.command("inventory", "a", "restock", { quantity: 3 });
    // The rebuild prepares, then stalls before replaying anything.
    let steps = 0;
    const stall = armFault("rebuild.step", (ctx) => {
      if (ctx.tenant === tenant.id && steps++ > 0) throw new InjectedFault("rebuild.step");
    });
    disarm.push(stall);
    expect((await startRebuild(tenant.id)).status).toBe(202);
    const [, , third] = await logOf(tenant.apiKey, "inventory", "a");
    await deliver([third!]);

    // The active generation was repaired from the log; the new one was left alone.
    const checkpoints = await env.DB.prepare(
      "SELECT generation, seq FROM projection_checkpoints WHERE projection = 'inventory' AND tenant_id = ? ORDER BY generation",
    )
      .bind(tenant.id)
      .all();
    expect(checkpoints.results).toEqual([{ generation: 0, seq: 3 }]);

    stall();
    await runDurableObjectAlarm(rebuilder(tenant.id));
    await rebuilt(tenant.id);
    const row = await rowAndState(tenant.apiKey, "a");
    expect(row.row).toEqual(row.fold);
  });
});
