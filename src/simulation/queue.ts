// The facts queue in the simulator: at least once and in no order; drops, duplicates and delays
// are faults; consumer invocations take random batches, up to the consumer's concurrency. It
// carries what production's does (a fact's CloudEvent, or the notice of a parked fact), refuses a
// batch over the run's size limits with the queue's own wording, and resolves each parked fact's
// notice into the fact, read from its entity, before the consumer sees the batch (production's
// consumer does this itself, through the `fetchParked` port of src/core/consumer/consumer-host.ts;
// moving it there in the simulator too is still to do).
import type { RecordedEvent } from "../core/model/envelope.js";
import {
  fromCloudEvent,
  QUEUE_LIMITS,
  queueMessageBytes,
  type FactsQueueMessage,
  type ParkedFactNotice,
} from "../core/protocol/cloud-event.js";
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

/** A parked fact's notice that cannot be resolved yet is retried after this (production's delay). */
const NOTICE_RETRY_DELAY_SECONDS = 5;

/** A message on the facts queue. */
interface QueuedMessage {
  readonly id: number;
  readonly body: FactsQueueMessage;
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

  /**
   * The relay's `sendBatch`: accepts the whole batch, or throws (accepting none of it) when a
   * message is over the run's message limit or the batch over the batch limit, in bytes as the
   * queue counts them.
   */
  sendBatch(bodies: readonly FactsQueueMessage[]): void {
    const { faults, clock, queueLimits } = this.#world;
    // Under production's limits nothing the relay packs can pass them (facts are bounded when
    // decided, batches packed by size): only a run with a tight limit pays for counting bytes.
    if (queueLimits.tight) checkSizes(bodies, queueLimits.queueMessageBytes);
    for (const body of bodies) {
      if (faults.strike("queueDrop")) continue;
      const copies = faults.strike("queueDuplicate") ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const delay = faults.strike("queueDelay") ? faults.int(WORLD_LIMITS.maxQueueDelayMs) : 0;
        const id = this.#nextId++;
        this.messages.set(id, { id, body, attempts: 0, visibleAt: clock.now + delay, inFlight: false });
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

  /**
   * The parked fact a notice names, read from its entity over RPC and checked to be that fact;
   * undefined when it cannot be read now (the notice is retried after a delay, as production's).
   */
  async #resolve(notice: ParkedFactNotice): Promise<RecordedEvent | undefined> {
    const address = { tenant: notice.tenant, entityType: notice.entitytype, entityId: notice.entityid };
    try {
      const [event] = await this.#world.readEntity(address, notice.seq - 1, notice.seq);
      return event?.meta.eventId === notice.eventid ? event : undefined;
    } catch {
      return undefined;
    }
  }

  async #deliver(batch: QueuedMessage[]): Promise<void> {
    const world = this.#world;
    const outcomes = new Map<number, { kind: "ack" } | { kind: "retry"; delaySeconds: number }>();
    const handles: ConsumerMessage[] = [];
    for (const m of batch) {
      const event = "kind" in m.body ? await this.#resolve(m.body) : fromCloudEvent(m.body);
      if (!event) {
        outcomes.set(m.id, { kind: "retry", delaySeconds: NOTICE_RETRY_DELAY_SECONDS });
        continue;
      }
      handles.push({
        event,
        attempts: m.attempts,
        ack: () => outcomes.set(m.id, { kind: "ack" }),
        retry: (delaySeconds) => outcomes.set(m.id, { kind: "retry", delaySeconds }),
      });
    }
    try {
      if (handles.length > 0) await world.consumer.consume(handles);
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
