// The facts queue in the simulator: at least once and in no order; drops, duplicates and delays
// are faults; consumer invocations take random batches, up to the consumer's concurrency. It
// carries what production's does (a fact's CloudEvent, or the notice of a parked fact, which the
// consumer resolves from its entity) and, now and then, a stray producer's message that is no
// fact at all; it refuses a batch over the run's size limits with the queue's own wording.
import { QUEUE_LIMITS, queueMessageBytes, type FactsQueueMessage } from "../core/protocol/cloud-event.js";
import { WORLD_LIMITS } from "./config.js";
import type { ConsumerMessage } from "./consumer.js";
import type { World } from "./world.js";

/** Throws, in the queue's own words, when a message is over `messageBytes` or the batch over the batch limit. */
function checkSizes(bodies: readonly FactsQueueMessage[], messageBytes: number): void {
  let total = 0;
  for (const body of bodies) {
    const bytes = queueMessageBytes(body);
    if (bytes > messageBytes) throw new Error(`message size of ${bytes} bytes exceeds limit of ${messageBytes}`);
    total += bytes;
  }
  if (total > QUEUE_LIMITS.batchBytes)
    throw new Error(`batch size of ${total} bytes exceeds limit of ${QUEUE_LIMITS.batchBytes}`);
}

/**
 * What a stray producer (another service bound to the queue, a hand-sent test message) may put on
 * the facts queue: nothing here is a fact or a notice, though some come close.
 */
const STRAY_BODIES: readonly unknown[] = [
  null,
  "restocked",
  {},
  { specversion: "1.0", type: "Restocked", source: "factline", id: "x" },
  { kind: "factline.fact-parked", tenant: "t1" },
];

/** A message on the facts queue. */
interface QueuedMessage {
  readonly id: number;
  readonly body: unknown;
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
  /** Stray messages put on the queue (each must end as one dead letter, never in a view). */
  strays = 0;

  constructor(world: World) {
    this.#world = world;
  }

  /**
   * The relay's `sendBatch`: accepts the whole batch, or throws (accepting none of it) when a
   * message is over the run's message limit or the batch over the batch limit, in bytes as the
   * queue counts them.
   */
  sendBatch(bodies: readonly FactsQueueMessage[]): void {
    const { faults, queueLimits } = this.#world;
    // Under production's limits nothing the relay packs can pass them (facts are bounded when
    // decided, batches packed by size): only a run with a tight limit pays for counting bytes.
    if (queueLimits.tight) checkSizes(bodies, queueLimits.queueMessageBytes);
    for (const body of bodies) {
      if (faults.strike("queueDrop")) continue;
      const copies = faults.strike("queueDuplicate") ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const delay = faults.strike("queueDelay") ? faults.int(WORLD_LIMITS.maxQueueDelayMs) : 0;
        this.#enqueue(body, delay);
      }
    }
    if (faults.strike("queueStray")) {
      this.strays++;
      this.#enqueue(STRAY_BODIES[faults.int(STRAY_BODIES.length)], 0);
    }
  }

  #enqueue(body: unknown, delayMs: number): void {
    const id = this.#nextId++;
    this.messages.set(id, { id, body, attempts: 0, visibleAt: this.#world.clock.now + delayMs, inFlight: false });
    this.#kick(delayMs);
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
      body: m.body,
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
      world.stats.consumerRetries++;
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
