// The queue consumer in the simulator: the shared host (src/core/consumer/consumer-host.ts), the
// very batch sequence production's queue handler runs, over ports onto the simulator's models —
// D1 as the model's tables (a view row's statement folds a digest of the facts applied, see
// d1-model.ts), entity logs and acknowledgements over simulated RPC, the sagas' deliveries, and
// the consumer's fault rates at the host's fault points. Message bodies are read, and parked
// facts' notices resolved from their entity, by production's own functions (facts-message.ts).
import {
  FactConsumer,
  type ConsumerMessage as HostMessage,
  type FactConsumerPorts,
} from "../core/consumer/consumer-host.js";
import { decodeFactsMessage, noticeAddress, resolveParkedFact } from "../core/consumer/facts-message.js";
import type { RecordedEvent } from "../core/model/envelope.js";
import type { ParkedFactNotice } from "../core/protocol/cloud-event.js";
import { entityKey, generationsKey, NO_GENERATIONS, rowKey, type SimStatement } from "./d1-model.js";
import { WORLD_LIMITS } from "./config.js";
import type { World } from "./world.js";

/** A message as the simulated queue hands it to the consumer (production: the Queues `Message`). */
export interface ConsumerMessage extends HostMessage {
  /** What was put on the queue: a fact's CloudEvent, a parked fact's notice, or anything else. */
  readonly body: unknown;
  /** The fact it carries, once read (a parked notice's once resolved): what a dead letter records. */
  event?: RecordedEvent;
}

/** A parked fact's notice, with the message that carried it. */
interface SimNotice {
  readonly data: ParkedFactNotice;
  readonly message: ConsumerMessage;
}

/** The simulator's consumer: the shared host over the world's models. */
export class SimConsumer {
  readonly #host: FactConsumer<ConsumerMessage, SimStatement, SimNotice>;

  constructor(world: World) {
    this.#host = new FactConsumer(simConsumerPorts(world), world.mutations);
  }

  /** Consumes one delivery of the facts queue. */
  consume(messages: readonly ConsumerMessage[]): Promise<void> {
    return this.#host.consume(messages);
  }
}

