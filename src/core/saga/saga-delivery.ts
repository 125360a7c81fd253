// Which saga instances a batch of facts goes to: each fact to every instance it concerns (one
// Durable Object per tenant, saga and instance key), one delivery per instance, its facts in log
// order. Shared by the consumer's adapter (cloud/sagas/saga-delivery.ts) and the simulator, which
// then make one call per delivery; at least once and in any order, as the saga deduplicates.
import type { RecordedEvent } from "../model/envelope.js";
import { sagaInstanceId, type SagaDefinition } from "../model/saga.js";
import { ENTITY_ID } from "../protocol/names.js";

/** One call to one saga instance: its object's id, its address and the facts it is handed (oldest first). */
export interface SagaDelivery {
  /** The instance's object name (`sagaInstanceId`). */
  readonly id: string;
  readonly tenant: string;
  readonly saga: SagaDefinition<unknown>;
  readonly instanceKey: string;
  readonly facts: readonly RecordedEvent[];
}

/** Whether any saga follows any of these facts (if none does, handing them over is a no-op). */
export function concernsSagas(sagas: readonly SagaDefinition<unknown>[], facts: readonly RecordedEvent[]): boolean {
  return facts.some((fact) => sagas.some((saga) => saga.instanceOf(fact) !== null));
}

/**
 * The instance of `saga` that `fact` concerns (its `instanceOf`), or null for none. Throws when
 * the key is outside an entity id's grammar: its instance could not be addressed by the admin
 * API, and a "/" in it would make task idempotency keys of two instances equal
 * (`taskIdempotencyKey`). The consumer's delivery and the saga kit (src/testing) both ask here, so
 * a key the runtime would refuse fails the app's saga test too.
 */
export function instanceKeyOf(saga: SagaDefinition<unknown>, fact: RecordedEvent): string | null {
  const instanceKey = saga.instanceOf(fact);
  if (instanceKey === null || ENTITY_ID.pattern.test(instanceKey)) return instanceKey;
  throw new Error(
    `saga ${saga.name} names instance ${JSON.stringify(instanceKey.slice(0, 64))}${instanceKey.length > 64 ? ` (${instanceKey.length} characters)` : ""} for fact ${fact.meta.eventId}: an instance key is ${ENTITY_ID.rule} (an entity id's grammar)`,
  );
}

/**
 * The deliveries `facts` make to the instances of `sagas` they concern, one per instance. Throws
 * when a saga's `instanceOf` names a key outside the grammar (`instanceKeyOf`): the app's mistake
 * then fails the delivery, like an `instanceOf` that throws: retried, then dead-lettered with this
 * error for an operator to see.
 */
export function sagaDeliveries(
  sagas: readonly SagaDefinition<unknown>[],
  facts: readonly RecordedEvent[],
): SagaDelivery[] {
  const deliveries = new Map<
    string,
    { tenant: string; saga: SagaDefinition<unknown>; instanceKey: string; facts: RecordedEvent[] }
  >();
  for (const fact of facts) {
    for (const saga of sagas) {
      const instanceKey = instanceKeyOf(saga, fact);
      if (instanceKey === null) continue;
      const id = sagaInstanceId(fact.meta.tenant, saga.name, instanceKey);
      const delivery = deliveries.get(id) ?? { tenant: fact.meta.tenant, saga, instanceKey, facts: [] };
      delivery.facts.push(fact);
      deliveries.set(id, delivery);
    }
  }
  return [...deliveries].map(([id, d]) => ({ id, ...d, facts: d.facts.sort((a, b) => a.seq - b.seq) }));
}
