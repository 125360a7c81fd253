// Tenancy and fair use: API keys (shown once, stored as digests, revocable, last use recorded),
// suspension, per-tenant rate limits, per-tenant CORS and the headers on every response.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/core/security/api-key.js";
import { admin } from "./support/admin.js";
import { call, newTenant, tenantClient } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";

describe("API keys", () => {
  it("are stored only as a digest, never as the key itself", async () => {
    const tenant = await newTenant();
    const rows = await env.DB.prepare("SELECT * FROM api_keys WHERE tenant_id = ?").bind(tenant.id).all();
    expect(rows.results).toHaveLength(1);
    const stored = JSON.stringify(rows.results);
    expect(stored).not.toContain(tenant.apiKey);
    expect(rows.results[0]).toMatchObject({ key_hash: await sha256Hex(tenant.apiKey) });
  });

  it("carry at least 128 random bits and are never shown again by the admin API", async () => {
    const tenant = await newTenant();
    const secret = tenant.apiKey.split("_").slice(2).join("_");
    expect(secret.length * 6).toBeGreaterThanOrEqual(128);
    const shown = await (await admin("GET", `/tenants/${tenant.id}`)).text();
    expect(shown).not.toContain(secret);
  });

  it("record when they were last used", async () => {
    const tenant = await newTenant();
    const before = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE tenant_id = ?")
      .bind(tenant.id)
      .first<{ last_used_at: number | null }>();
    expect(before?.last_used_at).toBeNull();
    await tenantClient(tenant.apiKey).get("/v1/views/inventory");
    const shown = (await (await admin("GET", `/tenants/${tenant.id}`)).json()) as {
      keys: { lastUsedAt: number | null }[];
    };
    expect(shown.keys[0]?.lastUsedAt).toEqual(expect.any(Number));
  });

  it("stop working the moment they are revoked, while the tenant's other keys go on", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const second = (await (await admin("POST", `/tenants/${tenant.id}/keys`)).json()) as {
      keyId: string;
      apiKey: string;
    };
    expect((await tenantClient(second.apiKey).get("/v1/views/inventory")).status).toBe(200);
    // Used once so that the key sits in this isolate's cache when it is revoked.
    expect(await admin("DELETE", `/tenants/${tenant.id}/keys/${second.keyId}`)).toHaveProperty("status", 204);

    const refused = await tenantClient(second.apiKey).get("/v1/views/inventory");
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ type: `${PROBLEMS}unauthorized` });
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
  });

  it("cannot be revoked through another tenant", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const key = (await (await admin("POST", `/tenants/${a.id}/keys`)).json()) as { keyId: string };
    const res = await admin("DELETE", `/tenants/${b.id}/keys/${key.keyId}`);
    expect(res.status).toBe(404);
  });
});

describe("suspension", () => {
  it("refuses a suspended tenant with 403 at once and records nothing of its commands", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    expect((await api.command("inventory", "sku-1", "restock", { quantity: 1 })).status).toBe(200);
    expect((await admin("POST", `/tenants/${tenant.id}/suspend`)).status).toBe(200);

    const refused = await api.command("inventory", "sku-1", "restock", { quantity: 5 });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(await refused.json()).toMatchObject({ type: `${PROBLEMS}tenant-suspended`, status: 403 });
    expect((await api.get("/v1/entities/inventory/sku-1")).status).toBe(403);

    expect((await admin("POST", `/tenants/${tenant.id}/resume`)).status).toBe(200);
    const entity = (await (await api.get("/v1/entities/inventory/sku-1")).json()) as { version: number };
    expect(entity.version).toBe(1);
  });
});

