// Listing sagas through the admin API (`GET /admin/sagas`): every saga newest first, in keyset
// pages (`next`, `?after=`, a `Link` header) of an order no status change moves, so a walk lists
// every saga exactly once past any page size, with the first page of those needing attention
// beside the first page. Rows are written straight into D1's `saga_instances` (what each saga's
// object mirrors there) to have hundreds of them without hundreds of orders, and their statuses
// are changed there between page reads as the saga objects would.
import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sagaListQuery } from "../cloud/sagas/saga-list.js";
import { adminCall } from "./support/sagas.js";

interface SagaRow {
  id: string;
  status: string;
  createdAt: number;
}
interface Page {
  items: SagaRow[];
  next: string | null;
  attention?: { items: SagaRow[]; next: string | null };
}

const CREATED = Date.UTC(2026, 0, 1);

/** A tenant id of this test's own, so its sagas are the only ones under it. */
function newTenantId(): string {
  return `lst-${crypto.randomUUID().slice(0, 8)}`;
}

/** Sagas of `tenant` with these instance keys and statuses, the first created first (a second apart). */
async function sagas(tenant: string, rows: readonly [instance: string, status: string][], from = CREATED) {
  const insert = env.DB.prepare(
    "INSERT INTO saga_instances (id, tenant_id, saga, instance_key, status, stage, reason, error, version, created_at, updated_at) VALUES (?, ?, 'order-fulfillment', ?, ?, NULL, NULL, NULL, 1, ?, ?)",
  );
  const statements = rows.map(([instance, status], i) =>
    insert.bind(`${tenant}:order-fulfillment:${instance}`, tenant, instance, status, from + i * 1000, from + i * 1000),
  );
  for (let i = 0; i < statements.length; i += 100) await env.DB.batch(statements.slice(i, i + 100));
}

const id = (tenant: string, instance: string) => `${tenant}:order-fulfillment:${instance}`;

/** Sets a saga's status as its object's mirror would: a newer version, a later `updatedAt`. */
async function setStatus(tenant: string, instance: string, status: string): Promise<void> {
  await env.DB.prepare(
    "UPDATE saga_instances SET status = ?, version = version + 1, updated_at = updated_at + 1 WHERE id = ?",
  )
    .bind(status, id(tenant, instance))
    .run();
}

async function page(path: string): Promise<{ res: Response; page: Page }> {
  const res = await adminCall(path);
  expect(res.status).toBe(200);
  return { res, page: (await res.json()) as Page };
}

/**
 * Every page of `path`, following `next` (as `?after=`) from the first page; at most 50. After
 * reading page `n` (from 0), when another follows, `between(n)` runs before the next read.
 */
async function allPages(path: string, between?: (read: number) => Promise<void>): Promise<Page[]> {
  const pages: Page[] = [];
  const url = new URL(path, "https://factline.test");
  while (pages.length < 50) {
    const next = (await page(url.pathname + url.search)).page;
    pages.push(next);
    if (next.next === null) return pages;
    await between?.(pages.length - 1);
    url.searchParams.set("after", next.next);
  }
  throw new Error(`${path} has more than 50 pages`);
}

