// The reference domain's sagas: adding one is a file and a line here.
import { orderFulfillment } from "./order-fulfillment.js";

// Not widened to SagaDefinition<unknown>[]: defineApp checks the services each one declares.
export const sagas = [orderFulfillment] as const;
