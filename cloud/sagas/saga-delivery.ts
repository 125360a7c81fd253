// Saga delivery: the consumer hands the facts it applied to the sagas that follow them. Each fact
// goes to the saga instance it concerns (one object per tenant, saga and instance key), one call
// per instance per batch.
// Delivery is at least once and in any order; the saga object deduplicates and orders itself.
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { sagaInstanceId } from "../../src/core/model/saga.js";
import type { SagaDefinition } from "../../src/core/model/saga.js";
import { sagaStub } from "../stubs.js";

/** Whether any saga follows any of these facts (if none does, handing them over is a no-op). */
export function concernsSagas(sagas: readonly SagaDefinition<unknown>[], facts: readonly RecordedEvent[]): boolean {
  return facts.some((fact) => sagas.some((saga) => saga.instanceOf(fact) !== null));
}

/** Delivers each fact to every instance of `sagas` it concerns, one call per instance. */
export async function deliverFactsToSagas(
  env: Env,
  sagas: readonly SagaDefinition<unknown>[],
  facts: readonly RecordedEvent[],
): Promise<void> {
  const deliveries = new Map<string, { tenant: string; saga: string; instanceKey: string; facts: RecordedEvent[] }>();
  for (const fact of facts) {
    for (const saga of sagas) {
      const instanceKey = saga.instanceOf(fact);
      if (instanceKey === null) continue;
      const id = sagaInstanceId(fact.meta.tenant, saga.name, instanceKey);
      const d = deliveries.get(id) ?? { tenant: fact.meta.tenant, saga: saga.name, instanceKey, facts: [] };
      d.facts.push(fact);
      deliveries.set(id, d);
    }
  }
  await Promise.all(
    [...deliveries].map(([id, d]) =>
      sagaStub(env, id).deliver(
        { tenant: d.tenant, saga: d.saga, instanceKey: d.instanceKey },
        d.facts.sort((a, b) => a.seq - b.seq),
      ),
    ),
  );
}
