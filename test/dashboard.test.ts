// The dashboard's guards, driven through the Worker: sign-in, sessions, CSRF and origin checks,
// tenant isolation, revocation ending a session, and replaying a dead letter. The happy paths in
// a real browser live in test/browser/.
import {
  createExecutionContext,
  createMessageBatch,
  evictDurableObject,
  getQueueResult,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import worker from "../worker.js";
import { admin } from "./support/admin.js";
import { ADMIN_TOKEN, call, eventually, expectPastEnd, newTenant, tenantClient } from "./support/api.js";
import { adminCall, orderAgainstFailingGateway, orderEnds, sagaId, setGateway } from "./support/sagas.js";

const ORIGIN = "https://factline.test";

/** A sign-in form post of `body` from the dashboard's own origin. */
function postSignIn(body: BodyInit): Promise<Response> {
  return call("/dashboard/sign-in", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
    body,
    redirect: "manual",
  });
}

async function signIn(secret: string): Promise<{ status: number; cookie: string | null }> {
  const res = await postSignIn(new URLSearchParams({ secret }).toString());
  const cookie = /factline_session=[^;]+/.exec(res.headers.get("set-cookie") ?? "")?.[0] ?? null;
  return { status: res.status, cookie };
}

function page(cookie: string, path: string): Promise<Response> {
  return call(path, { headers: { cookie, accept: "text/html" }, redirect: "manual" });
}

async function csrfOf(cookie: string, path: string): Promise<string> {
  const html = await (await page(cookie, path)).text();
  const token = /name="_csrf" value="([0-9a-f]+)"/.exec(html)?.[1];
  expect(token).toBeDefined();
  return token ?? "";
}

