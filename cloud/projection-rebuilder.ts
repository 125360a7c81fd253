// Rebuilds one projection for one tenant from the entity logs, as a Durable Object (one per
// projection and tenant) that works in alarm-sized steps and survives restarts. It fills the
// next generation of rows while the active one keeps serving reads; the live consumer applies new
// facts to both, the checkpoint guards keep the two writers from applying anything twice, and
// when every known entity has caught up the new generation is switched in and the old one dropped.
import { DurableObject } from "cloudflare:workers";
import { and, eq, inArray, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { RecordedEvent } from "../src/core/envelope.js";
import { logEvent, setLogLevel } from "../src/core/log.js";
import { applyStatements, checkpointId, readCheckpoints, type CheckpointKey } from "./checkpoints.js";
import { entityStub } from "./entity-reader.js";
import type { Db, Statement } from "./projection.js";
import { projectionNamed } from "./projections/index.js";
import { entityHeads, projectionCheckpoints, projectionGenerations } from "./schema.js";

// Per alarm step: up to ENTITIES_PER_STEP entities replayed together (their logs read in
// parallel, their statements in one D1 batch) within STATEMENT_BUDGET statements, well inside
// D1's per-invocation limits. A projection with `applyRun` folds an entity's run of events into a
// few statements, so an entity brings a page of events per step; one without writes a statement
// or more per event, so an entity brings at most a budget's worth.
const ENTITIES_PER_STEP = 20;
const STATEMENT_BUDGET = 400;
const EVENTS_PER_PAGE = 1_000;

export interface RebuildStatus {
  readonly projection: string;
  readonly tenant: string;
  readonly generation: number;
  readonly entitiesTotal: number;
  readonly entitiesDone: number;
  readonly startedAt: number;
}

export type RebuildStart = { readonly started: RebuildStatus } | { readonly alreadyRunning: RebuildStatus };

export class ProjectionRebuilder extends DurableObject<Env> {
  readonly #db: Db;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    setLogLevel(env.LOG_LEVEL);
    this.#db = drizzle(env.DB);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS job (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), projection TEXT NOT NULL,
        tenant TEXT NOT NULL, generation INTEGER NOT NULL, total INTEGER NOT NULL, started_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS pending (entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, PRIMARY KEY (entity_type, entity_id));
    `);
  }

  async start(projectionName: string, tenant: string): Promise<RebuildStart | null> {
    const projection = projectionNamed(projectionName);
    if (!projection) return null;
    const running = this.status();
    if (running) return { alreadyRunning: running };

    const current = (
      await this.#db
        .select()
        .from(projectionGenerations)
        .where(and(eq(projectionGenerations.projection, projection.name), eq(projectionGenerations.tenantId, tenant)))
        .limit(1)
    )[0];
    const generation = Math.max(current?.active ?? 0, current?.building ?? 0) + 1;
    const startedAt = Date.now();
    await this.#db
      .insert(projectionGenerations)
      .values({ projection: projection.name, tenantId: tenant, active: 0, building: generation, rebuildStartedAt: startedAt })
      .onConflictDoUpdate({
        target: [projectionGenerations.projection, projectionGenerations.tenantId],
        set: { building: generation, rebuildStartedAt: startedAt, rebuildCompletedAt: null },
      });
    const entities = await this.#db
      .select({ entityType: entityHeads.entityType, entityId: entityHeads.entityId })
      .from(entityHeads)
      .where(and(eq(entityHeads.tenantId, tenant), inArray(entityHeads.entityType, [...projection.follows])));

    const sqlStore = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      sqlStore.exec("INSERT INTO job VALUES (1, ?, ?, ?, ?, ?)", projection.name, tenant, generation, entities.length, startedAt);
      for (const e of entities) sqlStore.exec("INSERT OR IGNORE INTO pending VALUES (?, ?)", e.entityType, e.entityId);
    });
    await this.ctx.storage.setAlarm(Date.now());
    return { started: this.status()! };
  }

  status(): RebuildStatus | null {
    const job = this.ctx.storage.sql
      .exec<{ projection: string; tenant: string; generation: number; total: number; started_at: number }>("SELECT * FROM job")
      .toArray()[0];
    if (!job) return null;
    const left = this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending").one().n;
    return {
      projection: job.projection,
      tenant: job.tenant,
      generation: job.generation,
      entitiesTotal: job.total,
      entitiesDone: job.total - left,
      startedAt: job.started_at,
    };
  }

  override async alarm(): Promise<void> {
    const job = this.status();
    const projection = job && projectionNamed(job.projection);
    if (!job || !projection) return;
    try {
      const next = this.ctx.storage.sql
        .exec<{ entity_type: string; entity_id: string }>("SELECT entity_type, entity_id FROM pending LIMIT ?", ENTITIES_PER_STEP)
        .toArray();
      if (next.length === 0) return await this.#finish(job);
      const keys: CheckpointKey[] = next.map((n) => ({
        projection: projection.name,
        generation: job.generation,
        tenant: job.tenant,
        entityType: n.entity_type,
        entityId: n.entity_id,
      }));
      const applied = await readCheckpoints(this.#db, keys);
      const cap = projection.applyRun ? EVENTS_PER_PAGE : STATEMENT_BUDGET - 1;
      const steps = await Promise.all(
        keys.map(async (key) => {
          const from = applied.get(checkpointId(key)) ?? 0;
          const { events, atHead } = await this.#readAfter(key, from, cap);
          return { key, statements: applyStatements(this.#db, projection, key, from, events), atHead };
        }),
      );
      // The first entities that fit the budget (at least one); the rest come again next step.
      const packed: typeof steps = [];
      let size = 0;
      for (const step of steps) {
        if (packed.length > 0 && size + step.statements.length > STATEMENT_BUDGET) break;
        packed.push(step);
        size += step.statements.length;
      }
      // One batch; if a guard fails (the live consumer moved a checkpoint meanwhile), the others
      // go through one by one and the moved one is re-read next step.
      const done = (await this.#apply(packed.flatMap((p) => p.statements))) ? packed : [];
      if (done.length === 0 && packed.length > 1) {
        for (const step of packed) if (await this.#apply(step.statements)) done.push(step);
      }
      const sqlStore = this.ctx.storage.sql;
      for (const step of done) {
        if (step.atHead) sqlStore.exec("DELETE FROM pending WHERE entity_type = ? AND entity_id = ?", step.key.entityType, step.key.entityId);
      }
    } catch (error) {
      logEvent("warn", "projection rebuild step failed", { projection: job.projection, tenant: job.tenant, error: String(error) });
    } finally {
      if (this.status()) await this.ctx.storage.setAlarm(Date.now() + 10);
    }
  }

  /** Up to `cap` of the entity's events after `from`, and whether they reach its head. */
  async #readAfter(key: CheckpointKey, from: number, cap: number): Promise<{ events: readonly RecordedEvent[]; atHead: boolean }> {
    const address = { tenant: key.tenant, entityType: key.entityType, entityId: key.entityId };
    const page = await entityStub(this.env, address).events(address, from, cap);
    if (!page) return { events: [], atHead: true };
    return { events: page.events, atHead: page.next === null };
  }

  /** Runs the statements as one D1 batch; false if it failed (most often a checkpoint guard). */
  async #apply(statements: Statement[]): Promise<boolean> {
    const [first, ...rest] = statements;
    if (!first) return true;
    try {
      await this.#db.batch([first, ...rest]);
      return true;
    } catch (error) {
      logEvent("warn", "projection rebuild batch failed", { error: String(error) });
      return false;
    }
  }

  async #finish(job: RebuildStatus): Promise<void> {
    const projection = projectionNamed(job.projection);
    if (!projection) return;
    const old = (
      await this.#db
        .select({ active: projectionGenerations.active })
        .from(projectionGenerations)
        .where(and(eq(projectionGenerations.projection, job.projection), eq(projectionGenerations.tenantId, job.tenant)))
    )[0]?.active ?? 0;
    await this.#db.batch([
      this.#db
        .update(projectionGenerations)
        .set({ active: job.generation, building: null, rebuildCompletedAt: Date.now() })
        .where(and(eq(projectionGenerations.projection, job.projection), eq(projectionGenerations.tenantId, job.tenant))),
      ...projection.clear(this.#db, { tenant: job.tenant, generation: old }),
      this.#db
        .delete(projectionCheckpoints)
        .where(
          and(
            eq(projectionCheckpoints.projection, job.projection),
            eq(projectionCheckpoints.tenantId, job.tenant),
            sql`${projectionCheckpoints.generation} <> ${job.generation}`,
          ),
        ),
    ]);
    this.ctx.storage.sql.exec("DELETE FROM job");
  }
}
