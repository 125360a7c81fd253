// The reference domain's sagas: adding one is a file and a line here.
import type { SagaDefinition } from "../core/model/saga.js";
import { orderFulfillment } from "./order-fulfillment.js";

// Not widened to SagaDefinition<unknown>[]: defineApp checks the services each one declares.
export const sagas = [orderFulfillment] as const;

export function sagaNamed(name: string): SagaDefinition<unknown> | undefined {
  return sagas.find((s) => s.name === name);
}
