// The reference domain's read models; adding one is a file and a line here.
import type { Projection } from "../../core/model/projection.js";
import { inventoryProjection } from "./inventory.js";
import { ordersProjection } from "./orders.js";

export const projections: readonly Projection[] = [inventoryProjection, ordersProjection];
