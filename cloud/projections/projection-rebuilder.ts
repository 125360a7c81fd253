// Rebuilds one projection for one tenant from the entity logs, as a Durable Object (one per
// projection and tenant) that works in alarm-sized steps and survives restarts. It fills the
// next generation of rows while the active one keeps serving reads; the live consumer applies new
// facts to both, the checkpoint guards keep the two writers from applying anything twice, and
// when every known entity has caught up the new generation is switched in and the old ones are
// cleared in small chunks.
//
// Every step may run twice (an object evicted after its D1 write, or D1 failing after commit), so
// each is idempotent: the job is claimed before any await, the previous generation is recorded
// when the job is prepared, the switch is conditional on the active generation still being that
// one, and the cleanup never touches the job's own generation.
import { DurableObject } from "cloudflare:workers";
import { and, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { faultPoint, pausePoint } from "../../src/core/resilience/fault-injection.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { REBUILDER_SCHEMA } from "../storage-schema.js";
import { logEvent, setLogLevel } from "../../src/core/runtime/log.js";
import { applyStatements, checkpointId, readCheckpoints, type CheckpointKey } from "./checkpoints.js";
import { afterSwitch, chooseGenerations } from "../../src/core/projection/rebuild-rules.js";
import { entityStub } from "../stubs.js";
import type { Db, Projection, Statement } from "../../src/core/model/projection.js";
import { projectionNamed, type CloudApp } from "../app.js";
import { entityHeads, projectionCheckpoints, projectionGenerations } from "../schema.js";

// Per alarm step: up to ENTITIES_PER_STEP entities replayed together (their logs read in
// parallel, their statements in one D1 batch) within STATEMENT_BUDGET statements, well inside
// D1's per-invocation limits. A projection with `applyRun` folds an entity's run of events into a
// few statements, so an entity brings a page of events per step; one without writes a statement
// or more per event, so an entity brings at most a budget's worth.
const ENTITIES_PER_STEP = 20;
const STATEMENT_BUDGET = 400;
const EVENTS_PER_PAGE = 1_000;
/** Rows (and checkpoints) one cleanup step deletes per table: small enough for D1's 30 s per call. */
export const CLEAR_CHUNK = 500;
/** Entities one re-scan adds back before the switch. */
const RESCAN_LIMIT = 100;
const STEP_SPACING_MS = 10;
/** If the object is evicted while preparing a job, its alarm resumes the job after this long. */
const PREPARE_SAFETY_NET_MS = 30_000;
/** A failing step is retried after base · 2^(failures - 1) ms, at most maxMs. */
export const REBUILD_RETRY = { baseMs: 1_000, maxMs: 5 * 60_000 } as const;

/** The delay before retrying a rebuild step that failed `failures` times in a row (ms, no jitter: one object). */
export function rebuildRetryDelay(failures: number): number {
  return Math.min(REBUILD_RETRY.maxMs, REBUILD_RETRY.baseMs * 2 ** Math.max(0, failures - 1));
}

type Phase = "preparing" | "replaying" | "clearing";

/** A rebuild in progress, as the admin API and dashboard show it. */
export interface RebuildStatus {
  readonly projection: string;
  readonly tenant: string;
  /** The generation being filled (0 until the job is prepared). */
  readonly generation: number;
  /** The generation that served reads when the rebuild started. */
  readonly previous: number;
  /** preparing (listing entities), replaying logs, or clearing the old generations after the switch. */
  readonly phase: Phase;
  readonly entitiesTotal: number;
  readonly entitiesDone: number;
  /** Epoch ms. */
  readonly startedAt: number;
  /** Consecutive failed steps; 0 while steps succeed. */
  readonly failures: number;
  readonly lastError: string | null;
  /** When the next attempt runs after a failure (epoch ms), null while steps succeed. */
  readonly retryAt: number | null;
}

/** What a start did: started this rebuild, or found one running (or still clearing). */
export type RebuildStart = { readonly started: RebuildStatus } | { readonly alreadyRunning: RebuildStatus };

type JobRow = {
  projection: string;
  tenant: string;
  generation: number;
  previous: number;
  phase: Phase;
  total: number;
  started_at: number;
  failures: number;
  last_error: string | null;
  retry_at: number | null;
  rescans: number;
};

/**
 * The rebuilder class for `app`'s projections, for the Worker to export under its binding's class
 * name (`ProjectionRebuilder`); the runtime constructs it with `(ctx, env)`, so the app is bound
 * by subclassing (see `createSagaHost`).
 */
export function createProjectionRebuilder(
  app: CloudApp,
): new (
  ctx: DurableObjectState,
  env: Env,
) => ProjectionRebuilder {
  return class extends ProjectionRebuilder {
    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env, app);
    }
  };
}

