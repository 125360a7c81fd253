// The projection rebuilder in the simulator: the shared rebuild job
// (src/core/projection/rebuild-job.ts), the same steps production's rebuilder object runs, over a
// port onto the simulator's models — the job in the object's storage (which survives an
// eviction), D1 as the model's tables, the entity logs read over simulated RPC.
import {
  RebuildJob,
  type LogPage,
  type RebuildEntity,
  type RebuildJobRecord,
  type RebuildPort,
  type RebuildStore,
} from "../core/projection/rebuild-job.js";
import { switchAllowed, type GenerationsRow } from "../core/projection/rebuild-rules.js";
import type { RecordedEvent } from "../core/model/envelope.js";
import { entityKey, generationsKey, rowKey, type SimStatement } from "./d1-model.js";
import { WORLD_LIMITS } from "./config.js";
import { SimObject } from "./object.js";
import { applyToView } from "./consumer.js";
import type { World } from "./world.js";

type StoredJob = RebuildJobRecord & { readonly pending: readonly RebuildEntity[] };

function sameEntity(a: RebuildEntity, b: RebuildEntity): boolean {
  return a.entityType === b.entityType && a.entityId === b.entityId;
}

/** The job and its pending entities, as the rebuilder object's storage holds them. */
class SimRebuildStore implements RebuildStore {
  #record: StoredJob | null = null;

  job(): RebuildJobRecord | null {
    return this.#record;
  }

  #update(change: Partial<StoredJob>): void {
    if (this.#record) this.#record = { ...this.#record, ...change };
  }

