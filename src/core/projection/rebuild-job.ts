// The projection rebuild job's step sequence, run by production's rebuilder Durable Object
// (cloud/projections/projection-rebuilder.ts) and by the simulator's (src/simulation/rebuilder.ts)
// over a port: claim, prepare (choose the generation once, announce it as building, list the
// entities), replay pages of entity logs into it under checkpoint guards, re-scan, switch
// conditionally, clear every other generation in chunks; a failing step retries with backoff.
// The decisions are the pure rules of rebuild-rules.ts; the port performs the effects.
//
// Every step may run twice (an object evicted after its D1 write, or D1 failing after commit), so
// each step decides only from what the job recorded before it acted (FINDINGS F3).
import type { RecordedEvent } from "../model/envelope.js";
import { faultPoint, pausePoint } from "../resilience/fault-injection.js";
import { afterSwitch, chooseGenerations, keptByCleanup, type GenerationsRow } from "./rebuild-rules.js";

/** Up to this many entities are replayed per step (their logs read in parallel, one D1 batch). */
export const ENTITIES_PER_STEP = 20;
/** Statements per replay batch, well inside D1's per-invocation limits. */
export const STATEMENT_BUDGET = 400;
/** Events one entity brings per step when its projection folds a run into a few statements. */
export const EVENTS_PER_PAGE = 1_000;
/** Rows (and checkpoints) one cleanup step deletes per table: small enough for D1's 30 s per call. */
export const CLEAR_CHUNK = 500;
/** Entities one re-scan adds back before the switch. */
export const RESCAN_LIMIT = 100;
/** Entities the switch reads the unapplied facts of, at most, for the view's change feed (see `switchChanges`). */
export const SWITCH_CATCH_UP_LIMIT = 1_000;
/** The pause between two steps that succeeded (ms). */
export const STEP_SPACING_MS = 10;
/** A failing step is retried after base · 2^(failures - 1) ms, at most maxMs. */
export const REBUILD_RETRY = { baseMs: 1_000, maxMs: 5 * 60_000 } as const;

/** The delay before retrying a rebuild step that failed `failures` times in a row (ms, no jitter: one object). */
export function rebuildRetryDelay(failures: number): number {
  return Math.min(REBUILD_RETRY.maxMs, REBUILD_RETRY.baseMs * 2 ** Math.max(0, failures - 1));
}

/** preparing (listing entities), replaying logs, or clearing the old generations after the switch. */
export type RebuildPhase = "preparing" | "replaying" | "clearing";

/** One entity of the job's tenant. */
export interface RebuildEntity {
  readonly entityType: string;
  readonly entityId: string;
}

/** The job as the rebuilder object stores it. */
export interface RebuildJobRecord {
  readonly projection: string;
  readonly tenant: string;
  /** The generation being filled (0 until the job is prepared). */
  readonly generation: number;
  /** The generation that served reads when the job was prepared. */
  readonly previous: number;
  readonly phase: RebuildPhase;
  /** When the job was claimed (epoch ms). */
  readonly startedAt: number;
  /** Consecutive failed steps; 0 while steps succeed. */
  readonly failures: number;
}

/** The rebuilder object's own storage: synchronous, so a claim happens before any await. */
export interface RebuildStore {
  job(): RebuildJobRecord | null;
  /** Records a new job, preparing, with no generation chosen and nothing pending. */
  claim(projection: string, tenant: string, startedAt: number): void;
  recordGenerations(generation: number, previous: number): void;
  /** Adds `entities` to the pending ones and moves to replaying, with `entities.length` as the total. */
  beginReplay(entities: readonly RebuildEntity[]): void;
  /** The first `limit` pending entities, in the order they were added. */
  pending(limit: number): RebuildEntity[];
  /** Adds entities a re-scan found behind back to the pending ones. */
  addPending(entities: readonly RebuildEntity[]): void;
  /** Removes entities replayed up to their head from the pending ones. */
  replayed(entities: readonly RebuildEntity[]): void;
  beginClearing(): void;
  end(): void;
  /** Records a step's outcome: `failures` 0 with no error after a success. */
  recordOutcome(failures: number, error: string | null, retryAt: number | null): void;
}

/** One entity's log page: up to the cap of events after a seq, and whether they reach its head. */
export interface LogPage {
  readonly events: readonly RecordedEvent[];
  readonly atHead: boolean;
}