describe("rate limits", () => {
  it("answer 429 with Retry-After once a tenant's burst is spent, leaving other tenants alone", async () => {
    const limited = await newTenant();
    const other = await newTenant();
    // One token per 100 s: the burst of 3 cannot refill while this test runs.
    const set = await admin("PUT", `/tenants/${limited.id}/rate-limit`, { requestsPerSecond: 0.01, burst: 3 });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ rateLimit: { requestsPerSecond: 0.01, burst: 3 } });

    const api = tenantClient(limited.apiKey);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await api.get("/v1/views/inventory")).status);
    expect(statuses).toEqual([200, 200, 200, 429]);

    const refused = await api.get("/v1/views/inventory");
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(await refused.json()).toMatchObject({ type: `${PROBLEMS}rate-limited`, status: 429 });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    expect((await tenantClient(other.apiKey).get("/v1/views/inventory")).status).toBe(200);
  });

  it("are shared by all of a tenant's keys", async () => {
    const tenant = await newTenant();
    const second = (await (await admin("POST", `/tenants/${tenant.id}/keys`)).json()) as { apiKey: string };
    await admin("PUT", `/tenants/${tenant.id}/rate-limit`, { requestsPerSecond: 0.01, burst: 2 });
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(200);
    expect((await tenantClient(second.apiKey).get("/v1/views/inventory")).status).toBe(200);
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(429);
    expect((await tenantClient(second.apiKey).get("/v1/views/inventory")).status).toBe(429);
  });

  it("can be lifted", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    await admin("PUT", `/tenants/${tenant.id}/rate-limit`, { requestsPerSecond: 0.01, burst: 1 });
    await api.get("/v1/views/inventory");
    expect((await api.get("/v1/views/inventory")).status).toBe(429);
    expect((await admin("DELETE", `/tenants/${tenant.id}/rate-limit`)).status).toBe(200);
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
  });

  it("are validated", async () => {
    const tenant = await newTenant();
    const res = await admin("PUT", `/tenants/${tenant.id}/rate-limit`, { requestsPerSecond: -1, burst: 0.5 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; errors: { path: string }[] };
    expect(body.type).toBe(`${PROBLEMS}validation-failed`);
    expect(body.errors.map((e) => e.path).sort()).toEqual(["burst", "requestsPerSecond"]);
    expect((await admin("PUT", `/tenants/nobody-here/rate-limit`, { requestsPerSecond: 1, burst: 1 })).status).toBe(
      404,
    );
  });
});

