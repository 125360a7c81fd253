// Tenant isolation: tenant B, with its own valid key, reaches for tenant A's entities, views,
// event streams, dead letters and admin routes through every route. It must learn nothing — by
// body, header or status: each answer equals, byte for byte, what a tenant holding nothing gets
// for the same request about something that exists nowhere, and A's data is left untouched.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../src/core/model/envelope.js";
import { admin } from "./support/admin.js";
import { call, eventually, newTenant, tenantClient } from "./support/api.js";

type Tenant = { id: string; apiKey: string };

// Differ per request by design (ids, clocks), whoever asks.
const VOLATILE = new Set(["x-request-id", "traceparent", "date"]);

async function answer(res: Response): Promise<{ status: number; headers: [string, string][]; body: string }> {
  const headers = [...res.headers.entries()].filter(([k]) => !VOLATILE.has(k)).sort(([a], [b]) => a.localeCompare(b));
  return { status: res.status, headers, body: await res.text() };
}

function as(tenant: Tenant, path: string, init: RequestInit = {}): Promise<Response> {
  return call(path, {
    ...init,
    headers: { authorization: `Bearer ${tenant.apiKey}`, ...(init.headers as Record<string, string> | undefined) },
  });
}

let a: Tenant;
let b: Tenant;
let empty: Tenant;
let aToken: string;
let aDeadLetterId: string;

beforeAll(async () => {
  a = await newTenant("a");
  b = await newTenant("b");
  empty = await newTenant("e");
  const api = tenantClient(a.apiKey);
  await api.command("inventory", "sku-1", "restock", { quantity: 10 }, { "idempotency-key": "shared-key" });
  const created = await api.command("orders", "o-1", "create", {
    customerId: "c-1",
    items: [{ sku: "sku-1", quantity: 1, unitPrice: 5 }],
  });
  aToken = created.headers.get("factline-consistency") ?? "";
  await eventually(async () => ((await api.get("/v1/views/inventory/sku-1")).status === 200 ? true : undefined));
  aDeadLetterId = `dl-${a.id}`;
  await env.DB.prepare(
    "INSERT INTO dead_letters (id, tenant_id, projection, entity_type, entity_id, seq, body, error, attempts, created_at) VALUES (?, ?, 'inventory', 'inventory', 'sku-1', 1, '{}', 'boom', 5, ?)",
  )
    .bind(aDeadLetterId, a.id, Date.now())
    .run();
});

