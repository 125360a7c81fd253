// A simulated Durable Object: storage and alarm that survive an eviction, an incarnation that
// an eviction bumps, and the effect boundary at which code of a dead incarnation stops.
//
// Code of a dead incarnation stops the way it does when a real object is evicted: the await it
// was at never returns. No exception runs through its catch and finally blocks, so host code
// shared with production (which catches a failed send, say) cannot mistake an eviction for a
// failure and go on writing storage from an instance that no longer exists.
import { WORLD_LIMITS } from "./config.js";
import type { World } from "./world.js";

/** Thrown into code in flight on an object that was evicted: it stops there. */
export class Evicted extends Error {}

/** For work nobody awaits (production: `waitUntil`): an eviction ends it quietly, anything else is a bug. */
export function ignoreEviction(error: unknown): void {
  if (!(error instanceof Evicted)) throw error;
}

/**
 * What an await of an evicted incarnation waits on: nothing, for ever (the simulator's crash).
 * A fresh promise each time: one shared pending promise would hold every continuation ever
 * parked on it (and through them every run's whole world) for the life of the process, which a
 * soak of some minutes grew past the heap; a fresh one is collected with what awaits it.
 */
export function never(): Promise<never> {
  return new Promise<never>(() => {});
}

/** One Durable Object's storage and alarm, and its incarnation (bumped by each eviction). */
export abstract class SimObject {
  alarmAt: number | null = null;
  incarnation = 0;
  protected readonly world: World;
  #alarmRetries = 0;
  /** The alarm whose handler is running, and in which incarnation (an eviction cuts it short). */
  #firing: { readonly at: number; readonly incarnation: number } | null = null;

  constructor(world: World) {
    this.world = world;
  }

  protected abstract onEvict(): void;
  protected abstract onAlarm(): Promise<void>;

  evict(): void {
    this.incarnation++;
    this.onEvict();
    const cut = this.#firing;
    if (cut && cut.incarnation === this.incarnation - 1) {
      this.#firing = null;
      this.#retryAlarm(cut.at);
    }
  }

  /**
   * An effect boundary: time passes and the object may be evicted; code of a dead incarnation
   * stops here for good (the returned promise never settles, see `never`).
   */
  async boundary(latencyMs: number): Promise<void> {
    const incarnation = this.incarnation;
    await this.world.clock.sleep(latencyMs);
    if (this.world.faults.strike("evict")) this.evict();
    if (this.incarnation !== incarnation) return never();
  }

  /**
   * One D1 write from this object (a status mirror row): a D1 round trip at which the object may
   * be evicted, failing before it commits or after, as the run's D1 faults say.
   */
  protected async d1Write(write: () => void): Promise<void> {
    await this.boundary(WORLD_LIMITS.d1LatencyMs);
    if (this.world.faults.strike("d1FailBefore")) throw new Error("D1 unavailable");
    write();
    if (this.world.faults.strike("d1FailAfter")) throw new Error("D1 answer lost after commit");
  }

  setAlarm(at: number): void {
    this.alarmAt = at;
    this.world.clock.at(at - this.world.clock.now, () => {
      if (this.alarmAt !== at) return;
      this.alarmAt = null;
      void this.#fire(at);
    });
  }

  deleteAlarm(): void {
    this.alarmAt = null;
  }

  async #fire(at: number): Promise<void> {
    const firing = { at, incarnation: this.incarnation };
    this.#firing = firing;
    try {
      await this.onAlarm();
      this.#alarmRetries = 0;
    } catch (error) {
      if (!(error instanceof Evicted)) throw error;
      this.#retryAlarm(at);
    } finally {
      if (this.#firing === firing) this.#firing = null;
    }
  }

  /** Alarms are at least once: a handler cut short is retried (with backoff, a few times). */
  #retryAlarm(at: number): void {
    if (this.#alarmRetries++ < 6 && this.alarmAt === null)
      this.setAlarm(Math.max(at, this.world.clock.now) + 1_000 * 2 ** this.#alarmRetries);
  }
}