function simConsumerPorts(world: World): FactConsumerPorts<ConsumerMessage, SimStatement, SimNotice> {
  const d1 = world.d1;
  return {
    decode: (message) => {
      const decoded = decodeFactsMessage(message.body);
      if (decoded.kind === "parked") return { kind: "parked", notice: { data: decoded.notice, message } };
      if (decoded.kind === "fact") message.event = decoded.event;
      return decoded;
    },
    // As production's: the notice recorded for operators (once), then the fact read from its entity.
    fetchParked: async ({ data, message }) => {
      const address = noticeAddress(data);
      const record: SimStatement = (tx) => {
        if (!tx.db.parkedFacts.has(data.eventid))
          tx.set("parkedFacts", data.eventid, {
            tenant: data.tenant,
            entityKey: entityKey(address.tenant, address.entityType, address.entityId),
            seq: data.seq,
          });
      };
      await world.d1Batch([record]);
      const event = await resolveParkedFact(data, (a, after, upTo) => world.readEntity(a, after, upTo));
      message.event = event;
      return event;
    },
    followers: (entityType) => world.followers(entityType).map((p) => p.name),
    hasSagas: world.app.sagas.length > 0,
    concernsSagas: (facts) => world.concernsSagas(facts),
    readGenerations: async (pairs) => {
      await world.clock.sleep(WORLD_LIMITS.d1LatencyMs);
      const read = new Map(
        pairs.map((p) => {
          const key = generationsKey(p.projection, p.tenant);
          return [key, d1.generations.get(key) ?? NO_GENERATIONS] as const;
        }),
      );
      return (p) => read.get(generationsKey(p.projection, p.tenant)) ?? NO_GENERATIONS;
    },
    readProgress: async (keys, addresses) => {
      await world.clock.sleep(WORLD_LIMITS.d1LatencyMs);
      // One read of the checkpoints this batch needs (production: one indexed query).
      const applied = new Map<string, number>();
      for (const k of keys) {
        const row = rowKey(k.projection, k.generation, entityKey(k.tenant, k.entityType, k.entityId));
        const seq = d1.checkpoints.get(row);
        if (seq !== undefined) applied.set(row, seq);
      }
      const delivered = new Map<string, number>();
      for (const a of addresses) {
        const key = entityKey(a.tenant, a.entityType, a.entityId);
        const seq = d1.sagaCheckpoints.get(key);
        if (seq !== undefined) delivered.set(key, seq);
      }
      return {
        applied: (k) =>
          applied.get(rowKey(k.projection, k.generation, entityKey(k.tenant, k.entityType, k.entityId))) ?? 0,
        delivered: (a) => delivered.get(entityKey(a.tenant, a.entityType, a.entityId)) ?? 0,
      };
    },
    apply: (k, from, events) => [
      applyToView(k.projection, k.generation, entityKey(k.tenant, k.entityType, k.entityId), k.tenant, from, events),
    ],
    generationsGuard: (reads) => (tx) => {
      for (const r of reads) {
        const now = tx.db.generations.get(generationsKey(r.projection, r.tenant)) ?? NO_GENERATIONS;
        if (now.active !== r.gens.active || now.building !== r.gens.building) throw new Error("generations moved");
      }
    },
    recordHeads: (heads) => (tx) => {
      for (const h of heads) {
        const key = entityKey(h.tenant, h.entityType, h.entityId);
        const prior = tx.db.heads.get(key);
        if (!prior || prior.seq < h.seq)
          tx.set("heads", key, { tenant: h.tenant, entityType: h.entityType, entityId: h.entityId, seq: h.seq });
      }
    },
    advanceSagaCheckpoints: (delivered) => (tx) => {
      for (const d of delivered) {
        const key = entityKey(d.address.tenant, d.address.entityType, d.address.entityId);
        if (d.seq > (tx.db.sagaCheckpoints.get(key) ?? 0)) tx.set("sagaCheckpoints", key, d.seq);
      }
    },
    batch: (statements) => world.d1Batch(statements),
    readEntity: (address, after, upTo) => world.readEntity(address, after, upTo),
    deliverToSagas: (facts) => world.deliverToSagas(facts),
    acknowledge: (address, seq) => world.acknowledgeEntity(address, seq),
    recordDeadLetter: async (message, error, projection) => {
      const meta = message.event?.meta;
      d1.deadLetters.push({
        tenant: meta?.tenant ?? null,
        entityKey: meta ? entityKey(meta.tenant, meta.entityType, meta.entityId) : null,
        seq: message.event?.seq ?? null,
        projection,
        error,
      });
    },
    fault: (point) => {
      if (point === "consumer.apply" && world.faults.strike("consumerApplyFail")) throw new Error("planning failed");
      if (point === "saga.deliver" && world.faults.strike("sagaDeliverFail")) throw new Error("saga delivery failed");
      // "consumer.batch": D1's own failures are the model's (world.d1Batch), struck there.
    },
    pauseBeforeWrite: () => undefined,
    // The simulator keeps no metrics or logs of its own: its invariants read the models.
    applied: () => undefined,
    failed: () => undefined,
    afterBatch: async () => undefined,
    now: () => world.clock.now,
  };
}

/** The digest of a run of facts extended by `event` (FNV-1a over its event id, chained). */
export function chainDigest(digest: number, event: RecordedEvent): number {
  let h = (digest ^ 0x811c9dc5) >>> 0;
  const id = event.meta.eventId;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * The checkpoint guard (a plain insert when `from` is 0, else a compare-and-set on `from`) and
 * the view row's fold of `events`, as applyStatements builds them (cloud/projections/checkpoints.ts).
 * The row folds a digest of the facts applied, in order: equal to the digest of the log exactly
 * when every fact was applied once, in order, with none missing.
 */
export function applyToView(
  projection: string,
  generation: number,
  entity: string,
  tenant: string,
  from: number,
  events: readonly RecordedEvent[],
): SimStatement {
  return (tx) => {
    const last = events[events.length - 1];
    if (!last) return;
    const checkpoint = rowKey(projection, generation, entity);
    const current = tx.db.checkpoints.get(checkpoint);
    if (from === 0 ? current !== undefined : current !== from) throw new Error(`checkpoint ${checkpoint} moved`);
    tx.set("checkpoints", checkpoint, last.seq);
    let row = tx.db.views.get(checkpoint) ?? { tenant, digest: 0, applied: 0, lastSeq: 0 };
    for (const e of events)
      row = { tenant, digest: chainDigest(row.digest, e), applied: row.applied + 1, lastSeq: e.seq };
    tx.set("views", checkpoint, row);
  };
}
