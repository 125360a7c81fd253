// The `inventory` view: on hand, reserved, available and shipped per SKU.
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { EventDataOf, EventNameOf } from "../../core/model/entity.js";
import type { RecordedEvent } from "../../core/model/envelope.js";
import { defineProjection, type Db, type RowScope } from "../../core/model/projection.js";
import { inventory } from "../inventory.js";

/** The view's D1 table (its migration is generated with the platform's tables: drizzle.config.ts). */
export const inventoryView = sqliteTable(
  "inventory_view",
  {
    tenantId: text("tenant_id").notNull(),
    generation: integer("generation").notNull(),
    sku: text("sku").notNull(),
    onHand: integer("on_hand").notNull().default(0),
    reserved: integer("reserved").notNull().default(0),
    available: integer("available").notNull().default(0),
    shipped: integer("shipped").notNull().default(0),
    version: integer("version").notNull().default(0),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.generation, t.sku] })],
);

const t = inventoryView;

interface Delta {
  onHand?: number;
  reserved?: number;
  available?: number;
  shipped?: number;
}

function adjust(db: Db, event: RecordedEvent, generation: number, d: Delta) {
  const row = {
    tenantId: event.meta.tenant,
    generation,
    sku: event.meta.entityId,
    onHand: d.onHand ?? 0,
    reserved: d.reserved ?? 0,
    available: d.available ?? 0,
    shipped: d.shipped ?? 0,
    version: event.seq,
    updatedAt: event.meta.recordedAt,
  };
  return [
    db
      .insert(t)
      .values(row)
      .onConflictDoUpdate({
        target: [t.tenantId, t.generation, t.sku],
        set: {
          onHand: sql`${t.onHand} + ${row.onHand}`,
          reserved: sql`${t.reserved} + ${row.reserved}`,
          available: sql`${t.available} + ${row.available}`,
          shipped: sql`${t.shipped} + ${row.shipped}`,
          version: row.version,
          updatedAt: row.updatedAt,
        },
      }),
  ];
}

const scoped = (s: RowScope) => and(eq(t.tenantId, s.tenant), eq(t.generation, s.generation));

type Inventory = typeof inventory;
type InventoryFact = {
  [K in EventNameOf<Inventory>]: RecordedEvent & { readonly type: K; readonly data: EventDataOf<Inventory, K> };
}[EventNameOf<Inventory>];

/** How each inventory event moves the view's columns. */
function delta(e: InventoryFact): Delta {
  switch (e.type) {
    case "Restocked":
      return { onHand: e.data.quantity, available: e.data.quantity };
    case "Reserved":
      return { reserved: e.data.quantity, available: -e.data.quantity };
    case "Released":
      return { reserved: -e.data.quantity, available: e.data.quantity };
    case "Shipped":
      return { onHand: -e.data.quantity, reserved: -e.data.quantity, shipped: e.data.quantity };
  }
}

/** The `inventory` view, over the inventory entity. */
export const inventoryProjection = defineProjection(inventory)({
  name: "inventory",
  on: {
    Restocked: (db, e, g) => adjust(db, e, g, delta(e)),
    Reserved: (db, e, g) => adjust(db, e, g, delta(e)),
    Released: (db, e, g) => adjust(db, e, g, delta(e)),
    Shipped: (db, e, g) => adjust(db, e, g, delta(e)),
  },
  // The columns are sums, so a run of events is one upsert of the summed deltas, stamped with
  // the last event that changed them.
  applyRun: (db, events, g) => {
    const sum: Required<Delta> = { onHand: 0, reserved: 0, available: 0, shipped: 0 };
    let last: RecordedEvent | undefined;
    for (const e of events) {
      const d = delta(e);
      sum.onHand += d.onHand ?? 0;
      sum.reserved += d.reserved ?? 0;
      sum.available += d.available ?? 0;
      sum.shipped += d.shipped ?? 0;
      last = e;
    }
    return last ? adjust(db, last, g, sum) : [];
  },
  clear: (db, scope, limit) => [
    db
      .delete(t)
      .where(
        sql`rowid IN (SELECT rowid FROM ${t} WHERE ${t.tenantId} = ${scope.tenant} AND ${t.generation} <> ${scope.keep} LIMIT ${limit})`,
      ),
  ],
  filters: {},
  key: "sku",
  list: (db, scope, _query, limit, after) =>
    db
      .select(columns)
      .from(t)
      .where(and(scoped(scope), after === undefined ? undefined : gt(t.sku, after)))
      .orderBy(asc(t.sku))
      .limit(limit),
  get: async (db, scope, key) =>
    (
      await db
        .select(columns)
        .from(t)
        .where(and(scoped(scope), eq(t.sku, key)))
        .limit(1)
    )[0],
});

const columns = {
  sku: t.sku,
  onHand: t.onHand,
  reserved: t.reserved,
  available: t.available,
  shipped: t.shipped,
  version: t.version,
  updatedAt: t.updatedAt,
};
