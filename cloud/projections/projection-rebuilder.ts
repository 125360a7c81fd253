// Rebuilds one projection for one tenant from the entity logs, as a Durable Object (one per
// projection and tenant) that works in alarm-sized steps and survives restarts. The steps are the
// shared rebuild job (src/core/projection/rebuild-job.ts), which the simulator runs too; this
// file is its adapter: the job in the object's SQLite storage, D1 through drizzle, the entity
// logs over RPC, the alarm. It fills the next generation of rows while the active one keeps
// serving reads; the live consumer applies new facts to both, the checkpoint guards keep the two
// writers from applying anything twice, and when every known entity has caught up the new
// generation is switched in and the old ones are cleared in small chunks.
import { DurableObject } from "cloudflare:workers";
import { and, eq, type SQL, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { pageOrNothing } from "../../src/core/protocol/entity-protocol.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { REBUILDER_SCHEMA } from "../storage-schema.js";
import { logEvent, setLogLevel } from "../../src/core/runtime/log.js";
import { applyStatements, checkpointId, readCheckpoints, type CheckpointKey } from "./checkpoints.js";
import { switchChangeStatements, type SwitchFact } from "./view-changes.js";
import {
  ENTITIES_PER_STEP,
  EVENTS_PER_PAGE,
  RebuildJob,
  SWITCH_CATCH_UP_LIMIT,
  type LogPage,
  type RebuildEntity,
  type RebuildJobRecord,
  type RebuildPhase,
  type RebuildPort,
  type RebuildStore,
} from "../../src/core/projection/rebuild-job.js";
import type { GenerationsRow } from "../../src/core/projection/rebuild-rules.js";
import { entityStub } from "../stubs.js";
import type { Db, Projection, Statement } from "../../src/core/model/projection.js";
import { projectionNamed, type CloudApp } from "../app.js";
import { entityHeads, projectionCheckpoints, projectionGenerations } from "../schema.js";
import { alarmTime } from "../../src/core/runtime/alarm-time.js";

/** If the object is evicted while preparing a job, its alarm resumes the job after this long. */
const PREPARE_SAFETY_NET_MS = 30_000;

/** A rebuild in progress, as the admin API and dashboard show it. */
export interface RebuildStatus {
  readonly projection: string;
  readonly tenant: string;
  /** The generation being filled (0 until the job is prepared). */
  readonly generation: number;
  /** The generation that served reads when the rebuild started. */
  readonly previous: number;
  /** preparing (listing entities), replaying logs, or clearing the old generations after the switch. */
  readonly phase: RebuildPhase;
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
  readonly #store: SqlRebuildStore;
  readonly #job: RebuildJob<Statement>;
  /** Steps run one at a time: the start request and the alarm never interleave their awaits. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env, app: CloudApp) {
    super(ctx, env);
    this.#app = app;
    setLogLevel(hostConfig(env, "rebuilder").logLevel);
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
      void ctx.blockConcurrencyWhile(() => ctx.storage.setAlarm(alarmTime(Date.now())));
    }
    this.#store = new SqlRebuildStore(ctx.storage);
    this.#job = new RebuildJob(new D1RebuildPort(ctx.storage, env, drizzle(env.DB), app, this.#store));
  }

  /**
   * Starts a rebuild unless one runs: the job is claimed synchronously, before any await, so of
   * concurrent starts exactly one gets `started`. Null for an unknown projection.
   */
  async start(projectionName: string, tenant: string): Promise<RebuildStart | null> {
    const projection = projectionNamed(this.#app, projectionName);
    if (!projection) return null;
    if (!this.#job.claim(projection.name, tenant)) return { alreadyRunning: this.status()! };
    await this.ctx.storage.setAlarm(alarmTime(Date.now() + PREPARE_SAFETY_NET_MS));
    await this.#serial(() => this.#job.step());
    return { started: this.status()! };
  }

  status(): RebuildStatus | null {
    return this.#store.status();
  }

  override async alarm(): Promise<void> {
    await this.#serial(() => this.#job.step());
  }

  #serial(step: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(step, step);
    this.#chain = run.catch(() => undefined);
    return run;
  }
}

type JobRow = {
  projection: string;
  tenant: string;
  generation: number;
  previous: number;
  phase: RebuildPhase;
  total: number;
  started_at: number;
  failures: number;
  last_error: string | null;
  retry_at: number | null;
};

type PendingRow = { entity_type: string; entity_id: string };
/**
 * An entity the job's generation is ahead on at the switch: the old one applied up to `applied`,
 * the new one shows up to `shown`.
 */
type AheadRow = { entity_type: string; entity_id: string; applied: number; shown: number };

/** The job in the object's SQLite storage: the `rebuild_job` row and the `pending` entities. */
class SqlRebuildStore implements RebuildStore {
  readonly #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  #row(): JobRow | undefined {
    return this.#storage.sql.exec<JobRow>("SELECT * FROM rebuild_job").toArray()[0];
  }

  job(): RebuildJobRecord | null {
    const row = this.#row();
    return row ? { ...row, startedAt: row.started_at } : null;
  }

  status(): RebuildStatus | null {
    const job = this.#row();
    if (!job) return null;
    const left = this.#storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending").one().n;
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

  claim(projection: string, tenant: string, startedAt: number): void {
    const sqlStore = this.#storage.sql;
    this.#storage.transactionSync(() => {
      sqlStore.exec("DELETE FROM pending");
      sqlStore.exec(
        "INSERT INTO rebuild_job (singleton, projection, tenant, generation, previous, phase, total, started_at) VALUES (1, ?, ?, 0, 0, 'preparing', 0, ?)",
        projection,
        tenant,
        startedAt,
      );
    });
  }

  recordGenerations(generation: number, previous: number): void {
    this.#storage.sql.exec("UPDATE rebuild_job SET generation = ?, previous = ?", generation, previous);
  }

  beginReplay(entities: readonly RebuildEntity[]): void {
    this.#storage.transactionSync(() => {
      this.addPending(entities);
      this.#storage.sql.exec("UPDATE rebuild_job SET phase = 'replaying', total = ?", entities.length);
    });
  }

  pending(limit: number): RebuildEntity[] {
    return this.#storage.sql
      .exec<PendingRow>("SELECT entity_type, entity_id FROM pending ORDER BY rowid LIMIT ?", limit)
      .toArray()
      .map((r) => ({ entityType: r.entity_type, entityId: r.entity_id }));
  }

  addPending(entities: readonly RebuildEntity[]): void {
    const sqlStore = this.#storage.sql;
    this.#storage.transactionSync(() => {
      for (const e of entities) sqlStore.exec("INSERT OR IGNORE INTO pending VALUES (?, ?)", e.entityType, e.entityId);
    });
  }

  replayed(entities: readonly RebuildEntity[]): void {
    const sqlStore = this.#storage.sql;
    for (const e of entities)
      sqlStore.exec("DELETE FROM pending WHERE entity_type = ? AND entity_id = ?", e.entityType, e.entityId);
  }

  beginClearing(): void {
    this.#storage.sql.exec("UPDATE rebuild_job SET phase = 'clearing'");
  }

  end(): void {
    this.#storage.sql.exec("DELETE FROM rebuild_job");
  }

  recordOutcome(failures: number, error: string | null, retryAt: number | null): void {
    this.#storage.sql.exec(
      "UPDATE rebuild_job SET failures = ?, last_error = ?, retry_at = ?",
      failures,
      error,
      retryAt,
    );
  }
}

