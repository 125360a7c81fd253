// The projection rebuilder in the simulator, with the rebuild rules production uses
// (src/core/projection/rebuild-rules.ts).
import { afterSwitch, chooseGenerations, clearedByCleanup, switchAllowed } from "../core/projection/rebuild-rules.js";
import { generationsKey, NO_GENERATIONS, rowKey, type SimStatement } from "./d1-model.js";
import { WORLD_LIMITS } from "./config.js";
import { Evicted, SimObject } from "./object.js";
import { applyToView } from "./consumer.js";
import type { World } from "./world.js";

/** A rebuild job as the rebuilder object stores it. */
interface RebuildJob {
  phase: "preparing" | "replaying" | "clearing";
  generation: number;
  previous: number;
  pending: string[];
  failures: number;
}

/**
 * A projection rebuilder (one object per projection and tenant), stepping as
 * cloud/projections/projection-rebuilder.ts does, with the same decisions
 * (src/core/projection/rebuild-rules.ts): claim, prepare (record the previous generation, mark
 * the next as building, list the entities), replay logs into the new generation under the same
 * checkpoint guards as the consumer, re-scan, switch conditionally, clear the others.
 */
export class SimRebuilder extends SimObject {
  readonly projection: string;
  readonly tenant: string;
  job: RebuildJob | null = null;

  constructor(world: World, projection: string, tenant: string) {
    super(world);
    this.projection = projection;
    this.tenant = tenant;
  }

  protected onEvict(): void {}

  /** Claims the job before any await; false (409) when one runs. */
  start(): boolean {
    if (this.job) return false;
    this.job = { phase: "preparing", generation: 0, previous: 0, pending: [], failures: 0 };
    this.setAlarm(this.world.clock.now);
    return true;
  }

  protected async onAlarm(): Promise<void> {
    const job = this.job;
    if (!job) return;
    try {
      await this.boundary(WORLD_LIMITS.d1LatencyMs);
      if (job.phase === "preparing") await this.#prepare(job);
      else if (job.phase === "replaying") await this.#replay(job);
      else await this.#clear(job);
      job.failures = 0;
      if (this.job) this.setAlarm(this.world.clock.now + 10);
    } catch (error) {
      if (error instanceof Evicted) throw error;
      job.failures++;
      this.setAlarm(this.world.clock.now + Math.min(300_000, 1_000 * 2 ** (job.failures - 1)));
    }
  }

  #gensKey(): string {
    return generationsKey(this.projection, this.tenant);
  }

  #follows(): readonly string[] {
    return this.world.app.projections.find((p) => p.name === this.projection)?.follows ?? [];
  }

  /** Entity keys whose head the cloud tier has seen, for this tenant and projection. */
  #known(): { key: string; seq: number }[] {
    const follows = this.#follows();
    return [...this.world.d1.heads]
      .filter(([, h]) => h.tenant === this.tenant && follows.includes(h.entityType))
      .map(([key, h]) => ({ key, seq: h.seq }));
  }

  async #prepare(job: RebuildJob): Promise<void> {
    const world = this.world;
    if (job.generation === 0) {
      let written: number | null = null;
      for (const k of world.d1.checkpoints.keys()) {
        const [p, g, t] = k.split("|");
        if (p === this.projection && t === this.tenant) written = Math.max(written ?? 0, Number(g));
      }
      const chosen = chooseGenerations(world.d1.generations.get(this.#gensKey()) ?? null, written);
      job.generation = chosen.generation;
      job.previous = chosen.previous;
    }
    const { generation, previous } = job;
    const key = this.#gensKey();
    await world.d1Batch([(tx) => tx.set("generations", key, { active: previous, building: generation })]);
    await this.boundary(0);
    job.pending = this.#known().map((k) => k.key);
    job.phase = "replaying";
  }

  async #replay(job: RebuildJob): Promise<void> {
    const world = this.world;
    const batch = job.pending.slice(0, 20);
    if (batch.length === 0) return this.#finishReplay(job);
    const statements: SimStatement[] = [];
    const caughtUp: string[] = [];
    for (const key of batch) {
      const entity = world.entities.get(key);
      if (!entity) {
        caughtUp.push(key);
        continue;
      }
      const from = world.d1.checkpoints.get(rowKey(this.projection, job.generation, key)) ?? 0;
      const events = await world.readEntity(entity.address, from, from + 1_000);
      await this.boundary(0);
      if (events.length > 0)
        statements.push(applyToView(this.projection, job.generation, key, this.tenant, from, events));
      if (from + events.length >= entity.log.length) caughtUp.push(key);
    }
    if (statements.length > 0) await world.d1Batch(statements);
    await this.boundary(0);
    job.pending = job.pending.filter((k) => !caughtUp.includes(k));
  }

  /** Re-scans for entities behind in the new generation; with none, switches. */
  async #finishReplay(job: RebuildJob): Promise<void> {
    const world = this.world;
    const behind = this.#known().filter(
      (k) => k.seq > (world.d1.checkpoints.get(rowKey(this.projection, job.generation, k.key)) ?? 0),
    );
    if (behind.length > 0) {
      job.pending = behind.map((k) => k.key);
      return;
    }
    const key = this.#gensKey();
    if (world.mutations.rebuildSwitchReadsActive) {
      // F3 as it was: the old generation is whatever is active now; switch and clear it in one batch.
      const old = (world.d1.generations.get(key) ?? NO_GENERATIONS).active;
      const projection = this.projection;
      const tenant = this.tenant;
      await world.d1Batch([
        (tx) => tx.set("generations", key, { active: job.generation, building: null }),
        (tx) => {
          for (const k of [...tx.db.views.keys()])
            if (k.startsWith(`${projection}|${old}|${tenant}|`)) tx.delete("views", k);
        },
      ]);
      await this.boundary(0);
      this.job = null;
      return;
    }
    const { generation } = job;
    await world.d1Batch([
      (tx) => {
        const anyBehind = this.#known().some(
          (k) => k.seq > (tx.db.checkpoints.get(rowKey(this.projection, generation, k.key)) ?? 0),
        );
        if (switchAllowed(job, tx.db.generations.get(key) ?? null, anyBehind))
          tx.set("generations", key, { active: generation, building: null });
      },
    ]);
    await this.boundary(0);
    const next = afterSwitch(job, world.d1.generations.get(key) ?? null);
    if (next === "rescan") return;
    if (next === "clear") {
      job.phase = "clearing";
      return;
    }
    world.anomaly(`rebuild of ${this.projection} for ${this.tenant} abandoned: generations changed under it`);
    this.job = null;
  }

  /** Clears every generation of this projection and tenant but the job's own, then ends the job. */
  async #clear(job: RebuildJob): Promise<void> {
    const { projection, tenant } = this;
    const others = (k: string): boolean => {
      const [p, g, t] = k.split("|");
      return p === projection && t === tenant && clearedByCleanup(job, Number(g));
    };
    await this.world.d1Batch([
      (tx) => {
        for (const k of [...tx.db.views.keys()]) if (others(k)) tx.delete("views", k);
        for (const k of [...tx.db.checkpoints.keys()]) if (others(k)) tx.delete("checkpoints", k);
      },
    ]);
    await this.boundary(0);
    this.job = null;
  }
}