/**
 * Everything a rebuild job does outside itself, for one (projection, tenant): the object's
 * storage, clock and alarm, the cloud tier's tables (as statements of type `S` run in all-or-
 * nothing batches, and reads), and the entities' logs.
 */
export interface RebuildPort<S> {
  readonly store: RebuildStore;
  /** Epoch ms. */
  now(): number;
  setAlarm(at: number): Promise<void>;
  report(level: "warn" | "error", message: string, fields: Readonly<Record<string, string | number | null>>): void;

  /** The pair's generations row; null when there is none yet. */
  readGenerations(): Promise<GenerationsRow | null>;
  /** The highest generation of the pair with any checkpoint (an abandoned job's count too); null for none. */
  highestCheckpointed(): Promise<number | null>;
  /** The tenant's entities of the types the projection follows, as the cloud tier's heads know them. */
  listEntities(): Promise<RebuildEntity[]>;
  /** Up to `limit` entities the job's generation is behind the previous one on (or has never applied). */
  behind(job: RebuildJobRecord, limit: number): Promise<RebuildEntity[]>;
  /** Each entity's checkpoint in `generation` (0 when it has none), in the order given. */
  checkpoints(generation: number, entities: readonly RebuildEntity[]): Promise<number[]>;
  /** Up to `cap` events of the entity's log after `from`. */
  readLog(entity: RebuildEntity, from: number, cap: number): Promise<LogPage>;
  /** Whether the projection folds a run of events into a few statements (else a statement or more per event). */
  readonly foldsRuns: boolean;

  /** Applies `events` (contiguous after `from`) to the entity in `generation`, guarded by its checkpoint at `from`. */
  apply(generation: number, entity: RebuildEntity, from: number, events: readonly RecordedEvent[]): readonly S[];
  /** Sets the pair's building generation (creating the row with `previous` active if there is none). */
  markBuilding(job: RebuildJobRecord): S;
  /**
   * For the switch's batch, before `activate` and under its guard: statements that record in the
   * view's change feed the facts the job's generation shows and the active one has not applied.
   * The replay reads logs to their heads, so where the live consumer lags the new generation is
   * ahead; after the switch the consumer finds those facts applied and records nothing, so the
   * switch, which makes them visible, records them. Undefined while more entities are ahead than
   * one step reads (`SWITCH_CATCH_UP_LIMIT`): the step fails, and backs off while the consumer
   * catches up. [] for a port without change feeds.
   */
  switchChanges(job: RebuildJobRecord): Promise<readonly S[] | undefined>;
  /**
   * Activates the job's generation. Guarded: only while the active one is still `previous`, the
   * job's is still building and no entity is behind in it (`switchAllowed`), checked where it
   * writes. Unguarded: regardless (only the F3 mutant).
   */
  activate(job: RebuildJobRecord, guarded: boolean): S;
  /** Clears the building generation if it is still the job's. */
  stopBuilding(job: RebuildJobRecord): S;
  /** Removes at most `limit` view rows of every generation but `keep`. */
  clearRows(keep: number, limit: number): readonly S[];
  /** Removes at most `limit` checkpoints of every generation but `keep`. */
  clearCheckpoints(keep: number, limit: number): S;
  /**
   * Runs the statements as one all-or-nothing batch; throws if it failed. Answers how many rows it
   * changed — at least those it deleted, which is all the job reads (after a cleanup chunk).
   */
  batch(statements: readonly S[]): Promise<number>;
}

/**
 * Test-only switches that re-introduce fixed defects, so the simulator can show it finds them
 * (`npm run sim:mutants`). Production never sets one.
 */
export interface RebuildMutations {
  /**
   * FINDINGS F3: the finish step as it was before the fix. It takes the generation active at
   * finish time for the old one, switches unconditionally and clears the old one's rows (not its
   * checkpoints) in the same batch, then ends the job. Run twice, it clears the generation it
   * has just activated.
   */
  readonly rebuildSwitchReadsActive?: boolean;
}

/** One rebuilder object's job: its claim and its steps. Holds no state of its own (all is in the port). */
export class RebuildJob<S> {
  readonly #port: RebuildPort<S>;
  readonly #mutations: RebuildMutations;

  constructor(port: RebuildPort<S>, mutations: RebuildMutations = {}) {
    this.#port = port;
    this.#mutations = mutations;
  }

