// Rebuilds one projection for one tenant from the entity logs, as a Durable Object (one per
// projection and tenant) that works in alarm-sized steps and survives restarts. It fills the
// next generation of rows while the active one keeps serving reads; the live consumer applies new
// facts to both, the checkpoint guards keep the two writers from applying anything twice, and
// when every known entity has caught up the new generation is switched in and the old one dropped.
import { DurableObject } from "cloudflare:workers";
import { and, eq, inArray, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { logEvent, setLogLevel } from "../src/core/log.js";
import { applyStatements, checkpointId, readCheckpoints, type CheckpointKey } from "./checkpoints.js";
import { entityStub, readFromEntity } from "./entity-reader.js";
import type { Db } from "./projection.js";
import { projectionNamed } from "./projections/index.js";
import { entityHeads, projectionCheckpoints, projectionGenerations } from "./schema.js";

// Statements per alarm step, well inside D1's per-invocation and per-batch limits.
const STEP_BUDGET = 400;

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
    let budget = STEP_BUDGET;
    try {
      while (budget > 0) {
        const next = this.ctx.storage.sql
          .exec<{ entity_type: string; entity_id: string }>("SELECT entity_type, entity_id FROM pending LIMIT 1")
          .toArray()[0];
        if (!next) return await this.#finish(job);
        const key: CheckpointKey = {
          projection: projection.name,
          generation: job.generation,
          tenant: job.tenant,
          entityType: next.entity_type,
          entityId: next.entity_id,
        };
        const from = (await readCheckpoints(this.#db, [key])).get(checkpointId(key)) ?? 0;
        const address = { tenant: job.tenant, entityType: next.entity_type, entityId: next.entity_id };
        const head = (await entityStub(this.env, address).read(address, null))?.version ?? 0;
        const upTo = Math.min(head, from + budget);
        const events = upTo > from ? await readFromEntity(this.env, address, from, upTo) : [];
        const statements = applyStatements(this.#db, projection, key, from, events);
        const [first, ...rest] = statements;
        // A guard failure means the live consumer moved this checkpoint meanwhile: retry next step.
        if (first) await this.#db.batch([first, ...rest]);
        budget -= Math.max(1, statements.length);
        if (upTo >= head) this.ctx.storage.sql.exec("DELETE FROM pending WHERE entity_type = ? AND entity_id = ?", next.entity_type, next.entity_id);
      }
    } catch (error) {
      // Most often the live consumer moved a checkpoint under us; the next step re-reads it.
      logEvent("warn", "projection rebuild step failed", { projection: job.projection, tenant: job.tenant, error: String(error) });
    } finally {
      if (this.status()) await this.ctx.storage.setAlarm(Date.now() + 10);
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
