// The `orders` view: one row per order, listable by status and by customer.
import { and, asc, eq, type SQL } from "drizzle-orm";
import type { RecordedEvent } from "../../src/core/envelope.js";
import { defineProjection, type Db } from "../projection.js";
import { ordersView as t } from "../schema.js";

interface Created {
  customerId: string;
  items: unknown[];
  total: number;
}

function setStatus(db: Db, e: RecordedEvent, status: string, reason: string | null = null) {
  return [
    db
      .update(t)
      .set({ status, reason, version: e.seq, updatedAt: e.meta.recordedAt })
      .where(and(eq(t.tenantId, e.meta.tenant), eq(t.orderId, e.meta.entityId))),
  ];
}

export const ordersProjection = defineProjection({
  name: "orders",
  follows: ["orders"],
  on: {
    OrderCreated: (db, e) => {
      const d = e.data as Created;
      return [
        db
          .insert(t)
          .values({
            tenantId: e.meta.tenant,
            orderId: e.meta.entityId,
            customerId: d.customerId,
            status: "pending",
            total: d.total,
            itemCount: d.items.length,
            version: e.seq,
            createdAt: e.meta.recordedAt,
            updatedAt: e.meta.recordedAt,
          })
          .onConflictDoNothing(),
      ];
    },
    OrderConfirmed: (db, e) => setStatus(db, e, "confirmed"),
    OrderShipped: (db, e) => setStatus(db, e, "shipped"),
    OrderCancelled: (db, e) => setStatus(db, e, "cancelled", (e.data as { reason: string }).reason),
  },
  clear: (db, tenant) => [db.delete(t).where(eq(t.tenantId, tenant))],
  filters: { status: "pending, confirmed, shipped or cancelled", customerId: "the customer's id" },
  list: (db, tenant, query, limit) => {
    const where: SQL[] = [eq(t.tenantId, tenant)];
    if (query.status !== undefined) where.push(eq(t.status, query.status));
    if (query.customerId !== undefined) where.push(eq(t.customerId, query.customerId));
    return db.select(columns).from(t).where(and(...where)).orderBy(asc(t.createdAt), asc(t.orderId)).limit(limit);
  },
  get: async (db, tenant, key) =>
    (await db.select(columns).from(t).where(and(eq(t.tenantId, tenant), eq(t.orderId, key))).limit(1))[0],
});

const columns = {
  orderId: t.orderId,
  customerId: t.customerId,
  status: t.status,
  total: t.total,
  itemCount: t.itemCount,
  reason: t.reason,
  version: t.version,
  createdAt: t.createdAt,
  updatedAt: t.updatedAt,
};
