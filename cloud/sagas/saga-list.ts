// The admin API's list of sagas (`GET /admin/sagas`) as keyset pages over D1's `saga_instances`.
//
// The pages walk one order whose key never changes: newest first by (`createdAt`, when the saga was
// first listed, descending; ties by `id`, descending), whatever the sagas' statuses. Both columns are
// written once, so a saga's place cannot move while a client pages, and a walk from the first page
// to the last lists every saga that was listed when it began exactly once, however many enter or
// leave `attention` meanwhile. (The list used to read the `attention` group first and then the
// rest; a saga changing group between two page reads was then listed twice or not at all.)
//
// Sagas needing attention still come first, beside the walk rather than inside it: the first page
// of a list not filtered by status carries `attention`, the first page of `?status=attention`, in
// the same order and with its own `next`, so an operator sees them at once without the walk
// depending on a status that changes under it.
//
// A page is asked for with one row more than its limit, so a page after which rows remain always
// has a `next` (the views' paging, cloud/projections/view-page.ts). Every query reads in the order
// of an index (`saga_instances_by_*`, cloud/schema.ts), so a page never sorts the table.
import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Db } from "../../src/core/model/projection.js";
import { cursorText, viewCursor } from "../projections/view-page.js";
import { sagaInstances } from "../schema.js";

/** A saga's place in the list: `createdAt` and `id`, both descending. Neither changes once written. */
export interface SagaListPosition {
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

/** A listed saga: its `saga_instances` row, `resolvable` empty for a row written before that column existed. */
export type SagaRow = Omit<typeof sagaInstances.$inferSelect, "resolvable"> & { readonly resolvable: string[] };

/** A page of sagas: its rows and the cursor of the page after it (null when it is the last). */
export interface SagaPage {
  readonly items: SagaRow[];
  readonly next: string | null;
}

/** A page of the walk, and on a first page not filtered by status the first page of those needing attention. */
export interface SagaListPage extends SagaPage {
  readonly attention?: SagaPage;
}

/** A saga id's grammar: `tenant:saga:instance`. */
export const SAGA_ID = /^[a-z0-9-]{1,40}:[a-z0-9-]{1,40}:[A-Za-z0-9._~-]{1,128}$/;
// createdAt, id: at most 16 + 1 + 210 ASCII chars, 303 in base64url. A cursor of the former
// group-first list (`a.` or `r.` first) matches no position: it is refused, not misread.
const POSITION = /^(\d{1,16})\.(.+)$/;
const MAX_CURSOR = 320;

/** The opaque cursor of the page after `p`: base64url (as a view's) of `<createdAt>.<id>`. */
export function sagaCursor(p: SagaListPosition): string {
  return viewCursor(`${p.createdAt}.${p.id}`);
}

/**
 * The position a cursor stands for, or undefined when `cursor` is no cursor `sagaCursor` gives,
 * or, given `tenant`, none a list of that tenant's sagas gives.
 */
export function sagaCursorPosition(cursor: string, tenant?: string): SagaListPosition | undefined {
  const text = cursorText(cursor, MAX_CURSOR);
  const [, createdAt, id] = (text === undefined ? null : POSITION.exec(text)) ?? [];
  if (createdAt === undefined || id === undefined || !SAGA_ID.test(id)) return undefined;
  // A list of one tenant's sagas gives cursors at that tenant's sagas only (an id starts with its tenant).
  if (tenant !== undefined && !id.startsWith(`${tenant}:`)) return undefined;
  const position = { createdAt: Number(createdAt), id };
  return sagaCursor(position) === cursor ? position : undefined;
}

/**
 * The query of one page, of `rows` rows: the sagas of the filters after the cursor,
 * newest first. With a status it reads `saga_instances_by_status` (`_by_tenant` with a tenant),
 * without one `saga_instances_by_created` (`_by_tenant_created`). Exposed so that its plan can be
 * checked.
 */
export function sagaListQuery(db: Db, q: Omit<SagaListQuery, "limit">, rows: number) {
  const where: (SQL | undefined)[] = [
    q.status === undefined ? undefined : eq(sagaInstances.status, q.status),
    q.tenant === undefined ? undefined : eq(sagaInstances.tenantId, q.tenant),
    q.after === undefined
      ? undefined
      : sql`(${sagaInstances.createdAt}, ${sagaInstances.id}) < (${q.after.createdAt}, ${q.after.id})`,
  ];
  return db
    .select()
    .from(sagaInstances)
    .where(and(...where))
    .orderBy(desc(sagaInstances.createdAt), desc(sagaInstances.id))
    .limit(rows);
}

/** One page of the sagas `q` filters, newest first, `next` when rows remain after it. */
export async function sagaPage(db: Db, q: SagaListQuery): Promise<SagaPage> {
  const rows = await sagaListQuery(db, q, q.limit + 1);
  // A row last written before `resolvable` existed lists none, as a saga without one does.
  const items = rows.slice(0, q.limit).map((r) => ({ ...r, resolvable: r.resolvable ?? [] }));
  const last = items.at(-1);
  const next = rows.length > q.limit && last !== undefined ? sagaCursor(last) : null;
  return { items, next };
}

/**
 * The page `q` asks for: a page of the walk, and when it is the first page of a list not filtered
 * by status, also the first page of the same tenant's sagas needing attention.
 */
export async function listSagas(db: Db, q: SagaListQuery): Promise<SagaListPage> {
  if (q.status !== undefined || q.after !== undefined) return sagaPage(db, q);
  const [page, attention] = await Promise.all([
    sagaPage(db, q),
    sagaPage(db, { tenant: q.tenant, status: "attention", limit: q.limit }),
  ]);
  return { attention, ...page };
}