export class ProjectionRebuilder extends DurableObject<Env> {
  readonly #app: CloudApp;
  readonly #db: Db;
  /** Steps run one at a time: the start request and the alarm never interleave their awaits. */
  #chain: Promise<unknown> = Promise.resolve();
  #lastApplyError = "";

  constructor(ctx: DurableObjectState, env: Env, app: CloudApp) {
    super(ctx, env);
    this.#app = app;
    setLogLevel(hostConfig(env, "rebuilder").logLevel);
    this.#db = drizzle(env.DB);
    ctx.storage.sql.exec(REBUILDER_SCHEMA);
    // A job of the previous layout (no previous generation recorded) starts again from its
    // preparation: a fresh generation, and every other one cleared at the end.
    const legacy = ctx.storage.sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'job'")
      .one().n;
    if (legacy > 0) {
      ctx.storage.transactionSync(() => {
        ctx.storage.sql.exec(`INSERT OR IGNORE INTO rebuild_job (singleton, projection, tenant, generation, previous, phase, total, started_at)
          SELECT 1, projection, tenant, 0, 0, 'preparing', 0, started_at FROM job`);
        ctx.storage.sql.exec("DELETE FROM pending");
        ctx.storage.sql.exec("DROP TABLE job");
      });
      void ctx.blockConcurrencyWhile(() => ctx.storage.setAlarm(Date.now()));
    }
  }

