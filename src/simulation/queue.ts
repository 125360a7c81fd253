// The facts queue in the simulator: at least once and in no order; drops, duplicates and delays
// are faults; consumer invocations take random batches, up to the consumer's concurrency.
import type { RecordedEvent } from "../core/model/envelope.js";
import { WORLD_LIMITS } from "./config.js";
import type { ConsumerMessage } from "./consumer.js";
import type { World } from "./world.js";

/** A message on the facts queue. */
interface QueuedMessage {
  readonly id: number;
  readonly event: RecordedEvent;
  attempts: number;
  visibleAt: number;
  inFlight: boolean;
}

/** The facts queue: at least once, in no order; drops, duplicates and delays are faults. */
export class SimQueue {
  readonly #world: World;
  readonly messages = new Map<number, QueuedMessage>();
  #nextId = 1;
  #pollAt: number | null = null;
  inFlight = 0;

  constructor(world: World) {
    this.#world = world;
  }

  enqueue(events: readonly RecordedEvent[]): void {
    const { faults, clock } = this.#world;
    for (const event of events) {
      if (faults.strike("queueDrop")) continue;
      const copies = faults.strike("queueDuplicate") ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const delay = faults.strike("queueDelay") ? faults.int(WORLD_LIMITS.maxQueueDelayMs) : 0;
        const id = this.#nextId++;
        this.messages.set(id, { id, event, attempts: 0, visibleAt: clock.now + delay, inFlight: false });
        this.#kick(delay);
      }
    }
  }

  #kick(delayMs: number): void {
    const at = this.#world.clock.now + delayMs;
    if (this.#pollAt !== null && this.#pollAt <= at) return;
    this.#pollAt = at;
    this.#world.clock.at(delayMs, () => {
      if (this.#pollAt === at) this.#pollAt = null;
      this.#poll();
    });
  }

  /** Starts consumer invocations while visible messages wait and concurrency allows. */
  #poll(): void {
    const world = this.#world;
    const now = world.clock.now;
    let nextVisible = Number.POSITIVE_INFINITY;
    while (this.inFlight < WORLD_LIMITS.consumerMaxConcurrency) {
      const visible: QueuedMessage[] = [];
      for (const m of this.messages.values()) {
        if (m.inFlight) continue;
        if (m.visibleAt <= now) visible.push(m);
        else nextVisible = Math.min(nextVisible, m.visibleAt);
      }
      if (visible.length === 0) break;
      // No ordering guarantee: a random selection in a random order.
      const size = 1 + world.faults.int(WORLD_LIMITS.consumerMaxBatch);
      const batch: QueuedMessage[] = [];
      while (batch.length < size && visible.length > 0) {
        const i = world.faults.int(visible.length);
        const [m] = visible.splice(i, 1);
        if (m) batch.push(m);
      }
      for (const m of batch) {
        m.inFlight = true;
        m.attempts++;
      }
      this.inFlight++;
      void this.#deliver(batch);
    }
    if (Number.isFinite(nextVisible)) this.#kick(nextVisible - now);
  }

  async #deliver(batch: QueuedMessage[]): Promise<void> {
    const world = this.#world;
    const outcomes = new Map<number, { kind: "ack" } | { kind: "retry"; delaySeconds: number }>();
    const handles: ConsumerMessage[] = batch.map((m) => ({
      event: m.event,
      attempts: m.attempts,
      ack: () => outcomes.set(m.id, { kind: "ack" }),
      retry: (delaySeconds) => outcomes.set(m.id, { kind: "retry", delaySeconds }),
    }));
    try {
      await world.consumer.consume(handles);
    } catch (error) {
      world.anomaly(`the consumer threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    for (const m of batch) {
      const outcome = outcomes.get(m.id) ?? { kind: "retry" as const, delaySeconds: 1 };
      m.inFlight = false;
      if (outcome.kind === "ack") {
        this.messages.delete(m.id);
        continue;
      }
      if (m.attempts >= WORLD_LIMITS.queueMaxDeliveries) {
        // The queue's own dead-letter queue: the fact reaches the view again only through a probe and repair.
        this.messages.delete(m.id);
        world.stats.queueDeadLetters++;
        continue;
      }
      m.visibleAt = world.clock.now + outcome.delaySeconds * 1000;
    }
    this.inFlight--;
    this.#kick(0);
  }
}