  claim(projection: string, tenant: string, startedAt: number): void {
    this.#record = {
      projection,
      tenant,
      generation: 0,
      previous: 0,
      phase: "preparing",
      startedAt,
      failures: 0,
      pending: [],
    };
  }

  recordGenerations(generation: number, previous: number): void {
    this.#update({ generation, previous });
  }

  beginReplay(entities: readonly RebuildEntity[]): void {
    this.addPending(entities);
    this.#update({ phase: "replaying" });
  }

  pending(limit: number): RebuildEntity[] {
    return this.#record?.pending.slice(0, limit) ?? [];
  }

  addPending(entities: readonly RebuildEntity[]): void {
    const pending = [...(this.#record?.pending ?? [])];
    for (const e of entities) if (!pending.some((p) => sameEntity(p, e))) pending.push(e);
    this.#update({ pending });
  }

  replayed(entities: readonly RebuildEntity[]): void {
    const pending = this.#record?.pending ?? [];
    this.#update({ pending: pending.filter((p) => !entities.some((e) => sameEntity(p, e))) });
  }

  beginClearing(): void {
    this.#update({ phase: "clearing" });
  }

  end(): void {
    this.#record = null;
  }

  recordOutcome(failures: number): void {
    this.#update({ failures });
  }
}

/**
 * A projection rebuilder object (one per projection and tenant). Its storage (the job) survives an
 * eviction; after one it builds a fresh job over that storage, as a new Durable Object instance does.
 */
export class SimRebuilder extends SimObject {
  readonly projection: string;
  readonly tenant: string;
  readonly store = new SimRebuildStore();
  readonly #port: SimRebuildPort;
  #job: RebuildJob<SimStatement>;

  constructor(world: World, projection: string, tenant: string) {
    super(world);
    this.projection = projection;
    this.tenant = tenant;
    this.#port = new SimRebuildPort(world, this);
    this.#job = new RebuildJob(this.#port, world.mutations);
  }

  /** The job in progress, null when none runs. */
  get job(): RebuildJobRecord | null {
    return this.store.job();
  }

  protected onEvict(): void {
    this.#job = new RebuildJob(this.#port, this.world.mutations);
  }

  /** Claims the job before any await; false (409) when one runs. */
  start(): boolean {
    if (!this.#job.claim(this.projection, this.tenant)) return false;
    this.setAlarm(this.world.clock.now);
    return true;
  }

  protected async onAlarm(): Promise<void> {
    await this.#job.step();
  }
}

/** The rebuild job's port onto the simulator's models, for one rebuilder object. */
class SimRebuildPort implements RebuildPort<SimStatement> {
  readonly foldsRuns = true;
  readonly #world: World;
  readonly #object: SimRebuilder;
  readonly #projection: string;
  readonly #tenant: string;
  /** Rows the batch running now has removed (its clear statements count them). */
  #changes = 0;

  constructor(world: World, object: SimRebuilder) {
    this.#world = world;
    this.#object = object;
    this.#projection = object.projection;
    this.#tenant = object.tenant;
  }

  get store(): SimRebuildStore {
    return this.#object.store;
  }

  // The port: the object's clock and alarm.

  now(): number {
    return this.#world.clock.now;
  }

  async setAlarm(at: number): Promise<void> {
    this.#object.setAlarm(at);
  }

  report(level: "warn" | "error", message: string): void {
    // Nothing in the simulation changes generations but rebuild jobs, so an abandoned one is a defect.
    if (level === "error") this.#world.anomaly(`rebuild of ${this.#projection} for ${this.#tenant}: ${message}`);
  }

  // The port: reads of the D1 model, each one round trip at which the object may be evicted.

  async #read<T>(read: () => T): Promise<T> {
    await this.#object.boundary(WORLD_LIMITS.d1LatencyMs);
    return read();
  }

  #entityKey(entity: RebuildEntity): string {
    return entityKey(this.#tenant, entity.entityType, entity.entityId);
  }

  #checkpoint(checkpoints: ReadonlyMap<string, number>, generation: number, entity: RebuildEntity): number {
    return checkpoints.get(rowKey(this.#projection, generation, this.#entityKey(entity))) ?? 0;
  }

  readGenerations(): Promise<GenerationsRow | null> {
    return this.#read(() => this.#world.d1.generations.get(generationsKey(this.#projection, this.#tenant)) ?? null);
  }

  highestCheckpointed(): Promise<number | null> {
    return this.#read(() => {
      let top: number | null = null;
      for (const k of this.#world.d1.checkpoints.keys()) {
        const [p, g, t] = k.split("|");
        if (p === this.#projection && t === this.#tenant) top = Math.max(top ?? 0, Number(g));
      }
      return top;
    });
  }

  /** The tenant's entities the projection follows whose head the cloud tier has seen. */
  #known(): RebuildEntity[] {
    const follows = this.#world.app.projections.find((p) => p.name === this.#projection)?.follows ?? [];
    return [...this.#world.d1.heads.values()]
      .filter((h) => h.tenant === this.#tenant && follows.includes(h.entityType))
      .map((h) => ({ entityType: h.entityType, entityId: h.entityId }));
  }

  /** Whether the job's generation is behind the previous one on the entity, or has never applied it (as production's query). */
  #isBehind(checkpoints: ReadonlyMap<string, number>, job: RebuildJobRecord, entity: RebuildEntity): boolean {
    const own = checkpoints.get(rowKey(this.#projection, job.generation, this.#entityKey(entity))) ?? -1;
    return own < this.#checkpoint(checkpoints, job.previous, entity);
  }

  listEntities(): Promise<RebuildEntity[]> {
    return this.#read(() => this.#known());
  }

  behind(job: RebuildJobRecord, limit: number): Promise<RebuildEntity[]> {
    return this.#read(() =>
      this.#known()
        .filter((e) => this.#isBehind(this.#world.d1.checkpoints, job, e))
        .slice(0, limit),
    );
  }

  checkpoints(generation: number, entities: readonly RebuildEntity[]): Promise<number[]> {
    return this.#read(() => entities.map((e) => this.#checkpoint(this.#world.d1.checkpoints, generation, e)));
  }

  // The port: entity logs, read over simulated RPC.

  async readLog(entity: RebuildEntity, from: number, cap: number): Promise<LogPage> {
    const target = this.#world.entities.get(this.#entityKey(entity));
    if (!target) return { events: [], atHead: true };
    const events = await this.#world.readEntity(target.address, from, from + cap);
    await this.#object.boundary(0);
    return { events, atHead: from + events.length >= target.log.length };
  }

  // The port: statements over the D1 model and its batches.

  apply(generation: number, entity: RebuildEntity, from: number, events: readonly RecordedEvent[]): SimStatement[] {
    if (events.length === 0) return [];
    return [applyToView(this.#projection, generation, this.#entityKey(entity), this.#tenant, from, events)];
  }

  markBuilding(job: RebuildJobRecord): SimStatement {
    const key = generationsKey(this.#projection, this.#tenant);
    return (tx) => {
      const current = tx.db.generations.get(key);
      tx.set("generations", key, { active: current?.active ?? job.previous, building: job.generation });
    };
  }

  /** The simulated D1 holds no change feeds: nothing to record at the switch. */
  async switchChanges(): Promise<readonly SimStatement[]> {
    return [];
  }

  activate(job: RebuildJobRecord, guarded: boolean): SimStatement {
    const key = generationsKey(this.#projection, this.#tenant);
    return (tx) => {
      const allowed = (): boolean => {
        const anyBehind = this.#known().some((e) => this.#isBehind(tx.db.checkpoints, job, e));
        return switchAllowed(job, tx.db.generations.get(key) ?? null, anyBehind);
      };
      if (!guarded || allowed()) tx.set("generations", key, { active: job.generation, building: null });
    };
  }

  stopBuilding(job: RebuildJobRecord): SimStatement {
    const key = generationsKey(this.#projection, this.#tenant);
    return (tx) => {
      const current = tx.db.generations.get(key);
      if (current?.building === job.generation) tx.set("generations", key, { active: current.active, building: null });
    };
  }

  /** A statement deleting at most `limit` keys of `table` of this projection and tenant in generations but `keep`. */
  #clear(table: "views" | "checkpoints", keep: number, limit: number): SimStatement {
    return (tx) => {
      let removed = 0;
      for (const k of [...tx.db[table].keys()]) {
        if (removed >= limit) break;
        const [p, g, t] = k.split("|");
        if (p !== this.#projection || t !== this.#tenant || Number(g) === keep) continue;
        tx.delete(table, k);
        removed++;
      }
      this.#changes += removed;
    };
  }

  clearRows(keep: number, limit: number): SimStatement[] {
    return [this.#clear("views", keep, limit)];
  }

  clearCheckpoints(keep: number, limit: number): SimStatement {
    return this.#clear("checkpoints", keep, limit);
  }

  async batch(statements: readonly SimStatement[]): Promise<number> {
    this.#changes = 0;
    await this.#world.d1Batch(statements);
    await this.#object.boundary(0);
    return this.#changes;
  }
}