  /**
   * Claims the job synchronously, before any await, so of concurrent starts exactly one claims it;
   * false when a job is stored (running, or still clearing).
   */
  claim(projection: string, tenant: string): boolean {
    const store = this.#port.store;
    if (store.job()) return false;
    store.claim(projection, tenant, this.#port.now());
    return true;
  }

  /** Runs the job's next step; schedules the one after, or a retry with backoff if it failed. */
  async step(): Promise<void> {
    const port = this.#port;
    const job = port.store.job();
    if (!job) return;
    try {
      faultPoint("rebuild.step", { tenant: job.tenant });
      let warning: string | null = null;
      if (job.phase === "preparing") await this.#prepare(job);
      else if (job.phase === "replaying") warning = await this.#replay(job);
      else await this.#clear(job);
      if (port.store.job()) {
        port.store.recordOutcome(0, warning, null);
        await port.setAlarm(port.now() + STEP_SPACING_MS);
      }
    } catch (error) {
      const failures = job.failures + 1;
      const retryAt = port.now() + rebuildRetryDelay(failures);
      const detail = error instanceof Error ? error.message : String(error);
      port.store.recordOutcome(failures, detail, retryAt);
      port.report("warn", "projection rebuild step failed", {
        projection: job.projection,
        tenant: job.tenant,
        failures,
        error: detail,
      });
      await port.setAlarm(retryAt);
    }
  }

  /**
   * Chooses the generation (once: stored before it is announced, so a repeat reuses it), records
   * the active one as `previous`, marks the new one as building and lists the entities. Every
   * part may run again.
   */
  async #prepare(first: RebuildJobRecord): Promise<void> {
    const port = this.#port;
    if (first.generation === 0) {
      const current = await port.readGenerations();
      const written = await port.highestCheckpointed();
      const { generation, previous } = chooseGenerations(current, written);
      port.store.recordGenerations(generation, previous);
    }
    const job = port.store.job();
    if (!job) return;
    await port.batch([port.markBuilding(job)]);
    // Listed after `building` is set: a consumer batch that read the generations before that is
    // refused by their guard and re-planned, so every entity either is listed here or reaches the
    // new generation through the consumer.
    port.store.beginReplay(await port.listEntities());
  }

