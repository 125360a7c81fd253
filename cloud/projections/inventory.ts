// The `inventory` view: on hand, reserved, available and shipped per SKU.
import { and, asc, eq, sql } from "drizzle-orm";
import type { RecordedEvent } from "../../src/core/envelope.js";
import { defineProjection, type Db, type RowScope } from "../projection.js";
import { inventoryView as t } from "../schema.js";

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

const quantity = (e: RecordedEvent) => (e.data as { quantity: number }).quantity;
const scoped = (s: RowScope) => and(eq(t.tenantId, s.tenant), eq(t.generation, s.generation));

const deltas: Readonly<Record<string, (e: RecordedEvent) => Delta>> = {
  Restocked: (e) => ({ onHand: quantity(e), available: quantity(e) }),
  Reserved: (e) => ({ reserved: quantity(e), available: -quantity(e) }),
  Released: (e) => ({ reserved: -quantity(e), available: quantity(e) }),
  Shipped: (e) => ({ onHand: -quantity(e), reserved: -quantity(e), shipped: quantity(e) }),
};

export const inventoryProjection = defineProjection({
  name: "inventory",
  follows: ["inventory"],
  on: Object.fromEntries(Object.entries(deltas).map(([type, delta]) => [type, (db: Db, e: RecordedEvent, g: number) => adjust(db, e, g, delta(e))])),
  // The columns are sums, so a run of events is one upsert of the summed deltas, stamped with
  // the last event that changed them.
  applyRun: (db, events, g) => {
    const sum: Required<Delta> = { onHand: 0, reserved: 0, available: 0, shipped: 0 };
    let last: RecordedEvent | undefined;
    for (const e of events) {
      const delta = Object.hasOwn(deltas, e.type) ? deltas[e.type] : undefined;
      if (!delta) continue;
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
    db.delete(t).where(sql`rowid IN (SELECT rowid FROM ${t} WHERE ${t.tenantId} = ${scope.tenant} AND ${t.generation} <> ${scope.keep} LIMIT ${limit})`),
  ],
  filters: {},
  list: (db, scope, _query, limit) => db.select(columns).from(t).where(scoped(scope)).orderBy(asc(t.sku)).limit(limit),
  get: async (db, scope, key) => (await db.select(columns).from(t).where(and(scoped(scope), eq(t.sku, key))).limit(1))[0],
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
