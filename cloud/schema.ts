// The D1 schema of the cloud tier (drizzle). Migrations in migrations/ are generated from this
// file by drizzle-kit (`npm run db:generate`). Every row is scoped by tenant.

import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  status: text("status", { enum: ["active", "suspended"] }).notNull().default("active"),
  createdAt: integer("created_at").notNull(),
  /** Fair use: a token bucket refilled at this rate (null: no limit). */
  rateLimitRps: real("rate_limit_rps"),
  rateLimitBurst: integer("rate_limit_burst"),
  /** Browser origins allowed to call the tenant API (JSON array of origins). */
  corsOrigins: text("cors_origins", { mode: "json" }).$type<string[]>().notNull().default([]),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    keyHash: text("key_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [index("api_keys_by_tenant").on(t.tenantId)],
);

/** How far each projection has applied each entity's log: the last sequence number applied. */
export const projectionCheckpoints = sqliteTable(
  "projection_checkpoints",
  {
    projection: text("projection").notNull(),
    tenantId: text("tenant_id").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    seq: integer("seq").notNull(),
    /** When the fact at `seq` was recorded at the edge (ms), for lag in seconds. */
    recordedAt: integer("recorded_at").notNull(),
    appliedAt: integer("applied_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projection, t.tenantId, t.entityType, t.entityId] })],
);

export const inventoryView = sqliteTable(
  "inventory_view",
  {
    tenantId: text("tenant_id").notNull(),
    sku: text("sku").notNull(),
    onHand: integer("on_hand").notNull().default(0),
    reserved: integer("reserved").notNull().default(0),
    available: integer("available").notNull().default(0),
    shipped: integer("shipped").notNull().default(0),
    version: integer("version").notNull().default(0),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.sku] })],
);

export const ordersView = sqliteTable(
  "orders_view",
  {
    tenantId: text("tenant_id").notNull(),
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
    primaryKey({ columns: [t.tenantId, t.orderId] }),
    index("orders_by_status").on(t.tenantId, t.status),
    index("orders_by_customer").on(t.tenantId, t.customerId),
  ],
);

/** Facts the consumer gave up on, with the error, until an operator replays them. */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    projection: text("projection"),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    seq: integer("seq").notNull(),
    body: text("body").notNull(),
    error: text("error").notNull(),
    attempts: integer("attempts").notNull(),
    createdAt: integer("created_at").notNull(),
    replayedAt: integer("replayed_at"),
  },
  (t) => [index("dead_letters_by_tenant").on(t.tenantId, t.createdAt)],
);