describe("tenant B reaching for tenant A's data", () => {
  const reads: [string, string, Record<string, string>?][] = [
    ["the entity", "/v1/entities/inventory/sku-1"],
    ["the entity at a version", "/v1/entities/inventory/sku-1?at=1"],
    ["the order", "/v1/entities/orders/o-1"],
    ["the event log", "/v1/entities/inventory/sku-1/events"],
    ["a page of the event log", "/v1/entities/inventory/sku-1/events?after=0&limit=10"],
    ["the view row", "/v1/views/inventory/sku-1"],
    ["the view list", "/v1/views/inventory"],
    ["the orders of A's customer", "/v1/views/orders?customerId=c-1"],
    ["the view row with A's consistency token", "/v1/views/orders/o-1", { "factline-consistency": "<token>" }],
    ["the view list with A's consistency token", "/v1/views/inventory", { "factline-consistency": "<token>" }],
    ["the entity named by A's object name", "/v1/entities/inventory/a-x:inventory:sku-1"],
    ["the entity through an encoded separator", "/v1/entities/inventory/..%2F..%2Fsku-1"],
  ];

  // A's ids, and ids of the same length that no tenant has ever used.
  const nowhere: [string, string][] = [
    ["sku-1", "sku-Q"],
    ["o-1", "o-Q"],
    ["c-1", "c-Q"],
  ];
  const swap = (text: string, from: 0 | 1) =>
    nowhere.reduce((t, pair) => t.replaceAll(pair[from], pair[from === 0 ? 1 : 0]), text);

  for (const [what, path, headers] of reads) {
    it(`gets for ${what} exactly what it gets for something that exists nowhere`, async () => {
      const h = (token: string) =>
        Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, v === "<token>" ? token : v]));
      const asB = await answer(await as(b, path, { headers: h(aToken) }));
      const baseline = await answer(await as(b, swap(path, 0), { headers: h("not-a-token") }));
      expect(asB).toEqual({ ...baseline, body: swap(baseline.body, 1) });
      expect(asB.body).not.toContain(a.id);
      expect(asB.body).not.toContain("c-1");
    });
  }

  it("is told A's entity and rows are not found, and lists none of A's rows", async () => {
    expect(await as(b, "/v1/entities/inventory/sku-1")).toHaveProperty("status", 404);
    expect(await as(b, "/v1/views/inventory/sku-1")).toHaveProperty("status", 404);
    expect(await as(b, "/v1/views/orders/o-1")).toHaveProperty("status", 404);
    // B has recorded nothing yet (the tests below do, in order).
    expect(await (await as(b, "/v1/views/inventory")).json()).toEqual({ items: [], next: null });
    expect(await (await as(b, "/v1/views/orders")).json()).toEqual({ items: [], next: null });
  });

  it("subscribes to a stream of its own, empty entity, never A's", async () => {
    const res = await as(b, "/v1/entities/inventory/sku-1/events", { headers: { accept: "text/event-stream" } });
    const baseline = await as(empty, "/v1/entities/inventory/sku-1/events", {
      headers: { accept: "text/event-stream" },
    });
    expect(res.status).toBe(baseline.status);
    expect((await answer(new Response(null, res))).headers).toEqual(
      (await answer(new Response(null, baseline))).headers,
    );
    await baseline.body?.cancel();

    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    // A records more; then B records its own first event. The first event B's stream carries
    // must be B's own: had A's log leaked, A's backlog or new event would come first.
    await tenantClient(a.apiKey).command("inventory", "sku-1", "restock", { quantity: 1 });
    await tenantClient(b.apiKey).command("inventory", "sku-1", "restock", { quantity: 3 });
    let text = "";
    while (!text.includes("\ndata:") && !text.startsWith("data:")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await reader.cancel();
    const data = /^data: ?(.*)$/m.exec(text)?.[1] ?? "";
    const first = JSON.parse(data) as RecordedEvent;
    expect(first.meta.tenant).toBe(b.id);
    expect(first).toMatchObject({ seq: 1, data: { quantity: 3 } });
  });

  it("cannot change A's entity through any command, and A's idempotency keys mean nothing to B", async () => {
    const before = await (await tenantClient(a.apiKey).get("/v1/entities/inventory/sku-1")).json();
    const commands: [string, unknown, Record<string, string>][] = [
      ["reserve", { orderId: "o-b", quantity: 1 }, {}],
      ["restock", { quantity: 1 }, { "if-match": '"2"' }],
      ["ship", { orderId: "o-1" }, {}],
    ];
    for (const [command, body, headers] of commands) {
      const init = {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      };
      const asB = await answer(await as(b, `/v1/entities/inventory/sku-x/commands/${command}`, init));
      const asEmpty = await answer(await as(empty, `/v1/entities/inventory/sku-x/commands/${command}`, init));
      expect(asB).toEqual(asEmpty);
    }
    const replay = await tenantClient(b.apiKey).command(
      "inventory",
      "sku-idem",
      "restock",
      { quantity: 10 },
      { "idempotency-key": "shared-key" },
    );
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBeNull();
    expect(await replay.json()).toMatchObject({ version: 1, events: [{ seq: 1, data: { quantity: 10 } }] });
    const logged = (await (await tenantClient(b.apiKey).get("/v1/entities/inventory/sku-idem/events")).json()) as {
      events: RecordedEvent[];
    };
    expect(logged.events.map((e) => e.meta.tenant)).toEqual([b.id]);
    expect(await (await tenantClient(a.apiKey).get("/v1/entities/inventory/sku-1")).json()).toEqual(before);
  });
});

describe("tenant B reaching for admin routes", () => {
  const routes: [string, string, unknown?][] = [
    ["GET", "/admin/tenants"],
    ["GET", "/admin/tenants/<a>"],
    ["POST", "/admin/tenants/<a>/suspend"],
    ["POST", "/admin/tenants/<a>/keys"],
    ["DELETE", "/admin/tenants/<a>/keys/0000000000000000"],
    ["PUT", "/admin/tenants/<a>/rate-limit", { requestsPerSecond: 1, burst: 1 }],
    ["PUT", "/admin/tenants/<a>/cors", { origins: ["https://evil.example.net"] }],
    ["GET", "/admin/dead-letters"],
    ["GET", "/admin/dead-letters?tenant=<a>"],
    ["POST", "/admin/dead-letters/<dl>/replay"],
  ];

  for (const [method, template, body] of routes) {
    it(`is refused ${method} ${template} exactly as a caller with a made-up token`, async () => {
      const path = template.replace("<a>", a.id).replace("<dl>", aDeadLetterId);
      const init = (token: string): RequestInit => ({
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body),
      });
      const asB = await answer(await call(path, init(b.apiKey)));
      const asStranger = await answer(await call(path, init("not-a-token")));
      expect(asB.status).toBe(401);
      expect(asB).toEqual(asStranger);
    });
  }

  it("leaves A active, unlimited, with its dead letter unreplayed", async () => {
    const shown = (await (await admin("GET", `/tenants/${a.id}`)).json()) as {
      status: string;
      rateLimit: unknown;
      corsOrigins: string[];
      keys: unknown[];
    };
    expect(shown).toMatchObject({ status: "active", rateLimit: null, corsOrigins: [] });
    expect(shown.keys).toHaveLength(1);
    const letter = await env.DB.prepare("SELECT replayed_at FROM dead_letters WHERE id = ?")
      .bind(aDeadLetterId)
      .first<{ replayed_at: number | null }>();
    expect(letter?.replayed_at).toBeNull();
  });
});
