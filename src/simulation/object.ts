// A simulated Durable Object: storage and alarm that survive an eviction, an incarnation that
// an eviction bumps, and the effect boundary at which code of a dead incarnation stops.
import type { World } from "./world.js";

/** Thrown into code in flight on an object that was evicted: it stops there. */
export class Evicted extends Error {}

/** For work nobody awaits (production: `waitUntil`): an eviction ends it quietly, anything else is a bug. */
export function ignoreEviction(error: unknown): void {
  if (!(error instanceof Evicted)) throw error;
}

/** One Durable Object's storage and alarm, and its incarnation (bumped by each eviction). */
export abstract class SimObject {
  alarmAt: number | null = null;
  incarnation = 0;
  protected readonly world: World;
  #alarmRetries = 0;

  constructor(world: World) {
    this.world = world;
  }

  protected abstract onEvict(): void;
  protected abstract onAlarm(): Promise<void>;

  evict(): void {
    this.incarnation++;
    this.onEvict();
  }

  /** An effect boundary: time passes, the object may be evicted, and code of a dead incarnation stops. */
  async boundary(latencyMs: number): Promise<void> {
    const incarnation = this.incarnation;
    await this.world.clock.sleep(latencyMs);
    if (this.world.faults.strike("evict")) this.evict();
    if (this.incarnation !== incarnation) throw new Evicted();
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
    try {
      await this.onAlarm();
      this.#alarmRetries = 0;
    } catch (error) {
      if (!(error instanceof Evicted)) throw error;
      // Alarms are at least once: a handler cut short is retried (with backoff, a few times).
      if (this.#alarmRetries++ < 6 && this.alarmAt === null)
        this.setAlarm(Math.max(at, this.world.clock.now) + 1_000 * 2 ** this.#alarmRetries);
    }
  }
}
