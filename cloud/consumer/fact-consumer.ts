// The facts queue consumer's adapter: the batch sequence itself (decode, group per entity, plan,
// repair gaps from the entity, one guarded D1 batch or entity-by-entity isolation, the sagas'
// checkpoint and delivery, acks, acknowledgements, retry with growing delay, dead letters) is
// src/core/consumer/consumer-host.ts, shared with the simulator; this file gives it ports over the
// bindings — D1 through drizzle (the projections' own handlers supply the statements), the
// Queues messages, entity and saga RPC, the fault-injection seam, logs and metrics.
import { drizzle } from "drizzle-orm/d1";
import {
  FactConsumer,
  NO_GENERATIONS,
  type ConsumerMessage,
  type DecodedMessage,
  type FactConsumerPorts,
} from "../../src/core/consumer/consumer-host.js";
import { decodeFactsMessage, resolveParkedFact } from "../../src/core/consumer/facts-message.js";
import {
  cloudEventSchema,
  fromCloudEvent,
  toCloudEvent,
  type ParkedFactNotice,
} from "../../src/core/protocol/cloud-event.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { UnfoldableEvent } from "../../src/core/model/entity.js";
import { faultPoint, pausePoint } from "../../src/core/resilience/fault-injection.js";
import { logEvent } from "../../src/core/runtime/log.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { traceIdOf } from "../../src/core/http/trace-context.js";
import { maybePruneViewChanges } from "../projections/view-changes.js";
import {
  advanceSagaCheckpoints,
  applyStatements,
  checkpointId,
  readProgress,
  sagaCheckpointOf,
} from "../projections/checkpoints.js";
import { generationsGuard, readGenerations } from "../projections/generations.js";
import { recordHeads } from "./entity-heads.js";
import { readFromEntity } from "./entity-reader.js";
import { recordParkedFact } from "./parked-facts.js";
import { entityStub } from "../stubs.js";
import { recordDeadLetter } from "./dead-letters.js";
import { recordFactApplied } from "../metrics/metrics-buffer.js";
import type { Db, Projection, Statement } from "../../src/core/model/projection.js";
import type { CloudApp } from "../app.js";
import { concernsSagas, deliverFactsToSagas } from "../sagas/saga-delivery.js";

/** A Queues message as the shared consumer settles it; a parked notice's stand-in carries the fact from when it is read. */
class QueueDelivery implements ConsumerMessage {
  readonly #message: Message<unknown>;
  /** What a dead letter records: the message, or once its parked fact is read, the fact in its place. */
  current: Message<unknown>;

  constructor(message: Message<unknown>) {
    this.#message = message;
    this.current = message;
  }

  get attempts(): number {
    return this.#message.attempts;
  }

  ack(): void {
    this.#message.ack();
  }

  retry(delaySeconds: number): void {
    this.#message.retry({ delaySeconds });
  }
}

/** A parked fact's notice, with the delivery that carried it. */
interface ParkedNotice {
  readonly data: ParkedFactNotice;
  readonly delivery: QueueDelivery;
}

/** Consumes one delivery of the facts queue with the shared host, over the bindings. */
export async function consumeFacts(batch: MessageBatch<unknown>, env: Env, app: CloudApp): Promise<void> {
  const consumer = new FactConsumer(factConsumerPorts(env, app, drizzle(env.DB)));
  await consumer.consume(batch.messages.map((m) => new QueueDelivery(m)));
}

