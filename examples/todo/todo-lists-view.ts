// The example app's read model: `/v1/views/todo-lists` (and `/{listId}`), open and done counts
// per list. Each handler returns statements; the platform runs them with its checkpoints in one
// D1 batch, so a fact is applied once however often it is delivered.
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { type Db, defineProjection, type RecordedEvent, type RowScope } from "../../src/app-api.js";
import { todoListsView as t } from "./schema.js";
import { todoLists } from "./todo-list.js";

interface Delta {
  readonly open: number;
  readonly done: number;
  readonly closed: boolean;
}

function upsert(db: Db, event: RecordedEvent, generation: number, d: Delta) {
  return [
    db
      .insert(t)
      .values({
        tenantId: event.meta.tenant,
        generation,
        listId: event.meta.entityId,
        open: d.open,
        done: d.done,
        closed: d.closed,
        version: event.seq,
      })
      .onConflictDoUpdate({
        target: [t.tenantId, t.generation, t.listId],
        set: {
          open: sql`${t.open} + ${d.open}`,
          done: sql`${t.done} + ${d.done}`,
          closed: sql`${t.closed} OR ${d.closed}`,
          version: event.seq,
        },
      }),
  ];
}

const scoped = (s: RowScope) => and(eq(t.tenantId, s.tenant), eq(t.generation, s.generation));
const columns = { listId: t.listId, open: t.open, done: t.done, closed: t.closed, version: t.version };

export const todoListsProjection = defineProjection(todoLists)({
  name: "todo-lists",
  on: {
    ItemAdded: (db, e, g) => upsert(db, e, g, { open: 1, done: 0, closed: false }),
    ItemCompleted: (db, e, g) => upsert(db, e, g, { open: -1, done: 1, closed: false }),
    ListClosed: (db, e, g) => upsert(db, e, g, { open: 0, done: 0, closed: true }),
  },
  clear: (db, scope, limit) => [
    db
      .delete(t)
      .where(
        sql`rowid IN (SELECT rowid FROM ${t} WHERE ${t.tenantId} = ${scope.tenant} AND ${t.generation} <> ${scope.keep} LIMIT ${limit})`,
      ),
  ],
  filters: {},
  key: "listId",
  list: (db, scope, _query, limit, after) =>
    db
      .select(columns)
      .from(t)
      .where(and(scoped(scope), after === undefined ? undefined : gt(t.listId, after)))
      .orderBy(asc(t.listId))
      .limit(limit),
  get: async (db, scope, key) =>
    (
      await db
        .select(columns)
        .from(t)
        .where(and(scoped(scope), eq(t.listId, key)))
        .limit(1)
    )[0],
});
