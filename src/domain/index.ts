// The reference domain's registry: adding an entity type is one file and one line here.
import { EntityRegistry } from "../core/model/entity.js";
import { inventory } from "./inventory.js";
import { orders } from "./orders.js";
import { payments } from "./payments.js";

export const domain = new EntityRegistry([inventory, orders, payments]);
