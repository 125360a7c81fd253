// The reference domain's sagas: adding one is a file and a line here.
import type { SagaDefinition } from "../core/model/saga.js";
import { orderFulfillment } from "./order-fulfillment.js";

export const sagas: readonly SagaDefinition<unknown>[] = [orderFulfillment as SagaDefinition<unknown>];

export function sagaNamed(name: string): SagaDefinition<unknown> | undefined {
  return sagas.find((s) => s.name === name);
}
