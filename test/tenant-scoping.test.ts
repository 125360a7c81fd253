// The audit of every surface that shows a tenant its data: each is driven with two tenants, and
// tenant A's data (its entity, view row, dead letter, stuck saga, open circuit breaker, keys,
// metrics) never appears on tenant B's own pages, live panels and streams, nor in the admin
// API's answers scoped to B. (Paths that name A from B's session are covered in
// dashboard.test.ts, the tenant API in isolation.test.ts.)
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin } from "./support/admin.js";
import { call, eventually, newTenant, tenantClient } from "./support/api.js";

interface Tenant {
  readonly id: string;
  readonly apiKey: string;
}

/** Tenant A with one of everything a tenant can be shown, each carrying a marker; and tenant B. */
async function twoTenants(): Promise<{ a: Tenant; b: Tenant; cookieB: string; cookieA: string }> {
  const a = await newTenant("scope");
  const b = await newTenant("scope");
  expect((await tenantClient(a.apiKey).command("inventory", "sku-of-a", "restock", { quantity: 5 })).status).toBe(200);
  const now = Date.now();
  await env.DB.batch([
    env.DB.prepare(
      "INSERT INTO dead_letters (id, tenant_id, projection, entity_type, entity_id, seq, body, error, attempts, created_at) VALUES (?, ?, 'inventory', 'inventory', 'letter-of-a', 1, '{}', 'error-of-a', 5, ?)",
    ).bind(`dl-${a.id}`, a.id, now),
    env.DB.prepare(
      "INSERT INTO saga_instances (id, tenant_id, saga, instance_key, status, stage, reason, error, version, created_at, updated_at) VALUES (?, ?, 'order-fulfillment', 'order-of-a', 'attention', 'charge', NULL, 'saga-error-of-a', 1, ?, ?)",
    ).bind(`${a.id}:order-fulfillment:order-of-a`, a.id, now, now),
    env.DB.prepare(
      "INSERT INTO circuit_breakers (name, status, consecutive_failures, opened_at, last_reason, version, updated_at) VALUES (?, 'open', 9, ?, 'breaker-reason-of-a', 1, ?)",
    ).bind(`payment-gateway:${a.id}`, now, now),
  ]);
  return { a, b, cookieA: await signIn(a.apiKey), cookieB: await signIn(b.apiKey) };
}

async function signIn(secret: string): Promise<string> {
  const res = await call("/dashboard/sign-in", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://factline.test" },
    body: new URLSearchParams({ secret }).toString(),
    redirect: "manual",
  });
  return /factline_session=[^;]+/.exec(res.headers.get("set-cookie") ?? "")?.[0] ?? "";
}

async function pageText(cookie: string, path: string): Promise<string> {
  const res = await call(path, { headers: { cookie, accept: "text/html" }, redirect: "manual" });
  expect(res.status, path).toBe(200);
  return res.text();
}

/** The first message of a dashboard live panel stream. */
async function firstPanel(cookie: string, path: string): Promise<string> {
  const res = await call(path, { headers: { cookie, accept: "text/event-stream" } });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  return text;
}

const markersOfA = (a: Tenant) => [
  a.id,
  "sku-of-a",
  "letter-of-a",
  "error-of-a",
  "saga-error-of-a",
  "order-of-a",
  "breaker-reason-of-a",
  a.apiKey.split("_")[1]!,
];

function expectNoneOf(text: string, markers: readonly string[]): void {
  for (const marker of markers) expect(text, marker).not.toContain(marker);
}

