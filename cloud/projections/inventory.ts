// The `inventory` view: on hand, reserved, available and shipped per SKU.
import { and, asc, eq, sql } from "drizzle-orm";
import type { RecordedEvent } from "../../src/core/envelope.js";
import { defineProjection, type Db } from "../projection.js";
import { inventoryView as t } from "../schema.js";

interface Delta {
  onHand?: number;
  reserved?: number;
  available?: number;
  shipped?: number;
}

function adjust(db: Db, event: RecordedEvent, d: Delta) {
  const row = {
    tenantId: event.meta.tenant,
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
        target: [t.tenantId, t.sku],
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

const quantity = (e: RecordedEvent) => (e.data as { quantity: number }).quantity;

export const inventoryProjection = defineProjection({
  name: "inventory",
  follows: ["inventory"],
  on: {
    Restocked: (db, e) => adjust(db, e, { onHand: quantity(e), available: quantity(e) }),
    Reserved: (db, e) => adjust(db, e, { reserved: quantity(e), available: -quantity(e) }),
    Released: (db, e) => adjust(db, e, { reserved: -quantity(e), available: quantity(e) }),
    Shipped: (db, e) => adjust(db, e, { onHand: -quantity(e), reserved: -quantity(e), shipped: quantity(e) }),
  },
  clear: (db, tenant) => [db.delete(t).where(eq(t.tenantId, tenant))],
  filters: {},
  list: (db, tenant, _query, limit) =>
    db.select(columns).from(t).where(eq(t.tenantId, tenant)).orderBy(asc(t.sku)).limit(limit),
  get: async (db, tenant, key) =>
    (await db.select(columns).from(t).where(and(eq(t.tenantId, tenant), eq(t.sku, key))).limit(1))[0],
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
