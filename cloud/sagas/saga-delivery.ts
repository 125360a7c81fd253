// Saga delivery's adapter: the consumer hands the facts it applied to the sagas that follow them,
// one RPC per saga instance (which instances and which facts: src/core/saga/saga-delivery.ts,
// shared with the simulator). Delivery is at least once and in any order; the saga object
// deduplicates and orders itself.
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { SagaDefinition } from "../../src/core/model/saga.js";
import { sagaDeliveries } from "../../src/core/saga/saga-delivery.js";
import { sagaStub } from "../stubs.js";

export { concernsSagas } from "../../src/core/saga/saga-delivery.js";

/** Delivers each fact to every instance of `sagas` it concerns, one call per instance; throws if any call failed. */
export async function deliverFactsToSagas(
  env: Env,
  sagas: readonly SagaDefinition<unknown>[],
  facts: readonly RecordedEvent[],
): Promise<void> {
  await Promise.all(
    sagaDeliveries(sagas, facts).map((d) =>
      sagaStub(env, d.id).deliver({ tenant: d.tenant, saga: d.saga.name, instanceKey: d.instanceKey }, [...d.facts]),
    ),
  );
}