function post(
  cookie: string,
  path: string,
  form: Record<string, string> | [string, string][],
  origin = ORIGIN,
): Promise<Response> {
  return call(path, {
    method: "POST",
    headers: { cookie, origin, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
    redirect: "manual",
  });
}

describe("dashboard sign-in and sessions", () => {
  it("refuses a wrong secret with 401 and sets no session", async () => {
    const attempt = await signIn("not-the-token");
    expect(attempt.status).toBe(401);
    expect(attempt.cookie).toBeNull();
  });

  it("sends a visitor without a session to the sign-in page", async () => {
    const res = await call("/dashboard/tenants", { headers: { accept: "text/html" }, redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/dashboard/sign-in");
  });

  it("sets an HttpOnly, SameSite=Strict session cookie and rejects a tampered one", async () => {
    const res = await postSignIn(new URLSearchParams({ secret: ADMIN_TOKEN }).toString());
    const setCookie = res.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = /factline_session=[^;]+/.exec(setCookie)?.[0] ?? "";
    expect((await page(cookie, "/dashboard/tenants")).status).toBe(200);
    const forged = cookie.replace(
      /factline_session=[A-Za-z0-9]/,
      (m) => m.slice(0, -1) + (m.endsWith("A") ? "B" : "A"),
    );
    expect((await page(forged, "/dashboard/tenants")).status).toBe(303);
  });

  it("refuses a sign-in form that names no origin at all (neither Origin nor Sec-Fetch-Site)", async () => {
    const res = await call("/dashboard/sign-in", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ secret: ADMIN_TOKEN }).toString(),
      redirect: "manual",
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("refuses a sign-in form over 16 KiB with 413, unread, even with the right secret", async () => {
    const res = await postSignIn(new URLSearchParams({ secret: ADMIN_TOKEN, padding: "x".repeat(20_000) }).toString());
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ type: expect.stringContaining("payload-too-large") });
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("refuses a sign-in form of unknown length once it passes 16 KiB", async () => {
    const bytes = new TextEncoder().encode(`secret=${ADMIN_TOKEN}&padding=${"y".repeat(40_000)}`);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.byteLength; at += 4096) controller.enqueue(bytes.slice(at, at + 4096));
        controller.close();
      },
    });
    const res = await postSignIn(chunked);
    expect(res.status).toBe(413);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("says when a view has more rows than its page shows, and not when it has none more", async () => {
    const tenant = await newTenant("dash-rows");
    const insert = env.DB.prepare(
      "INSERT INTO inventory_view (tenant_id, generation, sku, on_hand, available, version, updated_at) VALUES (?, 0, ?, 1, 1, 1, '2026-01-01T00:00:00.000Z')",
    );
    const { cookie } = await signIn(ADMIN_TOKEN);
    const views = () => page(cookie ?? "", `/dashboard/t/${tenant.id}/views`).then((r) => r.text());
    await env.DB.batch(
      Array.from({ length: 50 }, (_, i) => insert.bind(tenant.id, `sku-${String(i).padStart(3, "0")}`)),
    );
    expect(await views()).not.toContain('data-more-rows="inventory"');
    await env.DB.batch([insert.bind(tenant.id, "sku-050")]);
    const html = await views();
    expect(html).toContain('data-more-rows="inventory"');
    expect(html).toContain("sku-049");
    expect(html).not.toContain("sku-050");
  });

  it("renders an unknown dashboard page as an HTML not-found page for a browser", async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const res = await page(cookie ?? "", "/dashboard/no/such/page");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("<title>Not found · Factline</title>");
    // The page's styles run under the response's CSP nonce.
    const nonce = /'nonce-([^']+)'/.exec(res.headers.get("content-security-policy") ?? "")?.[1];
    expect(html).toContain(`<style nonce="${nonce}"`);
  });

  it("answers an unknown dashboard path with problem+json when the client asks for JSON", async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const res = await call("/dashboard/no/such/page", {
      headers: { cookie: cookie ?? "", accept: "application/json" },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it("refuses a form without the session's CSRF token", async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const res = await post(cookie ?? "", "/dashboard/tenants", { id: "csrf-victim", name: "x" });
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(
      (await call("/admin/tenants/csrf-victim", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
    ).toBe(404);
  });

  it("refuses a form posted from another origin even with a valid token", async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const csrf = await csrfOf(cookie ?? "", "/dashboard/tenants");
    const res = await post(
      cookie ?? "",
      "/dashboard/tenants",
      { _csrf: csrf, id: "cross-site", name: "x" },
      "https://evil.example",
    );
    expect(res.status).toBe(403);
  });

  it("answers an invalid tenant id in the create form with 400 and creates nothing", async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const csrf = await csrfOf(cookie ?? "", "/dashboard/tenants");
    const res = await post(cookie ?? "", "/dashboard/tenants", { _csrf: csrf, id: "Not Valid!", name: "x" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("The tenant is invalid");
  });

  it("ends a tenant admin's session as soon as its key is revoked", async () => {
    const tenant = await newTenant("dash");
    const { status, cookie } = await signIn(tenant.apiKey);
    expect(status).toBe(303);
    expect((await page(cookie ?? "", `/dashboard/t/${tenant.id}`)).status).toBe(200);
    const keyId = tenant.apiKey.split("_")[1];
    const revoked = await call(`/admin/tenants/${tenant.id}/keys/${keyId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(revoked.status).toBe(204);
    const after = await page(cookie ?? "", `/dashboard/t/${tenant.id}`);
    expect(after.status).toBe(303);
    expect(after.headers.get("location")).toBe("/dashboard/sign-in");
  });

  it("refuses a tenant admin's session with 403 tenant-suspended while the tenant is suspended, and takes it again once resumed", async () => {
    const tenant = await newTenant("dsus");
    const { cookie } = await signIn(tenant.apiKey);
    const csrf = await csrfOf(cookie!, `/dashboard/t/${tenant.id}`);
    expect((await admin("POST", `/tenants/${tenant.id}/suspend`)).status).toBe(200);

    const shown = await page(cookie!, `/dashboard/t/${tenant.id}`);
    expect(shown.status).toBe(403);
    expect(await shown.text()).toContain("the tenant is suspended");
    const posted = await post(cookie!, `/dashboard/t/${tenant.id}/keys`, { _csrf: csrf });
    expect(posted.status).toBe(403);
    expect(await posted.json()).toMatchObject({ type: expect.stringMatching(/tenant-suspended$/), status: 403 });

    expect((await admin("POST", `/tenants/${tenant.id}/resume`)).status).toBe(200);
    expect((await page(cookie!, `/dashboard/t/${tenant.id}`)).status).toBe(200);
  });

  it("signs out by clearing the session cookie", async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const csrf = await csrfOf(cookie ?? "", "/dashboard/tenants");
    const res = await post(cookie ?? "", "/dashboard/sign-out", { _csrf: csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/factline_session=;.*Max-Age=0/i);
  });

  it("refuses a copy of the cookie kept after signing out, for the operator and for a tenant", async () => {
    const tenant = await newTenant("dash");
    for (const [secret, path] of [
      [ADMIN_TOKEN, "/dashboard/tenants"],
      [tenant.apiKey, `/dashboard/t/${tenant.id}`],
    ] as const) {
      const { cookie } = await signIn(secret);
      const kept = cookie ?? "";
      const csrf = await csrfOf(kept, path);
      expect((await post(kept, "/dashboard/sign-out", { _csrf: csrf })).status).toBe(303);
      const after = await page(kept, path);
      expect(after.status).toBe(303);
      expect(after.headers.get("location")).toBe("/dashboard/sign-in");
      expect((await post(kept, "/dashboard/sign-out", { _csrf: csrf })).status).toBe(401);
    }
  });

  it("keeps other sessions of the same secret signed in when one signs out", async () => {
    const first = (await signIn(ADMIN_TOKEN)).cookie ?? "";
    const second = (await signIn(ADMIN_TOKEN)).cookie ?? "";
    await post(first, "/dashboard/sign-out", { _csrf: await csrfOf(first, "/dashboard/tenants") });
    expect((await page(second, "/dashboard/tenants")).status).toBe(200);
  });
});

// Sessions are signed with a key derived from ADMIN_TOKEN: while it is unset or too short, no one
// can sign in, and the sign-in says why instead of blaming the visitor's secret.
describe("dashboard sign-in while ADMIN_TOKEN cannot sign sessions", () => {
  /** The Worker with ADMIN_TOKEN set to `token`, asked from `client`. */
  function withAdminToken(token: string, client: string) {
    const misconfigured: Env = Object.assign(Object.create(null) as Env, env, { ADMIN_TOKEN: token });
    return (path: string, init: RequestInit = {}) => {
      const request = new Request(`https://factline.test${path}`, init);
      request.headers.set("cf-connecting-ip", client);
      return worker.fetch(request, misconfigured, createExecutionContext());
    };
  }
  const signInForm = (secret: string): RequestInit => ({
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
    body: new URLSearchParams({ secret }).toString(),
    redirect: "manual",
  });

  it("refuses a tenant admin's sign-in up front, naming the misconfiguration, when ADMIN_TOKEN is too short or unset", async () => {
    const tenant = await newTenant("dash");
    for (const [token, named] of [
      ["short-token", "ADMIN_TOKEN is shorter than 16 characters"],
      ["", "ADMIN_TOKEN is not set"],
    ] as const) {
      const ask = withAdminToken(token, `2001:db8::${crypto.randomUUID().slice(0, 4)}`);
      const res = await ask("/dashboard/sign-in", signInForm(tenant.apiKey));
      expect(res.status, token).toBe(500);
      expect(res.headers.get("set-cookie"), token).toBeNull();
      const html = await res.text();
      expect(html).toContain("The server is misconfigured, so no one can sign in.");
      expect(html).toContain(named);
      if (token !== "") expect(html).not.toContain(token);
      const page = await ask("/dashboard/sign-in", { headers: { accept: "text/html" } });
      expect(page.status).toBe(500);
      expect(await page.text()).toContain(named);
    }
  });

  it("counts no failed attempt against the client for a sign-in refused for the misconfiguration", async () => {
    const client = `2001:db8::${crypto.randomUUID().slice(0, 4)}`;
    const weak = withAdminToken("short-token", client);
    // One more than the failure limit (30 a minute): counted, the last would be refused 429.
    for (let i = 0; i < 31; i++) expect((await weak("/dashboard/sign-in", signInForm("short-token"))).status).toBe(500);
    const sane = withAdminToken(ADMIN_TOKEN, client);
    expect((await sane("/dashboard/sign-in", signInForm("not-the-token"))).status).toBe(401);
  });
});

// Every open dashboard stream re-checks its session (README: every DASHBOARD_SESSION_RECHECK_MS,
// 10 s; 200 ms in tests) and ends once it is gone. Each test would time out if the stream went on.
describe("dashboard streams and the session that opened them", () => {
  const sse = { accept: "text/event-stream" };

  async function signOut(cookie: string, path: string): Promise<void> {
    expect((await post(cookie, "/dashboard/sign-out", { _csrf: await csrfOf(cookie, path) })).status).toBe(303);
  }

  it("ends an entity's live log once its session signs out, for a tenant admin and for the operator", async () => {
    const tenant = await newTenant("dash");
    await tenantClient(tenant.apiKey).command("inventory", "so", "restock", { quantity: 1 });
    for (const [secret, path] of [
      [tenant.apiKey, `/dashboard/t/${tenant.id}`],
      [ADMIN_TOKEN, "/dashboard/tenants"],
    ] as const) {
      const cookie = (await signIn(secret)).cookie ?? "";
      const stream = await call(`/dashboard/t/${tenant.id}/entities/inventory/so/stream`, {
        headers: { cookie, ...sse },
      });
      expect(stream.status).toBe(200);
      await signOut(cookie, path);
      expect(await stream.text()).toContain("id: 1\n");
    }
  });

  it("refuses an entity's live log after a position past its latest event, by ?after= or Last-Event-ID", async () => {
    const tenant = await newTenant("dash");
    await tenantClient(tenant.apiKey).command("inventory", "ahead", "restock", { quantity: 1 });
    const cookie = (await signIn(tenant.apiKey)).cookie ?? "";
    const stream = `/dashboard/t/${tenant.id}/entities/inventory/ahead/stream`;
    for (const [path, headers] of [
      [`${stream}?after=50`, {}],
      [stream, { "last-event-id": "50" }],
    ] as const) {
      await expectPastEnd(await call(path, { headers: { cookie, ...sse, ...headers } }), 1);
    }
  });

  it("ends a live panel once its session signs out", async () => {
    const tenant = await newTenant("dash");
    const cookie = (await signIn(tenant.apiKey)).cookie ?? "";
    const stream = await call(`/dashboard/t/${tenant.id}/live?panel=overview`, { headers: { cookie, ...sse } });
    expect(stream.status).toBe(200);
    await signOut(cookie, `/dashboard/t/${tenant.id}`);
    expect(await stream.text()).toContain('"stats"');
  });
});

// A tenant admin's dashboard work for the tenant (README: Dashboard) spends the tenant's one rate
// limit, the gate's bucket its /v1 requests spend. One token per 100 s: no refill during a test.
describe("dashboard work and the tenant's rate limit", () => {
  async function limitTo(tenant: string, burst: number): Promise<void> {
    expect((await admin("PUT", `/tenants/${tenant}/rate-limit`, { requestsPerSecond: 0.01, burst })).status).toBe(200);
  }
  const lookUp = (tenant: string) => `/dashboard/t/${tenant}/entities?type=inventory&id=sku-1`;

  it("counts a tenant admin's dashboard work against the limit its API requests spend", async () => {
    const tenant = await newTenant("dash");
    const api = tenantClient(tenant.apiKey);
    const cookie = (await signIn(tenant.apiKey)).cookie ?? "";
    await limitTo(tenant.id, 2);
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
    expect((await page(cookie, lookUp(tenant.id))).status).toBe(404);
    expect((await api.get("/v1/views/inventory")).status).toBe(429);
  });

  it("refuses a tenant admin's form over the limit with a 429 page and Retry-After", async () => {
    const tenant = await newTenant("dash");
    const cookie = (await signIn(tenant.apiKey)).cookie ?? "";
    const csrf = await csrfOf(cookie, `/dashboard/t/${tenant.id}/projections`);
    await limitTo(tenant.id, 1);
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(200);
    const res = await call(`/dashboard/t/${tenant.id}/projections/inventory/rebuild`, {
      method: "POST",
      headers: { cookie, origin: ORIGIN, accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
      redirect: "manual",
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(await res.text()).toContain("is over its rate limit");
  });

  it("refuses a tenant admin's stream opened over the limit with 429 rate-limited and Retry-After", async () => {
    const tenant = await newTenant("dash");
    const cookie = (await signIn(tenant.apiKey)).cookie ?? "";
    await limitTo(tenant.id, 1);
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(200);
    for (const path of [
      `/dashboard/t/${tenant.id}/entities/inventory/sku-1/stream`,
      `/dashboard/t/${tenant.id}/live?panel=overview`,
    ]) {
      const res = await call(path, { headers: { cookie, accept: "text/event-stream" } });
      expect(res.status, path).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await res.json()).toMatchObject({ type: "https://factline.dev/problems/rate-limited" });
    }
  });

  it("still shows a tenant admin over the limit the overview, and lets them revoke a key", async () => {
    const tenant = await newTenant("dash");
    const second = (await (await admin("POST", `/tenants/${tenant.id}/keys`)).json()) as { keyId: string };
    const cookie = (await signIn(tenant.apiKey)).cookie ?? "";
    await limitTo(tenant.id, 1);
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(200);
    expect((await page(cookie, lookUp(tenant.id))).status).toBe(429);
    expect((await page(cookie, `/dashboard/t/${tenant.id}`)).status).toBe(200);
    const csrf = await csrfOf(cookie, `/dashboard/t/${tenant.id}`);
    expect((await post(cookie, `/dashboard/t/${tenant.id}/keys/${second.keyId}/revoke`, { _csrf: csrf })).status).toBe(
      303,
    );
  });

  it("does not charge the operator's dashboard work to the tenant's limit", async () => {
    const tenant = await newTenant("dash");
    const cookie = (await signIn(ADMIN_TOKEN)).cookie ?? "";
    await limitTo(tenant.id, 1);
    expect((await page(cookie, lookUp(tenant.id))).status).toBe(404);
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(200);
  });
});

describe("dashboard tenant names", () => {
  it("refuses a tenant name with a bidirectional override, which would reverse what follows it on the page", async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const c = cookie ?? "";
    const id = `bidi-${Math.random().toString(36).slice(2, 8)}`;
    const res = await post(c, "/dashboard/tenants", {
      _csrf: await csrfOf(c, "/dashboard/tenants"),
      id,
      name: "Acme \u202Egnp.exe",
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("bidirectional formatting characters");
    expect((await admin("GET", `/tenants/${id}`)).status).toBe(404);
  });
});

describe("dashboard entity lookup", () => {
  it("shows a version not yet recorded as not found, naming the latest, rather than the latest under its number", async () => {
    const tenant = await newTenant("dash");
    await tenantClient(tenant.apiKey).command("inventory", "tf", "restock", { quantity: 1 });
    const cookie = (await signIn(tenant.apiKey)).cookie ?? "";
    const lookup = `/dashboard/t/${tenant.id}/entities?type=inventory&id=tf`;
    const future = await page(cookie, `${lookup}&at=9`);
    expect(future.status).toBe(404);
    expect(await future.text()).toContain("has no version 9: its latest is 1");
    expect((await page(cookie, `${lookup}&at=1`)).status).toBe(200);
  });
});

describe("dashboard tenant isolation", () => {
  it("shows a tenant admin nothing of another tenant: pages, live stream and entity stream are not found", async () => {
    const mine = await newTenant("dash");
    const theirs = await newTenant("dash");
    const { cookie } = await signIn(mine.apiKey);
    const c = cookie ?? "";
    expect((await page(c, `/dashboard/t/${mine.id}`)).status).toBe(200);
    for (const path of [
      `/dashboard/t/${theirs.id}`,
      `/dashboard/t/${theirs.id}/live?panel=overview`,
      `/dashboard/t/${theirs.id}/entities/inventory/sku-1/stream`,
      `/dashboard/t/${theirs.id}/dead-letters`,
      "/dashboard/tenants",
    ]) {
      const res = await page(c, path);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain(theirs.id);
    }
    const csrf = await csrfOf(c, `/dashboard/t/${mine.id}`);
    expect((await post(c, `/dashboard/t/${theirs.id}/keys`, { _csrf: csrf })).status).toBe(404);
    expect((await post(c, `/dashboard/t/${mine.id}/suspend`, { _csrf: csrf })).status).toBe(404);
  });

  it("rejects an unknown live panel with 400", async () => {
    const tenant = await newTenant("dash");
    const { cookie } = await signIn(tenant.apiKey);
    const res = await page(cookie ?? "", `/dashboard/t/${tenant.id}/live?panel=nope`);
    expect(res.status).toBe(400);
  });
});

describe("dashboard dead letters", () => {
  it("replays a tenant's dead letter onto the facts queue, and refuses another tenant's", async () => {
    const tenant = await newTenant("dash");
    const other = await newTenant("dash");
    // A corrupted fact (no sequence number): the real consumer records it as a dead letter at once.
    const corrupted = { id: `bad-${tenant.id}`, tenant: tenant.id, entitytype: "inventory", entityid: "sku-x" };
    const batch = createMessageBatch("factline-facts", [
      { id: "m-1", timestamp: new Date(), attempts: 1, body: corrupted },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    await getQueueResult(batch, ctx);

    const { cookie } = await signIn(tenant.apiKey);
    const c = cookie ?? "";
    const listing = await (await page(c, `/dashboard/t/${tenant.id}/dead-letters`)).text();
    expect(listing).toContain("not a Factline fact");
    const csrf = await csrfOf(c, `/dashboard/t/${tenant.id}/dead-letters`);

    const otherSession = (await signIn(other.apiKey)).cookie ?? "";
    const otherCsrf = await csrfOf(otherSession, `/dashboard/t/${other.id}`);
    const refused = await post(otherSession, `/dashboard/t/${other.id}/dead-letters/${corrupted.id}/replay`, {
      _csrf: otherCsrf,
    });
    expect(refused.status).toBe(404);

    const before = await env.DB.prepare("SELECT created_at AS createdAt FROM dead_letters WHERE id = ?")
      .bind(corrupted.id)
      .first<{ createdAt: number }>();
    expect(before).not.toBeNull();
    const replayed = await post(c, `/dashboard/t/${tenant.id}/dead-letters/${corrupted.id}/replay`, { _csrf: csrf });
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get("location")).toBe(`/dashboard/t/${tenant.id}/dead-letters?replayed=1`);
    // It went back through the queue: the consumer refused it again and recorded it afresh.
    const again = await eventually(async () => {
      const row = await env.DB.prepare(
        "SELECT attempts, created_at AS createdAt, replayed_at AS replayedAt FROM dead_letters WHERE id = ?",
      )
        .bind(corrupted.id)
        .first<{ attempts: number; createdAt: number; replayedAt: number | null }>();
      return row && row.replayedAt === null && row.createdAt > (before?.createdAt ?? Infinity) ? row : undefined;
    });
    expect(again.attempts).toBe(1);
  });
});

describe("dashboard projections", () => {
  it("starts a rebuild of one projection for the signed-in tenant, and answers 404 for an unknown projection", async () => {
    const tenant = await newTenant("dash");
    const { cookie } = await signIn(tenant.apiKey);
    const c = cookie ?? "";
    const csrf = await csrfOf(c, `/dashboard/t/${tenant.id}/projections`);
    const started = await post(c, `/dashboard/t/${tenant.id}/projections/inventory/rebuild`, { _csrf: csrf });
    expect(started.status).toBe(303);
    expect(started.headers.get("location")).toBe(`/dashboard/t/${tenant.id}/projections?rebuild=started`);
    expect((await post(c, `/dashboard/t/${tenant.id}/projections/no-such-view/rebuild`, { _csrf: csrf })).status).toBe(
      404,
    );
  });
});

describe("dashboard entity pages", () => {
  it("shows an entity whose stored log holds an event type the code renamed as a 500 page naming it, never a state", async () => {
    const tenant = await newTenant("dash");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "renamed", "restock", { quantity: 3 });
    await api.command("inventory", "renamed", "restock", { quantity: 4 });
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "renamed")));
    await runInDurableObject(stub, (_actor, state) => {
      state.storage.sql.exec("UPDATE events SET type = 'Stocked' WHERE seq = 2");
    });
    await evictDurableObject(stub);
    const { cookie } = await signIn(tenant.apiKey);
    const res = await page(cookie ?? "", `/dashboard/t/${tenant.id}/entities?type=inventory&id=renamed`);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain("Stocked (seq 2) is not an event type of inventory");
  });
});

/**
 * Sagas of `tenant` needing attention, written straight into D1 as their objects mirror them: the
 * first started first (a second apart), each last changed at `updatedAt(i)`.
 */
async function stuckSagas(tenant: string, count: number, updatedAt = (i: number) => STARTED + i * 1000) {
  const insert = env.DB.prepare(
    "INSERT INTO saga_instances (id, tenant_id, saga, instance_key, status, stage, reason, error, version, created_at, updated_at) VALUES (?, ?, 'order-fulfillment', ?, 'attention', 'charge', NULL, 'charge failed', 1, ?, ?)",
  );
  const rows = Array.from({ length: count }, (_, i) =>
    insert.bind(sagaId(tenant, `o-${i}`), tenant, `o-${i}`, STARTED + i * 1000, updatedAt(i)),
  );
  for (let i = 0; i < rows.length; i += 50) await env.DB.batch(rows.slice(i, i + 50));
}
const STARTED = Date.UTC(2026, 0, 1);

/** The id of the saga of an order of one unit of a stocked SKU, once it has completed. */
async function completedSaga(tenant: { id: string; apiKey: string }, orderId: string): Promise<string> {
  const api = tenantClient(tenant.apiKey);
  await api.command("inventory", "tv", "restock", { quantity: 1 });
  await api.command("orders", orderId, "create", {
    customerId: "c",
    items: [{ sku: "tv", quantity: 1, unitPrice: 3 }],
  });
  const id = sagaId(tenant.id, orderId);
  await eventually(async () => {
    const res = await adminCall(`/admin/sagas/${id}`);
    return res.status === 200 && ((await res.json()) as { status: string }).status === "completed" ? true : undefined;
  }, 30_000);
  return id;
}

/** The saga ids an overview page lists as needing attention, in its order. */
function listedSagas(html: string): string[] {
  return [...html.matchAll(/<strong>([a-z0-9-]+:order-fulfillment:[^<]+)<\/strong>/g)].map((m) => m[1] ?? "");
}

/** The overview's link to the next page of sagas needing attention, if it has one. */
function nextSagasPage(html: string): string | undefined {
  return /<a href="([^"]+)#sagas" rel="next"/.exec(html)?.[1];
}

describe("dashboard: sagas needing attention", () => {
  it("lists a stuck saga on the tenant overview and resolves it with Retry; another tenant cannot touch it", async () => {
    const { tenant, api, id } = await orderAgainstFailingGateway("dsa");

    const { cookie } = await signIn(ADMIN_TOKEN);
    const overviewHtml = await eventually(async () => {
      const html = await (await page(cookie!, `/dashboard/t/${tenant.id}`)).text();
      return html.includes(id) ? html : undefined;
    }, 30_000);
    expect(overviewHtml).toContain("compensating charge failed");
    const csrf = await csrfOf(cookie!, `/dashboard/t/${tenant.id}`);
    const action = `/dashboard/t/${tenant.id}/sagas/${encodeURIComponent(id)}/retry`;

    const other = await newTenant("dsb");
    const wrongTenant = await post(cookie!, `/dashboard/t/${other.id}/sagas/${encodeURIComponent(id)}/retry`, {
      _csrf: csrf,
    });
    expect(wrongTenant.status).toBe(404);

    await setGateway(tenant.id, { errorRate: 0 });
    const retried = await post(cookie!, action, { _csrf: csrf });
    expect(retried.status).toBe(303);
    expect(await orderEnds(api, "o-1")).toBe("cancelled");
  });

  it("offers to resolve each compensation that stops a saga, and the saga ends compensated without them", async () => {
    const { tenant, api, id } = await orderAgainstFailingGateway("dsr");
    const action = `/dashboard/t/${tenant.id}/sagas/${encodeURIComponent(id)}/resolve`;
    const { cookie } = await signIn(tenant.apiKey);
    const offered = (task: string) =>
      eventually(async () => {
        const html = await (await page(cookie!, `/dashboard/t/${tenant.id}`)).text();
        return html.includes(`<input type="hidden" name="task" value="${task}"/>`) ? html : undefined;
      }, 30_000);

    // The charge's refund stopped it: the operator refunded by hand and says so.
    expect(await offered("charge")).toContain("Resolve charge: compensated by hand");
    const csrf = await csrfOf(cookie!, `/dashboard/t/${tenant.id}`);
    // The button asks first, doing nothing; its confirmation resolves.
    const asked = await post(cookie!, action, { _csrf: csrf, task: "charge" });
    expect(asked.status).toBe(200);
    expect(await asked.text()).toContain('<input type="hidden" name="confirm" value="yes"/>');
    expect(((await (await adminCall(`/admin/sagas/${id}`)).json()) as { resolvable: string[] }).resolvable).toEqual([
      "charge",
    ]);
    expect((await post(cookie!, action, { _csrf: csrf, task: "charge", confirm: "yes" })).status).toBe(303);
    expect(await orderEnds(api, "o-1")).toBe("cancelled");

    // Its final refund stops it next, and is resolved in turn.
    const html = await offered("refund-payment");
    expect(html).not.toContain('value="charge"');
    expect((await post(cookie!, action, { _csrf: csrf, task: "refund-payment", confirm: "yes" })).status).toBe(303);
    const saga = await eventually(async () => {
      const view = (await (await adminCall(`/admin/sagas/${id}`)).json()) as {
        status: string;
        resolvable: string[];
        log: Record<string, unknown>[];
      };
      return view.status === "compensated" && view.resolvable.length === 0 ? view : undefined;
    }, 20_000);
    // The saga's log says who resolved which task.
    const by = `tenant key ${tenant.apiKey.split("_")[1]}`;
    expect(saga.log.filter((e) => e.type === "OperatorActed" || e.type === "CompensationResolved")).toEqual([
      { seq: expect.any(Number), type: "OperatorActed", action: "resolve", by, task: "charge", at: expect.any(Number) },
      { seq: expect.any(Number), type: "CompensationResolved", task: "charge", at: expect.any(Number) },
      {
        seq: expect.any(Number),
        type: "OperatorActed",
        action: "resolve",
        by,
        task: "refund-payment",
        at: expect.any(Number),
      },
      { seq: expect.any(Number), type: "CompensationResolved", task: "refund-payment", at: expect.any(Number) },
    ]);
  });

  it("answers a resolve that names no task with 400, and one of a task that stopped nothing with 409", async () => {
    const tenant = await newTenant("dsn");
    const id = await completedSaga(tenant, "o-1");
    const action = `/dashboard/t/${tenant.id}/sagas/${encodeURIComponent(id)}/resolve`;

    const { cookie } = await signIn(tenant.apiKey);
    const csrf = await csrfOf(cookie!, `/dashboard/t/${tenant.id}`);
    const unnamed = await post(cookie!, action, { _csrf: csrf });
    expect(unnamed.status).toBe(400);
    expect(await unnamed.text()).toContain("the form names no task to resolve (a task key, 1-200 characters)");
    const refused = await post(cookie!, action, { _csrf: csrf, task: "charge", confirm: "yes" });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain("no compensation of task &quot;charge&quot; is waiting on an operator");
  });

  it("refuses a form that gives a field twice with 400, signing in no one and acting on nothing", async () => {
    const twice = await postSignIn(
      new URLSearchParams([
        ["secret", "wrong"],
        ["secret", ADMIN_TOKEN],
      ]).toString(),
    );
    expect(twice.status).toBe(400);
    expect(twice.headers.get("set-cookie")).toBeNull();
    expect(await twice.text()).toContain('the form field \\"secret\\" is given more than once');

    const tenant = await newTenant("dst");
    const id = await completedSaga(tenant, "o-1");
    const { cookie } = await signIn(tenant.apiKey);
    const csrf = await csrfOf(cookie!, `/dashboard/t/${tenant.id}`);
    const resolve = await post(cookie!, `/dashboard/t/${tenant.id}/sagas/${encodeURIComponent(id)}/resolve`, [
      ["_csrf", csrf],
      ["task", "nope"],
      ["task", "charge"],
    ]);
    expect(resolve.status).toBe(400);
    const { log } = (await (await adminCall(`/admin/sagas/${id}`)).json()) as { log: { type: string }[] };
    expect(log.map((e) => e.type)).not.toContain("OperatorActed");
  });

  it("answers a saga action that does not apply with 409, saying why on the overview", async () => {
    const tenant = await newTenant("dsc");
    const id = await completedSaga(tenant, "o-1");

    const { cookie } = await signIn(tenant.apiKey);
    const csrf = await csrfOf(cookie!, `/dashboard/t/${tenant.id}`);
    const refused = await post(cookie!, `/dashboard/t/${tenant.id}/sagas/${encodeURIComponent(id)}/retry`, {
      _csrf: csrf,
    });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain("cannot retry a saga that is completed");
  });

  it("lists the sagas needing attention newest first by when they started, not by when they last changed", async () => {
    const tenant = await newTenant("dso");
    // o-0 started first but changed last (retried, then stopped again): by updatedAt it came first.
    await stuckSagas(tenant.id, 3, (i) => (i === 0 ? STARTED + 60_000 : STARTED + i * 1000));

    const { cookie } = await signIn(tenant.apiKey);
    const html = await (await page(cookie!, `/dashboard/t/${tenant.id}`)).text();

    expect(listedSagas(html)).toEqual(["o-2", "o-1", "o-0"].map((o) => sagaId(tenant.id, o)));
  });

  it("pages the sagas needing attention, each once, while they escalate again between pages", async () => {
    const tenant = await newTenant("dsp");
    await stuckSagas(tenant.id, 53);
    const { cookie } = await signIn(tenant.apiKey);

    const first = await (await page(cookie!, `/dashboard/t/${tenant.id}`)).text();
    // Retried and stopped again while the operator reads: a later updatedAt, the same start.
    await env.DB.prepare("UPDATE saga_instances SET updated_at = ?, version = 2 WHERE id IN (?, ?)")
      .bind(STARTED + 3_600_000, sagaId(tenant.id, "o-0"), sagaId(tenant.id, "o-52"))
      .run();
    const next = nextSagasPage(first);
    expect(next).toMatch(new RegExp(`^/dashboard/t/${tenant.id}\\?sagas=`));
    const second = await page(cookie!, next ?? "");
    expect(second.status).toBe(200);
    const secondHtml = await second.text();

    expect(listedSagas(first)).toHaveLength(50);
    expect([...listedSagas(first), ...listedSagas(secondHtml)]).toEqual(
      Array.from({ length: 53 }, (_, i) => sagaId(tenant.id, `o-${52 - i}`)),
    );
    expect(nextSagasPage(secondHtml)).toBeUndefined();
  });

  it("answers a saga action taken on a later page of sagas needing attention with that page", async () => {
    const tenant = await newTenant("dsr");
    const done = await completedSaga(tenant, "done");
    await stuckSagas(tenant.id, 53);
    const { cookie } = await signIn(tenant.apiKey);
    const secondPath = nextSagasPage(await (await page(cookie!, `/dashboard/t/${tenant.id}`)).text()) ?? "";
    const second = await (await page(cookie!, secondPath)).text();
    const cursor = new URL(secondPath, ORIGIN).searchParams.get("sagas") ?? "";
    // Each of the page's forms carries the page it is on.
    expect(second).toContain(`<input type="hidden" name="sagas" value="${cursor}"/>`);

    // Refused (the saga has ended), the answer is still the page the operator was on.
    const csrf = await csrfOf(cookie!, secondPath);
    const refused = await post(cookie!, `/dashboard/t/${tenant.id}/sagas/${encodeURIComponent(done)}/retry`, {
      _csrf: csrf,
      sagas: cursor,
    });
    expect(refused.status).toBe(409);
    expect(listedSagas(await refused.text())).toEqual(listedSagas(second));
  });

  it("answers a page of sagas needing attention at another tenant's saga with 400, showing the first page", async () => {
    const tenant = await newTenant("dst");
    const other = await newTenant("dsu");
    await stuckSagas(tenant.id, 1);
    await stuckSagas(other.id, 2);
    // A cursor another tenant's list gives: at its newest saga.
    const res = await adminCall(`/admin/sagas?tenant=${other.id}&status=attention&limit=1`);
    const cursor = ((await res.json()) as { next: string }).next;
    const { cookie } = await signIn(tenant.apiKey);

    const answer = await page(cookie!, `/dashboard/t/${tenant.id}?sagas=${cursor}`);

    expect(answer.status).toBe(400);
    expect(listedSagas(await answer.text())).toEqual([sagaId(tenant.id, "o-0")]);
  });

  it("answers a page of sagas needing attention that no list gave with 400, showing the first page", async () => {
    const tenant = await newTenant("dsq");
    await stuckSagas(tenant.id, 1);
    const { cookie } = await signIn(tenant.apiKey);

    const res = await page(cookie!, `/dashboard/t/${tenant.id}?sagas=not-a-cursor`);

    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain("That page of sagas needing attention does not exist");
    expect(listedSagas(html)).toEqual([sagaId(tenant.id, "o-0")]);
  });
});
