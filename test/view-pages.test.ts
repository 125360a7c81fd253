// Paging a view's list (`GET /v1/views/{view}`): rows in key order, `?limit=` rows a page, the
// page after through `next` (`?after=`) or the RFC 8288 `Link: <…>; rel="next"` header, so no
// list is ever silently cut. Rows are written straight into the tenant's active generation (0 for
// a new tenant) to have hundreds of them without hundreds of commands.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { todoLists } from "../examples/todo/todo-list.js";
import { defineProjection } from "../src/core/model/projection.js";
import { defineApp } from "../platform.js";
import { newTenant, tenantClient } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";

interface Page<Row> {
  items: Row[];
  next: string | null;
}
interface StockRow {
  sku: string;
  onHand: number;
}
interface OrderRow {
  orderId: string;
  status: string;
}

async function stock(tenant: string, skus: readonly string[], onHand = 1): Promise<void> {
  const insert = env.DB.prepare(
    "INSERT INTO inventory_view (tenant_id, generation, sku, on_hand, available, version, updated_at) VALUES (?, 0, ?, ?, ?, 1, '2026-01-01T00:00:00.000Z')",
  );
  await env.DB.batch(skus.map((sku) => insert.bind(tenant, sku, onHand, onHand)));
}

/** Orders, created in the order given (so creation order is not key order when the ids are not sorted). */
async function ordersOf(tenant: string, rows: readonly [orderId: string, status: string][]): Promise<void> {
  const insert = env.DB.prepare(
    "INSERT INTO orders_view (tenant_id, generation, order_id, customer_id, status, total, item_count, version, created_at, updated_at) VALUES (?, 0, ?, 'c-1', ?, 10, 1, 1, ?, ?)",
  );
  await env.DB.batch(
    rows.map(([orderId, status], i) => {
      const at = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
      return insert.bind(tenant, orderId, status, at, at);
    }),
  );
}

/** Every page of `path`, following `next` (as `?after=`) from the first page; at most 20. */
async function allPages<Row>(apiKey: string, path: string): Promise<Page<Row>[]> {
  const api = tenantClient(apiKey);
  const pages: Page<Row>[] = [];
  const url = new URL(path, "https://factline.test");
  while (pages.length < 20) {
    const res = await api.get(url.pathname + url.search);
    expect(res.status).toBe(200);
    const page = (await res.json()) as Page<Row>;
    pages.push(page);
    if (page.next === null) return pages;
    url.searchParams.set("after", page.next);
  }
  throw new Error(`${path} has more than 20 pages`);
}

const skus = (n: number, prefix = "sku-") =>
  Array.from({ length: n }, (_, i) => `${prefix}${i.toString().padStart(4, "0")}`);