describe("CORS", () => {
  it("allows only the origins a tenant has listed to read its answers", async () => {
    const tenant = await newTenant();
    const set = await admin("PUT", `/tenants/${tenant.id}/cors`, { origins: ["https://app.example.com"] });
    expect(set.status).toBe(200);
    const api = tenantClient(tenant.apiKey);

    const allowed = await api.get("/v1/views/inventory", { origin: "https://app.example.com" });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(allowed.headers.get("access-control-expose-headers")).toContain("factline-consistency");
    expect(allowed.headers.get("vary")).toContain("Origin");

    const other = await api.get("/v1/views/inventory", { origin: "https://evil.example.net" });
    expect(other.status).toBe(200);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("allows no origin for a tenant that listed none", async () => {
    const tenant = await newTenant();
    const res = await tenantClient(tenant.apiKey).get("/v1/views/inventory", { origin: "https://app.example.com" });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  function preflight(origin: string) {
    return call("/v1/entities/inventory/sku-1/commands/restock", {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
  }

  it("answers a preflight without credentials from an origin a tenant lists", async () => {
    const tenant = await newTenant();
    const origin = `https://${tenant.id}.example.com`;
    expect((await admin("PUT", `/tenants/${tenant.id}/cors`, { origins: [origin] })).status).toBe(200);
    const res = await preflight(origin);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(origin);
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
  });

  it("lets a listed origin send a body's digest, so a browser can have its body's integrity checked", async () => {
    const tenant = await newTenant();
    const origin = `https://${tenant.id}.example.com`;
    expect((await admin("PUT", `/tenants/${tenant.id}/cors`, { origins: [origin] })).status).toBe(200);
    const allowed = (await preflight(origin)).headers.get("access-control-allow-headers") ?? "";
    expect(allowed.split(/,\s*/)).toEqual(expect.arrayContaining(["content-digest", "repr-digest"]));
  });

  it("refuses a preflight from an origin no tenant lists, so no page elsewhere can send its visitors' keys", async () => {
    const res = await preflight("https://evil.example.net");
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-allow-headers")).toBeNull();
    expect(await res.json()).toMatchObject({ type: `${PROBLEMS}forbidden` });
    const long = await preflight(`https://${"a".repeat(60_000)}.example`);
    expect(long.status).toBe(403);
    expect((await long.text()).length).toBeLessThan(1_000);
  });

  it("refuses a preflight from an origin its tenant stopped listing", async () => {
    const tenant = await newTenant();
    const origin = `https://${tenant.id}.example.org`;
    await admin("PUT", `/tenants/${tenant.id}/cors`, { origins: [origin] });
    expect((await preflight(origin)).status).toBe(204);
    await admin("PUT", `/tenants/${tenant.id}/cors`, { origins: [] });
    expect((await preflight(origin)).status).toBe(403);
  });

  it("refuses a tenant name holding control or bidirectional formatting characters", async () => {
    for (const name of ["Acme\u202E", "Ac\u2066me", "Acme\u0007", "line\nbreak"]) {
      const res = await admin("POST", "/tenants", { id: `named-${Math.random().toString(36).slice(2, 8)}`, name });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ type: `${PROBLEMS}validation-failed` });
    }
  });

  it("refuses a preflight from an origin listed only by a suspended tenant, and answers it again once resumed", async () => {
    const tenant = await newTenant();
    const origin = `https://${tenant.id}.example.net`;
    await admin("PUT", `/tenants/${tenant.id}/cors`, { origins: [origin] });
    expect((await preflight(origin)).status).toBe(204);
    expect((await admin("POST", `/tenants/${tenant.id}/suspend`)).status).toBe(200);
    const refused = await preflight(origin);
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    expect((await admin("POST", `/tenants/${tenant.id}/resume`)).status).toBe(200);
    expect((await preflight(origin)).status).toBe(204);
  });

  it("refuses a preflight for a tenant suspended by another isolate once the admission bound has passed", async () => {
    const tenant = await newTenant();
    const origin = `https://${tenant.id}.example.io`;
    await admin("PUT", `/tenants/${tenant.id}/cors`, { origins: [origin] });
    expect((await preflight(origin)).status).toBe(204);
    // Written behind this isolate's back, as another isolate's admin call would be.
    await env.DB.prepare("UPDATE tenants SET status = 'suspended', policy_version = policy_version + 1 WHERE id = ?")
      .bind(tenant.id)
      .run();
    await new Promise((r) => setTimeout(r, Number(env.TENANT_ADMISSION_MAX_STALE_MS) + 50));
    expect((await preflight(origin)).status).toBe(403);
  });

  /** The per-field messages a refused CORS list was answered with. */
  async function refusedOrigins(origins: string[]): Promise<string[]> {
    const tenant = await newTenant();
    const res = await admin("PUT", `/tenants/${tenant.id}/cors`, { origins });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; errors: { path: string; message: string }[] };
    expect(body.type).toBe(`${PROBLEMS}validation-failed`);
    return body.errors.map((e) => e.message);
  }

  it("refuses origins that are not origins", async () => {
    const [path, star, nul, ws] = await refusedOrigins(["https://app.example.com/path", "*", "null", "ws://x.com"]);
    expect(path).toContain("write https://app.example.com");
    expect(star).toContain("such as https://app.example.com");
    expect(nul).toContain("sandboxed");
    expect(ws).toContain("not an http or https origin");
  });

  it("refuses a default port spelled out, naming the origin to write instead", async () => {
    const messages = await refusedOrigins(["https://x.com:443", "http://x.com:80", "http://[::1]:80"]);
    expect(messages).toEqual([
      "write https://x.com: the default port 443 of https is implied",
      "write http://x.com: the default port 80 of http is implied",
      "write http://[::1]: the default port 80 of http is implied",
    ]);
  });

  it("refuses ports no page is served from", async () => {
    const [zero, huge] = await refusedOrigins(["http://x.com:0", "http://x.com:99999"]);
    expect(zero).toContain("port 0");
    expect(huge).toContain("at most 65535");
  });

  it("refuses a trailing slash, a path, a query and a user name, naming the origin to write", async () => {
    const messages = await refusedOrigins([
      "https://x.com/",
      "https://x.com/app",
      "https://x.com?a",
      "https://me@x.com",
    ]);
    expect(messages.slice(0, 3)).toEqual(
      Array(3).fill("write https://x.com: an origin has no path, query or fragment, not even a trailing /"),
    );
    expect(messages[3]).toBe("write https://x.com: an origin has no user name or password");
  });

  it("refuses uppercase, saying hosts are lowercase, and other spellings with the one a browser sends", async () => {
    const [upper, scheme, idn, shorthand] = await refusedOrigins([
      "https://App.Example.com",
      "HTTPS://x.com",
      "https://bücher.example",
      "http://127.1:8080",
    ]);
    expect(upper).toBe("write https://app.example.com: scheme and host are lowercase in an origin");
    expect(scheme).toBe("write https://x.com: scheme and host are lowercase in an origin");
    expect(idn).toBe("write https://xn--bcher-kva.example: that is how a browser sends this origin");
    expect(shorthand).toBe("write http://127.0.0.1:8080: that is how a browser sends this origin");
  });

  it("refuses a wildcard, saying to list each origin", async () => {
    const [star, escaped] = await refusedOrigins(["https://*.a.com", "https://%2A.a.com"]);
    expect(star).toBe(
      '"https://*.a.com" is a pattern, and browsers send no wildcards: list each origin, such as https://app.example.com',
    );
    expect(escaped).toContain("browsers send no wildcards: list each origin");
  });

  it("refuses a host with an empty label", async () => {
    const origins = ["https://a..com", "https://.a.com", "https://a.com.."];
    expect(await refusedOrigins(origins)).toEqual(
      origins.map((text) => `"${text}" has an empty label (a dot first, or two together): a host has no empty label`),
    );
  });

  it("refuses a host no DNS name spells: other characters, a label over 63", async () => {
    const long = `https://${"a".repeat(64)}.com`;
    const [bang, brace, overlong] = await refusedOrigins(["https://a!b.com", "https://a{b}.com", long]);
    expect(bang).toBe(
      `"https://a!b.com" has a character no host name has: a host's labels are letters, digits, - and _`,
    );
    expect(brace).toContain("a host's labels are letters, digits, - and _");
    expect(overlong).toContain("a host label over 63 characters");
  });

  it("refuses a host ending in a dot, naming the origin without it", async () => {
    const [dot, escaped] = await refusedOrigins(["https://a.com.", "http://a.com%2e:8080"]);
    expect(dot).toBe(
      "write https://a.com: a host ending in a dot is another origin, sent only by pages opened at that spelling",
    );
    expect(escaped).toContain("write http://a.com:8080: a host ending in a dot");
  });

  it("lists origins exactly as browsers send them, IPv6 literals and non-default ports included", async () => {
    const tenant = await newTenant();
    const origins = [
      "http://[::1]:8080",
      "http://localhost:5173",
      "https://localhost",
      "https://x.com:8443",
      "http://127.0.0.1",
      "https://my_app.example.com",
    ];
    const res = await admin("PUT", `/tenants/${tenant.id}/cors`, { origins });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { corsOrigins: string[] }).corsOrigins).toEqual(origins);
    const answered = await preflight("http://[::1]:8080");
    expect(answered.status).toBe(204);
    expect(answered.headers.get("access-control-allow-origin")).toBe("http://[::1]:8080");
  });
});

describe("every response", () => {
  it("carries the security headers, errors included", async () => {
    for (const res of [await call("/healthz"), await call("/v1/entities/inventory/x"), await call("/nowhere")]) {
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("strict-transport-security")).toContain("max-age=");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("referrer-policy")).toBe("same-origin");
      expect(res.headers.get("cross-origin-resource-policy")).toBe("same-origin");
    }
  });

  it("carries its request id and trace, errors included", async () => {
    const sent = { "x-request-id": "every-answer-1" };
    for (const res of [
      await call("/healthz", { headers: sent }),
      await call("/nowhere", { headers: sent }),
      await call("/healthz", { method: "POST", headers: sent }),
      await call("/v1/entities/inventory/x", { headers: sent }),
      await call("/admin/tenants", { method: "DELETE", headers: sent }),
    ]) {
      expect(res.headers.get("x-request-id")).toBe("every-answer-1");
      expect(res.headers.get("traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    }
  });

  it("of the tenant API and the admin API is stored by no cache, errors included", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    for (const res of [
      await api.get("/v1/entities/inventory/x"),
      await api.get("/v1/views/inventory"),
      await call("/v1/entities/inventory/x"),
      await admin("POST", "/tenants", { id: `${tenant.id}-b`, name: "B" }),
      await admin("GET", `/tenants/${tenant.id}`),
    ])
      expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("of the tenant API runs no script of a tenant's bytes on the API's origin", async () => {
    const tenant = await newTenant();
    const url = "/v1/stream/page";
    const created = await call(url, {
      method: "PUT",
      headers: { authorization: `Bearer ${tenant.apiKey}`, "content-type": "text/html" },
      body: "<script>alert(1)</script>",
    });
    expect(created.status).toBe(201);
    const page = await tenantClient(tenant.apiKey).get(url);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toBe("sandbox; default-src 'none'; frame-ancestors 'none'");
  });

  it("of a cacheable tenant read is reused by a browser only for the same key, since every tenant reads the same URLs", async () => {
    const tenant = await newTenant();
    const url = "/v1/stream/cached";
    const auth = { authorization: `Bearer ${tenant.apiKey}` };
    await call(url, { method: "PUT", headers: { ...auth, "content-type": "text/plain" }, body: "tenant data" });
    const read = await tenantClient(tenant.apiKey).get(`${url}?offset=-1`);
    expect(read.headers.get("cache-control")).toContain("private");
    expect(read.headers.get("vary")?.toLowerCase()).toContain("authorization");
  });

  it("leaves the document-only headers to pages: the tenant API answers JSON, never a page", async () => {
    const page = await call("/docs");
    expect(page.headers.get("cross-origin-opener-policy")).toBe("same-origin");
    expect(page.headers.get("x-xss-protection")).toBe("0");
    const api = await call("/v1/entities/inventory/x");
    expect(api.headers.get("cross-origin-opener-policy")).toBeNull();
    expect(api.headers.get("x-xss-protection")).toBeNull();
    expect(api.headers.get("x-download-options")).toBeNull();
  });
});

describe("request bodies", () => {
  it("are refused with 413 past the limit even when sent chunked, without a length", async () => {
    const tenant = await newTenant();
    const chunk = new TextEncoder().encode(`"${"x".repeat(16 * 1024)}",`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Far more than the limit (16 MiB): kept no further than the limit, the rest read and dropped.
        if (sent++ < 1000) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await call("/v1/entities/inventory/sku-1/commands/restock", {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.apiKey}`, "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ type: `${PROBLEMS}payload-too-large` });
    // Read to its end (within the 64 MiB drain), so the sender sees the 413 rather than a reset.
    expect(sent).toBe(1001);
  });

  it("that are not JSON are refused with 415, on the admin API too", async () => {
    const tenant = await newTenant();
    const res = await call("/v1/entities/inventory/sku-1/commands/restock", {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.apiKey}`, "content-type": "text/plain" },
      body: '{"quantity": 1}',
    });
    expect(res.status).toBe(415);
    const adminRes = await call("/admin/tenants", {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/x-www-form-urlencoded" },
      body: "id=x&name=y",
    });
    expect(adminRes.status).toBe(415);
    expect(await adminRes.json()).toMatchObject({ type: `${PROBLEMS}unsupported-media-type` });
  });
});
