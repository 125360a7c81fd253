// The example app's D1 table (drizzle), created by examples/todo/migrations/0100_todo_lists.sql.
// Like every projection table it carries the tenant and the generation (see cloud/projections/projection.ts).
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const todoListsView = sqliteTable(
  "todo_lists_view",
  {
    tenantId: text("tenant_id").notNull(),
    generation: integer("generation").notNull(),
    listId: text("list_id").notNull(),
    open: integer("open").notNull(),
    done: integer("done").notNull(),
    closed: integer("closed", { mode: "boolean" }).notNull(),
    version: integer("version").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.generation, t.listId] })],
);

/** What the example's `notifier` service has sent: one row per idempotency key. */
export const todoNotifications = sqliteTable("todo_notifications", {
  idempotencyKey: text("idempotency_key").primaryKey(),
  tenantId: text("tenant_id").notNull(),
  listId: text("list_id").notNull(),
  message: text("message").notNull(),
});
