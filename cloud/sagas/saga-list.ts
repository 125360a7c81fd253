// The admin API's list of sagas (`GET /admin/sagas`) as keyset pages over D1's `saga_instances`:
// the sagas needing attention first, then the rest; within each, newest first (`createdAt`, when
// the saga was first listed, descending; ties by id, descending). A page is asked for with one row
// more than its limit, so a page after which rows remain always has a `next` (the views' paging,
// cloud/projections/view-page.ts), and every saga can be listed. Each of the two groups is read in
// the order of an index (`saga_instances_by_*`, cloud/schema.ts), so a page never sorts the table.
import { and, desc, eq, ne, type SQL, sql } from "drizzle-orm";
import type { Db } from "../../src/core/model/projection.js";
import { cursorText, viewCursor } from "../projections/view-page.js";
import { sagaInstances } from "../schema.js";

/** A saga's place in the list: its group (attention or not), then `createdAt` and `id`, both descending. */
export interface SagaListPosition {
  readonly attention: boolean;
  readonly createdAt: number;
  readonly id: string;
}

export interface SagaListQuery {
  readonly status?: string | undefined;
  readonly tenant?: string | undefined;
  readonly limit: number;
  /** The position of the previous page's last row (its `next`, decoded). */
  readonly after?: SagaListPosition | undefined;
}

export type SagaRow = typeof sagaInstances.$inferSelect;

/** A page of sagas: its rows and the cursor of the page after it (null when it is the last). */
export interface SagaPage {
  readonly items: SagaRow[];
  readonly next: string | null;
}

/** A saga id's grammar: `tenant:saga:instance`. */
export const SAGA_ID = /^[a-z0-9-]{1,40}:[a-z0-9-]{1,40}:[A-Za-z0-9._~-]{1,128}$/;
// `a` (attention) or `r` (the rest), createdAt, id: at most 2 + 17 + 210 ASCII chars, 308 in base64url.
const POSITION = /^([ar])\.(\d{1,16})\.(.+)$/;
const MAX_CURSOR = 320;

/** The opaque cursor of the page after `p`: base64url (as a view's) of `a|r.<createdAt>.<id>`. */
export function sagaCursor(p: SagaListPosition): string {
  return viewCursor(`${p.attention ? "a" : "r"}.${p.createdAt}.${p.id}`);
}

/** The position a cursor stands for, or undefined when `cursor` is no cursor `sagaCursor` gives. */
export function sagaCursorPosition(cursor: string): SagaListPosition | undefined {
  const text = cursorText(cursor, MAX_CURSOR);
  const [, group, createdAt, id] = (text === undefined ? null : POSITION.exec(text)) ?? [];
  if (group === undefined || createdAt === undefined || id === undefined || !SAGA_ID.test(id)) return undefined;
  const position = { attention: group === "a", createdAt: Number(createdAt), id };
  return sagaCursor(position) === cursor ? position : undefined;
}

/**
 * The queries of one page, in list order, each given how many rows to read: the attention group's
 * (unless the status filter or the cursor is past it), then the rest's (unless the status filter
 * is `attention`), each after the cursor when it is in that group. Exposed so that their plans can
 * be checked.
 */
export function sagaListQueries(db: Db, q: Omit<SagaListQuery, "limit">) {
  const groups = q.status === undefined ? [true, false] : [q.status === "attention"];
  return groups
    .filter((attention) => !(attention && q.after !== undefined && !q.after.attention))
    .map((attention) => {
      const where: (SQL | undefined)[] = [
        attention
          ? eq(sagaInstances.status, "attention")
          : q.status === undefined
            ? ne(sagaInstances.status, "attention")
            : eq(sagaInstances.status, q.status),
        q.tenant === undefined ? undefined : eq(sagaInstances.tenantId, q.tenant),
      ];
      if (q.after !== undefined && q.after.attention === attention) {
        where.push(sql`(${sagaInstances.createdAt}, ${sagaInstances.id}) < (${q.after.createdAt}, ${q.after.id})`);
      }
      return (rows: number) =>
        db
          .select()
          .from(sagaInstances)
          .where(and(...where))
          .orderBy(desc(sagaInstances.createdAt), desc(sagaInstances.id))
          .limit(rows);
    });
}

/** The page `q` asks for: each group's rows in turn, `next` when rows remain after the page. */
export async function listSagas(db: Db, q: SagaListQuery): Promise<SagaPage> {
  const rows: SagaRow[] = [];
  for (const query of sagaListQueries(db, q)) {
    if (rows.length > q.limit) break;
    rows.push(...(await query(q.limit + 1 - rows.length)));
  }
  const items = rows.slice(0, q.limit);
  const last = items.at(-1);
  const next =
    rows.length > q.limit && last !== undefined
      ? sagaCursor({ attention: last.status === "attention", createdAt: last.createdAt, id: last.id })
      : null;
  return { items, next };
}