  /**
   * Replays the next pending entities; with none left, re-scans, then switches. An entity that
   * cannot be replayed (its log unreadable: an upcaster that fails, an object unreachable; or a
   * handler that throws) goes to the back of the pending ones while the others go on: the step
   * answers why, which the status shows, and fails only when none of its entities could be
   * replayed, so it backs off once nothing else is left.
   */
  async #replay(job: RebuildJobRecord): Promise<string | null> {
    const port = this.#port;
    const next = port.store.pending(ENTITIES_PER_STEP);
    if (next.length === 0) {
      await this.#finishReplay(job);
      return null;
    }
    const applied = await port.checkpoints(job.generation, next);
    const cap = port.foldsRuns ? EVENTS_PER_PAGE : STATEMENT_BUDGET - 1;
    const reads = await Promise.allSettled(
      next.map(async (entity, i) => {
        const from = applied[i] ?? 0;
        const { events, atHead } = await port.readLog(entity, from, cap);
        return { entity, statements: port.apply(job.generation, entity, from, events), atHead };
      }),
    );
    const steps = reads.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const failed = next.flatMap((entity, i) => {
      const read = reads[i];
      if (read?.status !== "rejected") return [];
      const why = read.reason instanceof Error ? read.reason.message : String(read.reason);
      return [{ entity, why: `${entity.entityType}/${entity.entityId}: ${why}` }];
    });
    const unreadError =
      failed.length === 0
        ? null
        : `${failed.length} entities could not be replayed: ${failed.map((f) => f.why).join("; ")}`;
    // To the back of the pending ones, so that a step's worth of failing entities cannot hold back the rest.
    const unreplayed = failed.map((f) => f.entity);
    port.store.replayed(unreplayed);
    port.store.addPending(unreplayed);
    if (steps.length === 0 && unreadError !== null) throw new Error(unreadError);
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
    let lastError = "";
    const apply = async (statements: readonly S[]): Promise<boolean> => {
      if (statements.length === 0) return true;
      try {
        faultPoint("rebuild.batch", { tenant: job.tenant });
        await port.batch(statements);
        return true;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        port.report("warn", "projection rebuild batch failed", { error: lastError });
        return false;
      }
    };
    const done = (await apply(packed.flatMap((p) => p.statements))) ? packed : [];
    if (done.length === 0 && packed.length > 1) {
      for (const step of packed) if (await apply(step.statements)) done.push(step);
    }
    // Nothing applied at all is D1 failing (a guard conflict moves one entity, not every one):
    // fail the step, so it backs off instead of spinning.
    if (done.length === 0 && packed.some((p) => p.statements.length > 0))
      throw new Error(`no entity could be applied: ${lastError}${unreadError === null ? "" : `; ${unreadError}`}`);
    port.store.replayed(done.filter((step) => step.atHead).map((step) => step.entity));
    if (unreadError !== null)
      port.report("warn", "projection rebuild could not replay entities", {
        projection: job.projection,
        tenant: job.tenant,
        error: unreadError,
      });
    return unreadError;
  }

  /**
   * Before switching: entities the new generation is behind the previous one on (or has never
   * applied) go back to pending, and the switch waits for them. The consumer keeps the new
   * generation level with the active one for every entity it has reached, so these are entities
   * first seen after the listing or left with a gap.
   */
  async #finishReplay(job: RebuildJobRecord): Promise<void> {
    const port = this.#port;
    const behind = await port.behind(job, RESCAN_LIMIT);
    port.store.addPending(behind);
    if (behind.length > 0) {
      port.report("warn", "projection rebuild found entities behind before its switch", {
        projection: job.projection,
        tenant: job.tenant,
        count: behind.length,
      });
      return;
    }
    const paused = pausePoint("rebuild.beforeSwitch", { tenant: job.tenant });
    if (paused) await paused;
    if (this.#mutations.rebuildSwitchReadsActive) return this.#finishAsBeforeF3(job);
    await this.#switch(job);
  }

  /**
   * Activates the job's generation if `switchAllowed` (checked in the same statement, so a
   * consumer write landing between the re-scan and the switch holds the switch off and the next
   * step re-scans), then decides from the generations read back (`afterSwitch`). A repeat finds
   * the generation already active and goes on to the cleanup.
   */
  async #switch(job: RebuildJobRecord): Promise<void> {
    const port = this.#port;
    const changes = await port.switchChanges(job);
    // Failing the step backs it off (shown in the rebuild's status) while the consumer catches up.
    if (changes === undefined)
      throw new Error(`more than ${SWITCH_CATCH_UP_LIMIT} entities wait for the consumer before the switch`);
    await port.batch([...changes, port.activate(job, true)]);
    faultPoint("rebuild.afterSwitch", { tenant: job.tenant });
    const now = await port.readGenerations();
    const next = afterSwitch(job, now);
    if (next === "clear") return port.store.beginClearing();
    // Not switched because an entity fell behind meanwhile: the next step re-scans.
    if (next === "rescan") return;
    // Someone else changed the generations (an operator, or a job from an older deployment):
    // this job's rows never served, and clearing anything now could remove the active ones.
    port.report("error", "projection rebuild abandoned: generations changed under it", {
      projection: job.projection,
      tenant: job.tenant,
      active: now?.active ?? null,
      generation: job.generation,
    });
    // Stop the consumer filling a generation no one will switch to (its rows go with the next rebuild's cleanup).
    await port.batch([port.stopBuilding(job)]);
    port.store.end();
  }

  /** The F3 mutant's finish (see `RebuildMutations`): never set in production. */
  async #finishAsBeforeF3(job: RebuildJobRecord): Promise<void> {
    const port = this.#port;
    // The old generation is whatever is active now: on a repeat, the job's own.
    const old = (await port.readGenerations())?.active ?? 0;
    // The port clears "every generation but one": to clear `old`, keep the other of the job's pair.
    const keep = old === job.generation ? job.previous : job.generation;
    await port.batch([port.activate(job, false), ...port.clearRows(keep, CLEAR_CHUNK)]);
    faultPoint("rebuild.afterSwitch", { tenant: job.tenant });
    port.store.end();
  }

  /**
   * One chunk of the cleanup: at most CLEAR_CHUNK rows per table and CLEAR_CHUNK checkpoints of
   * every generation but the job's own. The job ends once a chunk removes nothing.
   */
  async #clear(job: RebuildJobRecord): Promise<void> {
    const port = this.#port;
    const keep = keptByCleanup(job);
    const changed = await port.batch([...port.clearRows(keep, CLEAR_CHUNK), port.clearCheckpoints(keep, CLEAR_CHUNK)]);
    if (changed === 0) port.store.end();
  }
}
