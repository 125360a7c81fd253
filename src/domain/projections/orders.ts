// The `orders` view: one row per order, listable by status and by customer.
import { and, asc, eq, gt, sql, type SQL } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { z } from "zod";
import type { RecordedEvent } from "../../core/model/envelope.js";
import { entityIdSchema } from "../../core/protocol/identifiers.js";
import { defineProjection, type Db, type RowScope } from "../../core/model/projection.js";
import { orders } from "../orders.js";

/** The view's D1 table (its migration is generated with the platform's tables: drizzle.config.ts). */
export const ordersView = sqliteTable(
  "orders_view",
  {
    tenantId: text("tenant_id").notNull(),
    generation: integer("generation").notNull(),
    orderId: text("order_id").notNull(),
    customerId: text("customer_id").notNull(),
    status: text("status").notNull(),
    total: real("total").notNull(),
    itemCount: integer("item_count").notNull(),
    reason: text("reason"),
    version: integer("version").notNull().default(0),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.generation, t.orderId] }),
    index("orders_by_status").on(t.tenantId, t.generation, t.status),
    index("orders_by_customer").on(t.tenantId, t.generation, t.customerId),
  ],
);

const t = ordersView;

const scoped = (s: RowScope) => and(eq(t.tenantId, s.tenant), eq(t.generation, s.generation));

function setStatus(db: Db, e: RecordedEvent, generation: number, status: string, reason: string | null = null) {
  return [
    db
      .update(t)
      .set({ status, reason, version: e.seq, updatedAt: e.meta.recordedAt })
      .where(and(scoped({ tenant: e.meta.tenant, generation }), eq(t.orderId, e.meta.entityId))),
  ];
}

/** The `orders` view, over the orders entity. */
export const ordersProjection = defineProjection(orders)({
  name: "orders",
  on: {
    OrderCreated: (db, e, generation) => {
      const d = e.data;
      return [
        db
          .insert(t)
          .values({
            tenantId: e.meta.tenant,
            generation,
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
    OrderConfirmed: (db, e, g) => setStatus(db, e, g, "confirmed"),
    OrderShipped: (db, e, g) => setStatus(db, e, g, "shipped"),
    OrderCancelled: (db, e, g) => setStatus(db, e, g, "cancelled", e.data.reason),
  },
  clear: (db, scope, limit) => [
    db
      .delete(t)
      .where(
        sql`rowid IN (SELECT rowid FROM ${t} WHERE ${t.tenantId} = ${scope.tenant} AND ${t.generation} <> ${scope.keep} LIMIT ${limit})`,
      ),
  ],
  filters: {
    status: z
      .enum(["pending", "confirmed", "shipped", "cancelled"], {
        error: "status must be pending, confirmed, shipped or cancelled",
      })
      .describe("pending, confirmed, shipped or cancelled"),
    customerId: entityIdSchema.describe("the customer's id"),
  },
  key: "orderId",
  list: (db, scope, query, limit, after) => {
    const where: (SQL | undefined)[] = [scoped(scope)];
    if (query.status !== undefined) where.push(eq(t.status, query.status));
    if (query.customerId !== undefined) where.push(eq(t.customerId, query.customerId));
    if (after !== undefined) where.push(gt(t.orderId, after));
    return db
      .select(columns)
      .from(t)
      .where(and(...where))
      .orderBy(asc(t.orderId))
      .limit(limit);
  },
  get: async (db, scope, key) =>
    (
      await db
        .select(columns)
        .from(t)
        .where(and(scoped(scope), eq(t.orderId, key)))
        .limit(1)
    )[0],
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