  /**
   * Starts a rebuild unless one runs: the job is claimed synchronously, before any await, so of
   * concurrent starts exactly one gets `started`. Null for an unknown projection.
   */
  async start(projectionName: string, tenant: string): Promise<RebuildStart | null> {
    const projection = projectionNamed(this.#app, projectionName);
    if (!projection) return null;
    const running = this.status();
    if (running) return { alreadyRunning: running };
    const sqlStore = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      sqlStore.exec("DELETE FROM pending");
      sqlStore.exec(
        "INSERT INTO rebuild_job (singleton, projection, tenant, generation, previous, phase, total, started_at) VALUES (1, ?, ?, 0, 0, 'preparing', 0, ?)",
        projection.name,
        tenant,
        Date.now(),
      );
    });
    await this.ctx.storage.setAlarm(Date.now() + PREPARE_SAFETY_NET_MS);
    await this.#serial(() => this.#step());
    return { started: this.status()! };
  }

  status(): RebuildStatus | null {
    const job = this.#job();
    if (!job) return null;
    const left = this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending").one().n;
    return {
      projection: job.projection,
      tenant: job.tenant,
      generation: job.generation,
      previous: job.previous,
      phase: job.phase,
      entitiesTotal: job.total,
      entitiesDone: Math.max(0, job.total - left),
      startedAt: job.started_at,
      failures: job.failures,
      lastError: job.last_error,
      retryAt: job.retry_at,
    };
  }

  override async alarm(): Promise<void> {
    await this.#serial(() => this.#step());
  }

  #serial(step: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(step, step);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #job(): JobRow | undefined {
    return this.ctx.storage.sql.exec<JobRow>("SELECT * FROM rebuild_job").toArray()[0];
  }

  /** Runs the job's next step; schedules the one after, or a retry with backoff if it failed. */
  async #step(): Promise<void> {
    const job = this.#job();
    const projection = job && projectionNamed(this.#app, job.projection);
    if (!job || !projection) return;
    try {
      faultPoint("rebuild.step", { tenant: job.tenant });
      if (job.phase === "preparing") await this.#prepare(job, projection);
      else if (job.phase === "replaying") await this.#replay(job, projection);
      else await this.#clear(job, projection);
      if (this.#job()) {
        this.ctx.storage.sql.exec("UPDATE rebuild_job SET failures = 0, last_error = NULL, retry_at = NULL");
        await this.ctx.storage.setAlarm(Date.now() + STEP_SPACING_MS);
      }
    } catch (error) {
      const failures = job.failures + 1;
      const retryAt = Date.now() + rebuildRetryDelay(failures);
      const detail = error instanceof Error ? error.message : String(error);
      this.ctx.storage.sql.exec(
        "UPDATE rebuild_job SET failures = ?, last_error = ?, retry_at = ?",
        failures,
        detail,
        retryAt,
      );
      logEvent("warn", "projection rebuild step failed", {
        projection: job.projection,
        tenant: job.tenant,
        failures,
        error: detail,
      });
      await this.ctx.storage.setAlarm(retryAt);
    }
  }

  /**
   * Chooses the generation (once: stored before it is announced, so a repeat reuses it), records
   * the active one as `previous`, marks the new one as building in D1 and lists the entities.
   * Every part may run again.
   */
  async #prepare(job: JobRow, projection: Projection): Promise<void> {
    const where = and(
      eq(projectionGenerations.projection, job.projection),
      eq(projectionGenerations.tenantId, job.tenant),
    );
    if (job.generation === 0) {
      const current = (await this.#db.select().from(projectionGenerations).where(where).limit(1))[0];
      // Above any generation with checkpoints left too (an abandoned job's): a fresh one starts empty.
      const written = (
        await this.#db
          .select({ top: sql<number | null>`max(${projectionCheckpoints.generation})` })
          .from(projectionCheckpoints)
          .where(
            and(eq(projectionCheckpoints.projection, job.projection), eq(projectionCheckpoints.tenantId, job.tenant)),
          )
      )[0]?.top;
      const { generation, previous } = chooseGenerations(current ?? null, written ?? null);
      this.ctx.storage.sql.exec("UPDATE rebuild_job SET generation = ?, previous = ?", generation, previous);
    }
    const { generation, previous, started_at: startedAt } = this.#job()!;
    await this.#db
      .insert(projectionGenerations)
      .values({
        projection: job.projection,
        tenantId: job.tenant,
        active: previous,
        building: generation,
        rebuildStartedAt: startedAt,
      })
      .onConflictDoUpdate({
        target: [projectionGenerations.projection, projectionGenerations.tenantId],
        set: { building: generation, rebuildStartedAt: startedAt, rebuildCompletedAt: null },
      });
    // Listed after `building` is set: a consumer batch that read the generations before that is
    // refused by their guard and re-planned, so every entity either is listed here or reaches the
    // new generation through the consumer.
    const entities = await this.#db
      .select({ entityType: entityHeads.entityType, entityId: entityHeads.entityId })
      .from(entityHeads)
      .where(
        and(
          eq(entityHeads.tenantId, job.tenant),
          sql`${entityHeads.entityType} IN (SELECT value FROM json_each(${JSON.stringify(projection.follows)}))`,
        ),
      );
    const sqlStore = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const e of entities) sqlStore.exec("INSERT OR IGNORE INTO pending VALUES (?, ?)", e.entityType, e.entityId);
      sqlStore.exec("UPDATE rebuild_job SET phase = 'replaying', total = ?", entities.length);
    });
  }

  /** Replays the next pending entities; with none left, re-scans, then switches. */
  async #replay(job: JobRow, projection: Projection): Promise<void> {
    const next = this.ctx.storage.sql
      .exec<{ entity_type: string; entity_id: string }>(
        "SELECT entity_type, entity_id FROM pending LIMIT ?",
        ENTITIES_PER_STEP,
      )
      .toArray();
    if (next.length === 0) return this.#finishReplay(job);
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
    // Nothing applied at all is D1 failing (a guard conflict moves one entity, not every one):
    // fail the step, so it backs off instead of spinning.
    if (done.length === 0 && packed.some((p) => p.statements.length > 0))
      throw new Error(`no entity could be applied: ${this.#lastApplyError}`);
    const sqlStore = this.ctx.storage.sql;
    for (const step of done) {
      if (step.atHead)
        sqlStore.exec(
          "DELETE FROM pending WHERE entity_type = ? AND entity_id = ?",
          step.key.entityType,
          step.key.entityId,
        );
    }
  }

  /**
   * Before switching: entities whose head the cloud tier has seen but the new generation is
   * behind the active one on (or has never applied) go back to pending, and the switch waits for
   * them. The consumer keeps the new generation level with the active one for every entity it
   * has reached, so these are entities first seen after the listing or left with a gap.
   */
  async #finishReplay(job: JobRow): Promise<void> {
    const behind = await this.#db.all<{ entity_type: string; entity_id: string }>(sql`
      SELECT h.entity_type, h.entity_id FROM ${entityHeads} AS h WHERE ${behindNewGeneration(this.#app, job)} LIMIT ${RESCAN_LIMIT}`);
    const sqlStore = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      sqlStore.exec("UPDATE rebuild_job SET rescans = rescans + 1");
      for (const e of behind) sqlStore.exec("INSERT OR IGNORE INTO pending VALUES (?, ?)", e.entity_type, e.entity_id);
    });
    if (behind.length > 0) {
      logEvent("warn", "projection rebuild found entities behind before its switch", {
        projection: job.projection,
        tenant: job.tenant,
        count: behind.length,
      });
      return;
    }
    const paused = pausePoint("rebuild.beforeSwitch", { tenant: job.tenant });
    if (paused) await paused;
    await this.#switch(job);
  }

  /**
   * Activates the job's generation only if the active one is still `previous`, the job's is still
   * the one building, and no entity is behind in it — checked in the same statement, so a consumer
   * write landing between the re-scan and the switch holds the switch off (the next step re-scans)
   * instead of leaving the new generation stale. A repeat finds the generation already active and
   * goes on to the cleanup.
   */
  async #switch(job: JobRow): Promise<void> {
    const where = and(
      eq(projectionGenerations.projection, job.projection),
      eq(projectionGenerations.tenantId, job.tenant),
    );
    await this.#db
      .update(projectionGenerations)
      .set({ active: job.generation, building: null, rebuildCompletedAt: Date.now() })
      .where(
        and(
          where,
          eq(projectionGenerations.active, job.previous),
          eq(projectionGenerations.building, job.generation),
          sql`NOT EXISTS (SELECT 1 FROM ${entityHeads} AS h WHERE ${behindNewGeneration(this.#app, job)})`,
        ),
      );
    faultPoint("rebuild.afterSwitch", { tenant: job.tenant });
    const now = (await this.#db.select().from(projectionGenerations).where(where).limit(1))[0];
    const next = afterSwitch(job, now ?? null);
    if (next === "clear") {
      this.ctx.storage.sql.exec("UPDATE rebuild_job SET phase = 'clearing'");
      return;
    }
    // Not switched because an entity fell behind meanwhile: the next step re-scans.
    if (next === "rescan") return;
    // Someone else changed the generations (an operator, or a job from an older deployment):
    // this job's rows never served, and clearing anything now could remove the active ones.
    logEvent("error", "projection rebuild abandoned: generations changed under it", {
      projection: job.projection,
      tenant: job.tenant,
      active: now?.active ?? null,
      generation: job.generation,
    });
    // Stop the consumer filling a generation no one will switch to (its rows go with the next rebuild's cleanup).
    await this.#db
      .update(projectionGenerations)
      .set({ building: null })
      .where(and(where, eq(projectionGenerations.building, job.generation)));
    this.ctx.storage.sql.exec("DELETE FROM rebuild_job");
  }

  /**
   * One chunk of the cleanup: at most CLEAR_CHUNK rows per table and CLEAR_CHUNK checkpoints of
   * every generation but the job's own. The job ends once a chunk removes nothing.
   */
  async #clear(job: JobRow, projection: Projection): Promise<void> {
    const keep = { tenant: job.tenant, keep: job.generation };
    const statements: Statement[] = [
      ...projection.clear(this.#db, keep, CLEAR_CHUNK),
      this.#db.delete(projectionCheckpoints).where(
        sql`rowid IN (SELECT rowid FROM ${projectionCheckpoints} WHERE ${projectionCheckpoints.projection} = ${job.projection}
          AND ${projectionCheckpoints.tenantId} = ${job.tenant} AND ${projectionCheckpoints.generation} <> ${job.generation} LIMIT ${CLEAR_CHUNK})`,
      ),
    ];
    const [first, ...rest] = statements;
    const results: unknown[] = first ? await this.#db.batch([first, ...rest]) : [];
    if (results.some((r) => changesOf(r) > 0)) return;
    this.ctx.storage.sql.exec("DELETE FROM rebuild_job");
  }

  /** Up to `cap` of the entity's events after `from`, and whether they reach its head. */
  async #readAfter(
    key: CheckpointKey,
    from: number,
    cap: number,
  ): Promise<{ events: readonly RecordedEvent[]; atHead: boolean }> {
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
      faultPoint("rebuild.batch", { tenant: this.#job()?.tenant });
      await this.#db.batch([first, ...rest]);
      return true;
    } catch (error) {
      this.#lastApplyError = error instanceof Error ? error.message : String(error);
      logEvent("warn", "projection rebuild batch failed", { error: this.#lastApplyError });
      return false;
    }
  }
}

/**
 * The condition, over `entity_heads AS h`, that the job's generation is behind the previous one
 * on that entity (or has never applied it), for the tenant's entities the projection follows.
 */
function behindNewGeneration(app: CloudApp, job: JobRow) {
  const projection = projectionNamed(app, job.projection);
  return sql`h.tenant_id = ${job.tenant}
    AND h.entity_type IN (SELECT value FROM json_each(${JSON.stringify(projection?.follows ?? [])}))
    AND coalesce((SELECT n.seq FROM ${projectionCheckpoints} AS n WHERE n.projection = ${job.projection} AND n.generation = ${job.generation}
          AND n.tenant_id = h.tenant_id AND n.entity_type = h.entity_type AND n.entity_id = h.entity_id), -1)
      < coalesce((SELECT o.seq FROM ${projectionCheckpoints} AS o WHERE o.projection = ${job.projection} AND o.generation = ${job.previous}
          AND o.tenant_id = h.tenant_id AND o.entity_type = h.entity_type AND o.entity_id = h.entity_id), 0)`;
}

/** Rows a D1 write changed, from its result (`meta.changes`); unknown shapes count as a change, so cleanup goes on. */
function changesOf(result: unknown): number {
  if (typeof result !== "object" || result === null || !("meta" in result)) return 1;
  const meta = result.meta;
  if (typeof meta !== "object" || meta === null || !("changes" in meta) || typeof meta.changes !== "number") return 1;
  return meta.changes;
}
