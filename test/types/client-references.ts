// Type-level specification of factline/client: an application's commands are checked against the
// domain's definitions by the compiler. `tsc -p .` compiles this file; each `@ts-expect-error`
// marks a mistake that must not compile, and an unused one fails the build. Nothing here runs.
import { createClient } from "../../client/index.js";
import { inventory } from "../../src/domain/inventory.js";
import { orders } from "../../src/domain/orders.js";

const client = createClient({ baseUrl: "https://factline.example", apiKey: "fl_x", entities: [inventory, orders] });
const sku = client.entity("inventory", "sku-1");

// Correct uses compile: the baseline every mistake below departs from by one name or field.
export const restocked = sku.command("restock", { quantity: 5 });
export const reserved = sku.command("reserve", { orderId: "o-1", quantity: 1 });
export const created = client.entity("orders", "o-1").command("create", { customerId: "c-1", items: [{ sku: "sku-1", quantity: 1, unitPrice: 100 }] });
export const available: number = sku.state.available;
export const version: number = sku.confirmed.version;

// @ts-expect-error "warehouse" is not an entity type this client was given
export const unknownType = client.entity("warehouse", "w-1");

// @ts-expect-error inventory has no command "hold"
export const unknownCommand = sku.command("hold", { quantity: 1 });

// @ts-expect-error restock's quantity is a number
export const wrongFieldType = sku.command("restock", { quantity: "5" });

// @ts-expect-error reserve needs an orderId
export const missingField = sku.command("reserve", { quantity: 1 });

// @ts-expect-error orders have no "restock" command: commands belong to their entity type
export const commandOfAnotherType = client.entity("orders", "o-1").command("restock", { quantity: 1 });

// @ts-expect-error inventory state has no "status"
export const unknownStateField = sku.state.status;

const inventoryOnly = createClient({ baseUrl: "https://factline.example", apiKey: "fl_x", entities: [inventory] });
// @ts-expect-error this client was given inventory only
export const notGiven = inventoryOnly.entity("orders", "o-1");