/** The job's effects in production: D1 through drizzle, entity logs over RPC, the object's alarm. */
class D1RebuildPort implements RebuildPort<Statement> {
  readonly store: SqlRebuildStore;
  readonly #storage: DurableObjectStorage;
  readonly #env: Env;
  readonly #db: Db;
  readonly #app: CloudApp;

  constructor(storage: DurableObjectStorage, env: Env, db: Db, app: CloudApp, store: SqlRebuildStore) {
    this.#storage = storage;
    this.#env = env;
    this.#db = db;
    this.#app = app;
    this.store = store;
  }

  /** The job's projection and tenant (a step runs only while a job is stored). */
  #scope(): { projection: Projection; tenant: string } {
    const job = this.store.job();
    const projection = job && projectionNamed(this.#app, job.projection);
    if (!job || !projection) throw new Error("no rebuild job of a known projection");
    return { projection, tenant: job.tenant };
  }

  #pair() {
    const { projection, tenant } = this.#scope();
    return and(eq(projectionGenerations.projection, projection.name), eq(projectionGenerations.tenantId, tenant));
  }

  get foldsRuns(): boolean {
    return this.#scope().projection.applyRun !== undefined;
  }

  now(): number {
    return Date.now();
  }

  setAlarm(at: number): Promise<void> {
    return this.#storage.setAlarm(alarmTime(at));
  }

  report(level: "warn" | "error", message: string, fields: Readonly<Record<string, string | number | null>>): void {
    logEvent(level, message, fields);
  }

  async readGenerations(): Promise<GenerationsRow | null> {
    return (await this.#db.select().from(projectionGenerations).where(this.#pair()).limit(1))[0] ?? null;
  }

  async highestCheckpointed(): Promise<number | null> {
    const { projection, tenant } = this.#scope();
    const rows = await this.#db
      .select({ top: sql<number | null>`max(${projectionCheckpoints.generation})` })
      .from(projectionCheckpoints)
      .where(and(eq(projectionCheckpoints.projection, projection.name), eq(projectionCheckpoints.tenantId, tenant)));
    return rows[0]?.top ?? null;
  }

  listEntities(): Promise<RebuildEntity[]> {
    const { projection, tenant } = this.#scope();
    return this.#db
      .select({ entityType: entityHeads.entityType, entityId: entityHeads.entityId })
      .from(entityHeads)
      .where(
        and(
          eq(entityHeads.tenantId, tenant),
          sql`${entityHeads.entityType} IN (SELECT value FROM json_each(${JSON.stringify(projection.follows)}))`,
        ),
      );
  }

  async behind(job: RebuildJobRecord, limit: number): Promise<RebuildEntity[]> {
    const rows = await this.#db.all<PendingRow>(sql`
      SELECT h.entity_type, h.entity_id FROM ${entityHeads} AS h WHERE ${this.#behindNewGeneration(job)} LIMIT ${limit}`);
    return rows.map((r) => ({ entityType: r.entity_type, entityId: r.entity_id }));
  }

  #key(generation: number, entity: RebuildEntity): CheckpointKey {
    const { projection, tenant } = this.#scope();
    return { projection: projection.name, generation, tenant, ...entity };
  }

  async checkpoints(generation: number, entities: readonly RebuildEntity[]): Promise<number[]> {
    const keys = entities.map((e) => this.#key(generation, e));
    const applied = await readCheckpoints(this.#db, keys);
    return keys.map((k) => applied.get(checkpointId(k)) ?? 0);
  }

  async readLog(entity: RebuildEntity, from: number, cap: number): Promise<LogPage> {
    const address = { tenant: this.#scope().tenant, ...entity };
    const read = await entityStub(this.#env, address).events(address, from, cap);
    // No events, or a checkpoint past the head (nothing after it): the rebuild of this entity is done.
    const page = pageOrNothing(read);
    return page ? { events: page.events, atHead: page.next === null } : { events: [], atHead: true };
  }

  apply(generation: number, entity: RebuildEntity, from: number, events: readonly RecordedEvent[]): Statement[] {
    return applyStatements(this.#db, this.#scope().projection, this.#key(generation, entity), from, events);
  }

  markBuilding(job: RebuildJobRecord): Statement {
    return this.#db
      .insert(projectionGenerations)
      .values({
        projection: job.projection,
        tenantId: job.tenant,
        active: job.previous,
        building: job.generation,
        rebuildStartedAt: job.startedAt,
      })
      .onConflictDoUpdate({
        target: [projectionGenerations.projection, projectionGenerations.tenantId],
        set: { building: job.generation, rebuildStartedAt: job.startedAt, rebuildCompletedAt: null },
      });
  }

  async switchChanges(job: RebuildJobRecord): Promise<Statement[] | undefined> {
    const { projection, tenant } = this.#scope();
    const ahead = await this.#db.all<AheadRow>(sql`
      SELECT n.entity_type, n.entity_id, coalesce(o.seq, 0) AS applied, n.seq AS shown
        FROM ${projectionCheckpoints} AS n
        LEFT JOIN ${projectionCheckpoints} AS o
          ON o.projection = n.projection AND o.generation = ${job.previous} AND o.tenant_id = n.tenant_id
         AND o.entity_type = n.entity_type AND o.entity_id = n.entity_id
       WHERE n.projection = ${projection.name} AND n.generation = ${job.generation} AND n.tenant_id = ${tenant}
         AND n.seq > coalesce(o.seq, 0)
       LIMIT ${SWITCH_CATCH_UP_LIMIT + 1}`);
    if (ahead.length > SWITCH_CATCH_UP_LIMIT) return undefined;
    const facts: SwitchFact[] = [];
    // A few entity objects at a time: each answers one page of its log, usually all that is needed.
    for (let i = 0; i < ahead.length; i += ENTITIES_PER_STEP) {
      const pages = await Promise.all(ahead.slice(i, i + ENTITIES_PER_STEP).map((a) => this.#factsBetween(a)));
      facts.push(...pages.flat());
    }
    facts.sort((a, b) => a.recordedAt - b.recordedAt);
    return switchChangeStatements(
      this.#db,
      { tenant, projection, generation: job.generation, previous: job.previous },
      facts,
      this.#switchAllowed(job),
    );
  }

  /** The entity's facts after `applied` up to `shown`, read from its log. */
  async #factsBetween(a: AheadRow): Promise<SwitchFact[]> {
    const entity = { entityType: a.entity_type, entityId: a.entity_id };
    const facts: SwitchFact[] = [];
    let from = a.applied;
    while (from < a.shown) {
      const { events, atHead } = await this.readLog(entity, from, EVENTS_PER_PAGE);
      for (const e of events)
        if (e.seq <= a.shown)
          facts.push({ ...entity, seq: e.seq, type: e.type, recordedAt: Date.parse(e.meta.recordedAt) });
      const last = events.at(-1);
      if (atHead || !last) break;
      from = last.seq;
    }
    return facts;
  }

  activate(job: RebuildJobRecord, guarded: boolean): Statement {
    const update = this.#db
      .update(projectionGenerations)
      .set({ active: job.generation, building: null, rebuildCompletedAt: Date.now() });
    return update.where(guarded ? and(this.#pair(), this.#switchAllowed(job)) : this.#pair());
  }

  /**
   * `switchAllowed` in SQL: the pair still has the job's `previous` active and its generation
   * building, and no entity is behind in it. The switch's statement and the feed's records at the
   * switch (`switchChanges`) are guarded by it alike, in one batch, so both happen or neither.
   */
  #switchAllowed(job: RebuildJobRecord): SQL {
    return sql`EXISTS (SELECT 1 FROM ${projectionGenerations} AS gen
        WHERE gen.projection = ${job.projection} AND gen.tenant_id = ${job.tenant}
          AND gen.active = ${job.previous} AND gen.building = ${job.generation})
      AND NOT EXISTS (SELECT 1 FROM ${entityHeads} AS h WHERE ${this.#behindNewGeneration(job)})`;
  }

  stopBuilding(job: RebuildJobRecord): Statement {
    return this.#db
      .update(projectionGenerations)
      .set({ building: null })
      .where(and(this.#pair(), eq(projectionGenerations.building, job.generation)));
  }

  clearRows(keep: number, limit: number): readonly Statement[] {
    const { projection, tenant } = this.#scope();
    return projection.clear(this.#db, { tenant, keep }, limit);
  }

  clearCheckpoints(keep: number, limit: number): Statement {
    const { projection, tenant } = this.#scope();
    return this.#db.delete(projectionCheckpoints).where(
      sql`rowid IN (SELECT rowid FROM ${projectionCheckpoints} WHERE ${projectionCheckpoints.projection} = ${projection.name}
          AND ${projectionCheckpoints.tenantId} = ${tenant} AND ${projectionCheckpoints.generation} <> ${keep} LIMIT ${limit})`,
    );
  }

  async batch(statements: readonly Statement[]): Promise<number> {
    const [first, ...rest] = statements;
    if (!first) return 0;
    const results: unknown[] = await this.#db.batch([first, ...rest]);
    return results.reduce<number>((sum, r) => sum + changesOf(r), 0);
  }

  /**
   * The condition, over `entity_heads AS h`, that the job's generation is behind the previous one
   * on that entity (or has never applied it), for the tenant's entities the projection follows.
   */
  #behindNewGeneration(job: RebuildJobRecord) {
    const { projection } = this.#scope();
    return sql`h.tenant_id = ${job.tenant}
    AND h.entity_type IN (SELECT value FROM json_each(${JSON.stringify(projection.follows)}))
    AND coalesce((SELECT n.seq FROM ${projectionCheckpoints} AS n WHERE n.projection = ${job.projection} AND n.generation = ${job.generation}
          AND n.tenant_id = h.tenant_id AND n.entity_type = h.entity_type AND n.entity_id = h.entity_id), -1)
      < coalesce((SELECT o.seq FROM ${projectionCheckpoints} AS o WHERE o.projection = ${job.projection} AND o.generation = ${job.previous}
          AND o.tenant_id = h.tenant_id AND o.entity_type = h.entity_type AND o.entity_id = h.entity_id), 0)`;
  }
}

/** Rows a D1 write changed, from its result (`meta.changes`); unknown shapes count as a change, so cleanup goes on. */
function changesOf(result: unknown): number {
  if (typeof result !== "object" || result === null || !("meta" in result)) return 1;
  const meta = result.meta;
  if (typeof meta !== "object" || meta === null || !("changes" in meta) || typeof meta.changes !== "number") return 1;
  return meta.changes;
}