describe("listing sagas", () => {
  it("lists every saga newest first, with the ones needing attention first beside the first page", async () => {
    const tenant = newTenantId();
    await sagas(tenant, [
      ["o-1", "attention"],
      ["o-2", "completed"],
      ["o-3", "running"],
      ["o-4", "attention"],
      ["o-5", "compensated"],
    ]);

    const { page: first } = await page(`/admin/sagas?tenant=${tenant}`);

    expect(first.attention?.items.map((s) => s.id)).toEqual(["o-4", "o-1"].map((i) => id(tenant, i)));
    expect(first.attention?.next).toBeNull();
    expect(first.items.map((s) => s.id)).toEqual(["o-5", "o-4", "o-3", "o-2", "o-1"].map((i) => id(tenant, i)));
    expect(first.next).toBeNull();
  });

  it("lists every saga exactly once through next, past 500", async () => {
    const tenant = newTenantId();
    const rows = Array.from(
      { length: 600 },
      (_, i) => [`o-${i}`, [3, 10, 200, 301].includes(i) ? "attention" : "completed"] as [string, string],
    );
    await sagas(tenant, rows);

    const pages = await allPages(`/admin/sagas?tenant=${tenant}&limit=500`);

    expect(pages.map((p) => p.items.length)).toEqual([500, 100]);
    const listed = pages.flatMap((p) => p.items.map((s) => s.id));
    expect(listed).toEqual(rows.map(([instance]) => id(tenant, instance)).reverse());
    expect(pages[0]?.attention?.items.map((s) => s.id)).toEqual(
      ["o-301", "o-200", "o-10", "o-3"].map((i) => id(tenant, i)),
    );
    expect(pages[1]?.attention).toBeUndefined();
  });

  it("lists every saga exactly once while sagas enter and leave attention between page reads", async () => {
    const tenant = newTenantId();
    await sagas(tenant, [
      ["o-1", "running"],
      ["o-2", "attention"],
      ["o-3", "running"],
      ["o-4", "attention"],
      ["o-5", "running"],
      ["o-6", "running"],
    ]);
    const changes: [instance: string, status: string][][] = [
      [
        ["o-4", "completed"],
        ["o-1", "attention"],
      ],
      [
        ["o-2", "running"],
        ["o-5", "attention"],
      ],
    ];

    const pages = await allPages(`/admin/sagas?tenant=${tenant}&limit=2`, async (read) => {
      for (const [instance, status] of changes[read] ?? []) await setStatus(tenant, instance, status);
    });

    // In the former order, attention first, o-4 and o-2 came again among the rest once they had
    // left attention, and o-5, entering it after that group had been read, was never listed.
    const listed = pages.flatMap((p) => p.items.map((s) => s.id));
    expect(listed).toEqual(["o-6", "o-5", "o-4", "o-3", "o-2", "o-1"].map((i) => id(tenant, i)));
  });

  it("lists every saga exactly once whatever statuses change between any page reads", async () => {
    const statuses = ["running", "compensating", "completed", "compensated", "attention"] as const;
    const status = fc.constantFrom(...statuses);
    await fc.assert(
      fc.asyncProperty(
        fc.array(status, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 4 }),
        // After each page read, some sagas (by index, taken modulo their number) take a new status.
        fc.array(fc.array(fc.tuple(fc.nat(), status), { maxLength: 4 }), { maxLength: 12 }),
        async (initial, limit, changes) => {
          const tenant = newTenantId();
          const instances = initial.map((_, i) => `o-${i}`);
          await sagas(
            tenant,
            initial.map((s, i) => [`o-${i}`, s]),
          );

          const pages = await allPages(`/admin/sagas?tenant=${tenant}&limit=${limit}`, async (read) => {
            for (const [which, to] of changes[read] ?? []) {
              await setStatus(tenant, instances[which % instances.length] ?? "", to);
            }
          });

          const listed = pages.flatMap((p) => p.items.map((s) => s.id));
          expect(listed.toSorted()).toEqual(instances.map((i) => id(tenant, i)).toSorted());
        },
      ),
      { numRuns: 25 },
    );
  });

  it("continues the first page of those needing attention with status=attention", async () => {
    const tenant = newTenantId();
    await sagas(tenant, [
      ["o-1", "attention"],
      ["o-2", "running"],
      ["o-3", "attention"],
      ["o-4", "attention"],
    ]);

    const { page: first } = await page(`/admin/sagas?tenant=${tenant}&limit=2`);
    expect(first.attention?.items.map((s) => s.id)).toEqual(["o-4", "o-3"].map((i) => id(tenant, i)));
    const { page: rest } = await page(
      `/admin/sagas?tenant=${tenant}&status=attention&limit=2&after=${first.attention?.next}`,
    );

    expect(rest.items.map((s) => s.id)).toEqual([id(tenant, "o-1")]);
    expect(rest.next).toBeNull();
    expect(rest.attention).toBeUndefined();
  });

  it("shows every saga needing attention on the first page of the unfiltered list, however old", async () => {
    const tenant = newTenantId();
    const rows = Array.from(
      { length: 520 },
      (_, i) => [`o-${i}`, [0, 1, 2, 519].includes(i) ? "attention" : "running"] as [string, string],
    );
    // Created after every other saga in this database, so the oldest three are not on the first
    // page of the walk: only the attention page beside it shows them there.
    await sagas(tenant, rows, Date.now() + 60_000);

    const { page: first } = await page("/admin/sagas?limit=500");

    const attention = first.attention?.items.map((s) => s.id);
    expect(attention).toEqual(expect.arrayContaining(["o-519", "o-2", "o-1", "o-0"].map((i) => id(tenant, i))));
    expect(first.attention?.items.every((s) => s.status === "attention")).toBe(true);
  });

  it("names the next page in a Link header that keeps the other query parameters, and not after the last", async () => {
    const tenant = newTenantId();
    await sagas(tenant, [
      ["o-1", "running"],
      ["o-2", "running"],
      ["o-3", "running"],
    ]);

    const { res, page: first } = await page(`/admin/sagas?tenant=${tenant}&limit=2`);
    expect(res.headers.get("link")).toBe(`</admin/sagas?tenant=${tenant}&limit=2&after=${first.next}>; rel="next"`);

    const { res: lastRes, page: last } = await page(`/admin/sagas?tenant=${tenant}&limit=2&after=${first.next}`);
    expect(last).toEqual({ items: [expect.objectContaining({ id: id(tenant, "o-1") })], next: null });
    expect(lastRes.headers.get("link")).toBeNull();
  });

  it("continues a list filtered by status with only the sagas of that status", async () => {
    const tenant = newTenantId();
    await sagas(tenant, [
      ["o-1", "completed"],
      ["o-2", "attention"],
      ["o-3", "completed"],
      ["o-4", "running"],
      ["o-5", "completed"],
    ]);

    const pages = await allPages(`/admin/sagas?tenant=${tenant}&status=completed&limit=2`);

    expect(pages.map((p) => p.items.map((s) => s.id))).toEqual([
      [id(tenant, "o-5"), id(tenant, "o-3")],
      [id(tenant, "o-1")],
    ]);
  });

  it("keeps the later pages of a list when a newer saga starts while it is paged", async () => {
    const tenant = newTenantId();
    await sagas(tenant, [
      ["o-1", "running"],
      ["o-2", "running"],
      ["o-3", "running"],
      ["o-4", "running"],
    ]);
    const { page: first } = await page(`/admin/sagas?tenant=${tenant}&limit=2`);

    await sagas(tenant, [["o-5", "running"]], CREATED + 60_000);
    const { page: second } = await page(`/admin/sagas?tenant=${tenant}&limit=2&after=${first.next}`);

    expect(second.items.map((s) => s.id)).toEqual([id(tenant, "o-2"), id(tenant, "o-1")]);
  });

  it("refuses a cursor it could not have given with 400", async () => {
    const base64url = (text: string) => btoa(text).replaceAll("=", "");
    // The last is a cursor of the former group-first list: its position means nothing in this order.
    for (const after of [
      "not a cursor",
      base64url("x.1.t:s:i"),
      base64url("1.not-a-saga-id"),
      base64url("a.1.t:s:i"),
    ]) {
      const res = await adminCall(`/admin/sagas?after=${encodeURIComponent(after)}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ type: "https://factline.dev/problems/validation-failed" });
    }
  });

  it("refuses with 400 a cursor at another tenant's saga when the list is of one tenant", async () => {
    const tenant = newTenantId();
    await sagas(tenant, [
      ["o-1", "running"],
      ["o-2", "running"],
    ]);
    const { page: first } = await page(`/admin/sagas?tenant=${tenant}&limit=1`);

    const res = await adminCall(`/admin/sagas?tenant=${newTenantId()}&limit=1&after=${first.next}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: "https://factline.dev/problems/validation-failed" });
    expect((await adminCall(`/admin/sagas?tenant=${tenant}&limit=1&after=${first.next}`)).status).toBe(200);
  });

  it("reads each page in the order of an index, without sorting the sagas", async () => {
    const db = drizzle(env.DB);
    const after = { createdAt: CREATED, id: "t:s:i" };
    const asks = [{}, { tenant: "t" }, { status: "running" }, { status: "attention", tenant: "t" }, { after }];
    for (const ask of asks) {
      for (const query of [sagaListQuery(db, ask, 101), sagaListQuery(db, { ...ask, after }, 101)]) {
        const { sql, params } = query.toSQL();
        const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .bind(...params)
          .all<{ detail: string }>();
        const details = plan.results.map((r) => r.detail).join("; ");
        expect(details, `${JSON.stringify(ask)}: ${details}`).toMatch(/USING (COVERING )?INDEX saga_instances_by/);
        expect(details, `${JSON.stringify(ask)}: ${details}`).not.toContain("TEMP B-TREE");
      }
    }
  });
});