function factConsumerPorts(env: Env, app: CloudApp, db: Db): FactConsumerPorts<QueueDelivery, Statement, ParkedNotice> {
  const projections = new Map<string, Projection>(app.projections.map((p) => [p.name, p]));
  const followers = new Map<string, string[]>();
  return {
    decode: (delivery): DecodedMessage<ParkedNotice> => {
      const decoded = decodeFactsMessage(delivery.current.body);
      if (decoded.kind === "parked") return { kind: "parked", notice: { data: decoded.notice, delivery } };
      if (decoded.kind !== "fact") return decoded;
      try {
        return { kind: "fact", event: upcast(app, decoded.event) };
      } catch (error) {
        // An upcaster that fails: a dead letter to replay once it is fixed, never a thrown batch
        // that would fail every other fact delivered with it.
        if (!(error instanceof UnfoldableEvent)) throw error;
        return {
          kind: "invalid",
          error: `${decoded.event.meta.entityType} ${decoded.event.meta.entityId}: ${error.message}`,
        };
      }
    },
    fetchParked: async ({ data, delivery }) => {
      try {
        await recordParkedFact(db, data);
        const event = await resolveParkedFact(data, (address, after, upTo) =>
          readFromEntity(env, address, after, upTo),
        );
        // The fact as it would have travelled: a CloudEvent, read back as any message is.
        const body = toCloudEvent(event);
        delivery.current = standIn(delivery.current, body);
        return upcast(app, fromCloudEvent(cloudEventSchema.parse(body)));
      } catch (error) {
        logEvent("warn", "parked fact not resolved", {
          ...data,
          error: error instanceof Error ? error.message : String(error),
        });
        throw error;
      }
    },
    followers: (entityType) => {
      let names = followers.get(entityType);
      if (!names) {
        names = app.projections.filter((p) => p.follows.includes(entityType)).map((p) => p.name);
        followers.set(entityType, names);
      }
      return names;
    },
    hasSagas: app.sagas.length > 0,
    concernsSagas: (facts) => concernsSagas(app.sagas, facts),
    readGenerations: async (pairs) => {
      const gens = await readGenerations(db, pairs);
      return (p) => gens.get(`${p.projection}|${p.tenant}`) ?? NO_GENERATIONS;
    },
    readProgress: async (keys, addresses) => {
      const { applied, delivered } = await readProgress(db, keys, addresses);
      return {
        applied: (key) => applied.get(checkpointId(key)) ?? 0,
        delivered: (address) => sagaCheckpointOf(delivered, address),
      };
    },
    apply: (key, from, events) => {
      const projection = projections.get(key.projection);
      if (!projection) throw new Error(`no projection ${key.projection}`);
      return applyStatements(db, projection, key, from, events);
    },
    generationsGuard: (reads) => generationsGuard(db, reads),
    recordHeads: (heads) => recordHeads(db, heads),
    advanceSagaCheckpoints: (delivered) => advanceSagaCheckpoints(db, delivered),
    batch: async ([first, ...rest]) => {
      await db.batch([first, ...rest]);
    },
    readEntity: (address, after, upTo) => readFromEntity(env, address, after, upTo),
    deliverToSagas: async (facts) => {
      await deliverFactsToSagas(env, app.sagas, facts);
    },
    acknowledge: async (address, seq) => {
      await entityStub(env, address).acknowledge(address, seq);
    },
    recordDeadLetter: (delivery, error, projection) => recordDeadLetter(db, delivery.current, projection, error),
    fault: (point, address) => faultPoint(point, address ?? {}),
    pauseBeforeWrite: (address) => pausePoint("consumer.beforeWrite", address),
    applied: (address, events) => {
      const now = Date.now();
      for (const event of events) {
        recordFactApplied(address.tenant, now - Date.parse(event.meta.recordedAt), now);
        logEvent("info", "fact applied", {
          ...address,
          seq: event.seq,
          eventType: event.type,
          traceId: traceIdOf(event.meta.traceparent),
        });
      }
    },
    failed: (address, error) => logEvent("warn", "fact batch failed", { ...address, error }),
    // The change feeds' retention, at most once a minute per isolate, once this batch's work is
    // done (cloud/projections/view-changes.ts says why here).
    afterBatch: async () => {
      const config = hostConfig(env, "consumer");
      await maybePruneViewChanges(
        db,
        { retainCount: config.viewChangesRetainCount, retainAgeMs: config.viewChangesRetainAgeMs },
        Date.now(),
      );
    },
    now: () => Date.now(),
  };
}

/** A message carrying `body` in place of `notice`'s, settled through the notice. */
function standIn(notice: Message<unknown>, body: unknown): Message<unknown> {
  return {
    id: notice.id,
    timestamp: notice.timestamp,
    attempts: notice.attempts,
    body,
    ack: () => notice.ack(),
    retry: (options?: QueueRetryOptions) => notice.retry(options),
  };
}

/** Facts sent before a schema change arrive at their old version: lift them here too. */
function upcast(app: CloudApp, event: RecordedEvent): RecordedEvent {
  const entity = app.entities.get(event.meta.entityType);
  if (!entity || event.schemaVersion >= entity.eventVersion(event.type)) return event;
  return {
    ...event,
    schemaVersion: entity.eventVersion(event.type),
    data: entity.upcast(event.type, event.schemaVersion, event.data, event.seq),
  };
}