describe("the dashboard shows tenant B none of tenant A's data", () => {
  it("on B's overview: no saga, circuit breaker, key or id of A (A's overview shows its own)", async () => {
    const { a, b, cookieA, cookieB } = await twoTenants();
    expectNoneOf(await pageText(cookieB, `/dashboard/t/${b.id}`), markersOfA(a));
    const ofA = await pageText(cookieA, `/dashboard/t/${a.id}`);
    expect(ofA).toContain("saga-error-of-a");
    expect(ofA).toContain("breaker-reason-of-a");
  });

  it("on B's overview live panel", async () => {
    const { a, b, cookieB } = await twoTenants();
    expectNoneOf(await firstPanel(cookieB, `/dashboard/t/${b.id}/live?panel=overview`), markersOfA(a));
  });

  it("on B's views page and views panel, once A's row is in its view", async () => {
    const { a, b, cookieA, cookieB } = await twoTenants();
    await eventually(async () =>
      (await pageText(cookieA, `/dashboard/t/${a.id}/views`)).includes("sku-of-a") ? true : undefined,
    );
    expectNoneOf(await pageText(cookieB, `/dashboard/t/${b.id}/views`), markersOfA(a));
    expectNoneOf(await firstPanel(cookieB, `/dashboard/t/${b.id}/live?panel=views`), markersOfA(a));
  });

  it("on B's dead-letters page and panel (A's page lists its letter)", async () => {
    const { a, b, cookieA, cookieB } = await twoTenants();
    expect(await pageText(cookieA, `/dashboard/t/${a.id}/dead-letters`)).toContain("letter-of-a");
    expectNoneOf(await pageText(cookieB, `/dashboard/t/${b.id}/dead-letters`), markersOfA(a));
    expectNoneOf(await firstPanel(cookieB, `/dashboard/t/${b.id}/live?panel=dead-letters`), markersOfA(a));
  });

  it("on B's projections page and panel", async () => {
    const { a, b, cookieB } = await twoTenants();
    expectNoneOf(await pageText(cookieB, `/dashboard/t/${b.id}/projections`), markersOfA(a));
    expectNoneOf(await firstPanel(cookieB, `/dashboard/t/${b.id}/live?panel=projections`), markersOfA(a));
  });

  it("in B's entity browser: the same id is B's own entity, which has recorded nothing", async () => {
    const { a, b, cookieB } = await twoTenants();
    const res = await call(`/dashboard/t/${b.id}/entities?type=inventory&id=sku-of-a`, {
      headers: { cookie: cookieB },
    });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain(a.id);
  });

  it("in B's entity stream: the same id streams B's own log", async () => {
    const { b, cookieB } = await twoTenants();
    await tenantClient(b.apiKey).command("inventory", "sku-of-a", "restock", { quantity: 7 });
    const res = await call(`/dashboard/t/${b.id}/entities/inventory/sku-of-a/stream`, {
      headers: { cookie: cookieB, accept: "text/event-stream" },
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/^data: .*$/m.test(text)) text += (await reader.read()).value ?? "";
    await reader.cancel();
    const event = JSON.parse(/^data: (.*)$/m.exec(text)![1]!) as {
      data: { quantity: number };
      meta: { tenant: string };
    };
    expect(event).toMatchObject({ data: { quantity: 7 }, meta: { tenant: b.id } });
  });
});

describe("the admin API scoped to tenant B answers none of tenant A's data", () => {
  it("tenant B's record: only B's keys, B's dead-letter count", async () => {
    const { a, b } = await twoTenants();
    const shown = (await (await admin("GET", `/tenants/${b.id}`)).json()) as {
      keys: { keyId: string }[];
      stats: { deadLetters: number };
    };
    expect(shown.keys.map((k) => k.keyId)).toEqual([b.apiKey.split("_")[1]]);
    expect(shown.stats.deadLetters).toBe(0);
    expectNoneOf(JSON.stringify(shown), markersOfA(a));
  });

  it("tenant B's metrics count none of A's commands", async () => {
    const { a, b } = await twoTenants();
    const ofA = (await (await admin("GET", `/tenants/${a.id}/metrics`)).json()) as { tenant: string };
    expect(ofA.tenant).toBe(a.id);
    const ofB = (await (await admin("GET", `/tenants/${b.id}/metrics`)).json()) as {
      tenant: string;
      totals: { commands: number; factsRecorded: number };
    };
    expect(ofB).toMatchObject({ tenant: b.id, totals: { commands: 0, factsRecorded: 0 } });
  });

  it("dead letters, sagas and projections filtered by ?tenant=B", async () => {
    const { a, b } = await twoTenants();
    for (const path of [`/dead-letters?tenant=${b.id}`, `/sagas?tenant=${b.id}`, `/projections?tenant=${b.id}`]) {
      const res = await admin("GET", path);
      expect(res.status, path).toBe(200);
      expectNoneOf(await res.text(), markersOfA(a));
    }
    expect(await (await admin("GET", `/dead-letters?tenant=${a.id}`)).text()).toContain("letter-of-a");
    expect(await (await admin("GET", `/sagas?tenant=${a.id}`)).text()).toContain("saga-error-of-a");
  });

  it("refuses a projections ?tenant= filter that is no tenant id with 400", async () => {
    const res = await admin("GET", "/projections?tenant=a%27b");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it("answers 404 to a projections ?tenant= filter naming no tenant, as a rebuild does, not an empty lag", async () => {
    for (const [method, path] of [
      ["GET", "/projections?tenant=no-such-tenant"],
      ["POST", "/projections/inventory/rebuild?tenant=no-such-tenant"],
    ] as const) {
      const res = await admin(method, path);
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toMatchObject({ detail: "no tenant no-such-tenant" });
    }
  });
});