describe("paging a view", () => {
  it("visits every row exactly once, in key order, paging through more rows than the largest page", async () => {
    const tenant = await newTenant();
    // Keys whose binary order is not their insertion order: upper case sorts before lower case.
    const keys = [...skus(510), "Z-last-upper", "a-first-lower", "A", "b", "_", "~", "0", "9.9", "sku-", "zz"];
    await stock(tenant.id, [...keys].reverse());

    const pages = await allPages<StockRow>(tenant.apiKey, "/v1/views/inventory?limit=500");

    expect(pages.map((p) => p.items.length)).toEqual([500, 20]);
    const listed = pages.flatMap((p) => p.items.map((row) => row.sku));
    expect(listed).toEqual([...keys].sort());
  });

  it("cuts a list at 100 rows by default and says there are more with next and a Link header", async () => {
    const tenant = await newTenant();
    await stock(tenant.id, skus(101));

    const res = await tenantClient(tenant.apiKey).get("/v1/views/inventory");

    const page = (await res.json()) as Page<StockRow>;
    expect(page.items).toHaveLength(100);
    expect(page.next).toEqual(expect.any(String));
    expect(res.headers.get("link")).toBe(`</v1/views/inventory?after=${page.next}>; rel="next"`);
  });

  it("names the next page in a Link header that keeps the other query parameters", async () => {
    const tenant = await newTenant();
    await stock(tenant.id, skus(5));
    const api = tenantClient(tenant.apiKey);

    const first = await api.get("/v1/views/inventory?limit=2");
    const { next } = (await first.json()) as Page<StockRow>;
    const link = first.headers.get("link");
    expect(link).toBe(`</v1/views/inventory?limit=2&after=${next}>; rel="next"`);

    const target = /^<([^>]+)>; rel="next"$/.exec(link ?? "")?.[1] ?? "";
    const second = (await (await api.get(target)).json()) as Page<StockRow>;
    expect(second.items.map((row) => row.sku)).toEqual(["sku-0002", "sku-0003"]);
  });

  it("answers the last page with next null and no Link header", async () => {
    const tenant = await newTenant();
    await stock(tenant.id, skus(4));
    const api = tenantClient(tenant.apiKey);
    const first = (await (await api.get("/v1/views/inventory?limit=2")).json()) as Page<StockRow>;

    const last = await api.get(`/v1/views/inventory?limit=2&after=${first.next}`);

    expect(await last.json()).toMatchObject({ items: [{ sku: "sku-0002" }, { sku: "sku-0003" }], next: null });
    expect(last.headers.get("link")).toBeNull();
  });

  it("continues a filtered list with only the rows the filter admits, in key order", async () => {
    const tenant = await newTenant();
    await ordersOf(tenant.id, [
      ["o-9", "shipped"],
      ["o-1", "pending"],
      ["o-7", "shipped"],
      ["o-2", "shipped"],
      ["o-5", "pending"],
      ["o-3", "shipped"],
      ["o-8", "cancelled"],
      ["o-4", "shipped"],
    ]);

    const pages = await allPages<OrderRow>(tenant.apiKey, "/v1/views/orders?status=shipped&limit=2");

    expect(pages.map((p) => p.items.map((row) => row.orderId))).toEqual([["o-2", "o-3"], ["o-4", "o-7"], ["o-9"]]);
    expect(pages.flatMap((p) => p.items).every((row) => row.status === "shipped")).toBe(true);
  });

  it("refuses a malformed cursor with 400 problem+json, not a 500", async () => {
    const tenant = await newTenant();
    await stock(tenant.id, skus(3));
    const api = tenantClient(tenant.apiKey);
    const malformed = [
      "", // empty
      "!!!", // not base64url
      "YQ==", // padded base64, not base64url
      "Y", // a length no base64 has
      "YR", // a second spelling of "a" (YQ)
      "YSBi", // "a b": not an entity id
      "Lg", // ".": a dot segment, not an entity id
      "QQ".repeat(200), // longer than any entity id's cursor
    ];
    for (const after of malformed) {
      const res = await api.get(`/v1/views/inventory?limit=2&after=${after}`);
      expect(res.status, after).toBe(400);
      expect(res.headers.get("content-type"), after).toBe("application/problem+json");
      expect(await res.json(), after).toMatchObject({
        type: `${PROBLEMS}validation-failed`,
        status: 400,
        errors: [{ path: "after", message: expect.stringContaining("not a cursor") }],
      });
    }
  });

  it("never lists another tenant's rows, even after a cursor from that tenant's list", async () => {
    const a = await newTenant("pa");
    const b = await newTenant("pb");
    await stock(a.id, skus(10), 111);
    await stock(b.id, skus(5), 222);
    const fromA = (await (await tenantClient(a.apiKey).get("/v1/views/inventory?limit=3")).json()) as Page<StockRow>;
    expect(fromA.next).toEqual(expect.any(String));

    const pages = await allPages<StockRow>(b.apiKey, `/v1/views/inventory?limit=1&after=${fromA.next}`);

    const rows = pages.flatMap((p) => p.items);
    expect(rows.map((row) => row.sku)).toEqual(["sku-0003", "sku-0004"]);
    expect(rows.every((row) => row.onHand === 222)).toBe(true);
    const all = (await allPages<StockRow>(b.apiKey, "/v1/views/inventory?limit=2")).flatMap((p) => p.items);
    expect(all.map((row) => [row.sku, row.onHand])).toEqual(skus(5).map((sku) => [sku, 222]));
  });
});

describe("a view's filters", () => {
  it("reach list as their schemas parsed them, not as the URL's text", async () => {
    const queries: unknown[] = [];
    const view = defineProjection(todoLists)({
      name: "lists-by-owner",
      on: {},
      clear: () => [],
      filters: { owner: z.string().trim().toLowerCase(), state: z.enum(["open", "closed"]) },
      key: "id",
      list: async (_db, _scope, query) => {
        queries.push(query);
        return [];
      },
      get: async (): Promise<{ id: string } | undefined> => undefined,
    });
    const app = defineApp({ entities: [todoLists], projections: [view] });
    const { apiKey } = await newTenant();
    const ctx = createExecutionContext();

    const res = await app.http.fetch(
      new Request("https://factline.test/v1/views/lists-by-owner?owner=%20Ada%20&state=open&limit=5", {
        headers: { authorization: `Bearer ${apiKey}`, "cf-connecting-ip": "2001:db8::f17e" },
      }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);

    expect(res.status).toBe(200);
    expect(queries).toEqual([{ owner: "ada", state: "open" }]);
  });
});
