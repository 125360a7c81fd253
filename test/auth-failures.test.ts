// Failed authentication is cheap and bounded: a key id with no record is remembered (no D1
// query per attempt), and a client that keeps failing with well-formed keys, dashboard sign-ins or
// admin tokens is answered 429 with Retry-After by the AUTH_FAILURES rate-limit binding (30 a
// minute per client in wrangler.toml), without a D1 query, while other clients and keys already
// known keep working.
import { describe, expect, it } from "vitest";
import { keyLookupCount } from "../edge/tenancy/tenant-auth.js";
import { AUTH_FAILURES_LIMITED_DETAIL } from "../src/core/security/auth-failures.js";
import { ExpiringCache } from "../src/core/runtime/expiring-cache.js";
import { ADMIN_TOKEN, call, newTenant } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";
let clients = 0;

/**
 * A client IP no other call of this file uses, so failure counts do not mix (an address derived
 * from the clock could repeat a blocked client's as the clock moved, and be answered 429).
 */
function newClient(): string {
  clients++;
  return `198.51.100.${clients}`;
}

/** A well-formed key that no tenant has. */
function unknownKey(): string {
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `fl_${hex}_${"x".repeat(32)}`;
}

function get(key: string, client: string): Promise<Response> {
  return call("/v1/views/inventory", { headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": client } });
}

/** A dashboard sign-in with `secret` from `client` (the form's own origin; redirects not followed). */
function signIn(secret: string, client: string): Promise<Response> {
  return call("/dashboard/sign-in", {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: "https://factline.test",
      "cf-connecting-ip": client,
    },
    body: new URLSearchParams({ secret }).toString(),
    redirect: "manual",
  });
}

describe("failed authentication", () => {
  it("answers a repeated unknown key with 401 and looks it up in D1 only once", async () => {
    const client = newClient();
    const key = unknownKey();
    const before = keyLookupCount.value;
    for (let i = 0; i < 5; i++) {
      const res = await get(key, client);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ type: `${PROBLEMS}unauthorized` });
    }
    expect(keyLookupCount.value - before).toBe(1);
  });

  it("limits a client that keeps failing with 429 and Retry-After, with no D1 lookup while it is blocked", async () => {
    const tenant = await newTenant();
    const client = newClient();
    // Known to this isolate before the flood: a blocked client's known keys still work.
    expect((await get(tenant.apiKey, client)).status).toBe(200);

    let limited: Response | undefined;
    // The binding counts in fixed windows; two windows' worth guarantees the limit is met.
    for (let i = 0; i < 61 && !limited; i++) {
      const res = await get(unknownKey(), client);
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(401);
    }
    expect(limited?.headers.get("retry-after")).toBe("60");
    expect(await limited?.json()).toMatchObject({ type: `${PROBLEMS}auth-failures-limited`, status: 429 });

    const before = keyLookupCount.value;
    for (let i = 0; i < 10; i++) expect((await get(unknownKey(), client)).status).toBe(429);
    expect(keyLookupCount.value).toBe(before);
    expect((await get(tenant.apiKey, client)).status).toBe(200);
    expect((await get(unknownKey(), newClient())).status).toBe(401);
  });
});

describe("failed dashboard sign-ins", () => {
  it("refuse a client with 429 after too many, even with a right secret, while other clients sign in", async () => {
    const tenant = await newTenant();
    const client = newClient();
    let limited: Response | undefined;
    for (let i = 0; i < 61 && !limited; i++) {
      const res = await signIn(unknownKey(), client);
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(401);
    }
    expect(limited?.headers.get("retry-after")).toBe("60");
    expect((await signIn(tenant.apiKey, client)).status).toBe(429);
    expect((await signIn(tenant.apiKey, newClient())).status).toBe(303);
  });
});

describe("failed admin tokens", () => {
  const admin = (token: string, client: string) =>
    call("/admin/tenants", { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": client } });

  it("count in the same limit: a client guessing is answered 429 with Retry-After, then even with the right token", async () => {
    const client = newClient();
    expect((await admin(ADMIN_TOKEN, client)).status).toBe(200);
    let limited: Response | undefined;
    // The binding counts in fixed windows; two windows' worth guarantees the limit is met.
    for (let i = 0; i < 61 && !limited; i++) {
      const res = await admin(`guess-${i}`, client);
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(401);
    }
    expect(limited?.headers.get("retry-after")).toBe("60");
    expect(limited?.headers.get("content-type")).toBe("application/problem+json");
    expect(await limited?.json()).toMatchObject({ type: `${PROBLEMS}auth-failures-limited`, status: 429 });

    // Blocked: answered before the token is compared, so the right one gains nothing.
    const right = await admin(ADMIN_TOKEN, client);
    expect(right.status).toBe(429);
    expect(right.headers.get("retry-after")).toBe("60");
    expect(await right.json()).toMatchObject({ type: `${PROBLEMS}auth-failures-limited` });
    // The same client is blocked for the dashboard's sign-in too: one limit for every secret.
    expect((await signIn(ADMIN_TOKEN, client)).status).toBe(429);
    // Another client is unaffected: its wrong token is 401, its right one 200.
    const other = newClient();
    expect((await admin("guess-other", other)).status).toBe(401);
    expect((await admin(ADMIN_TOKEN, other)).status).toBe(200);
  });

  it("are read as the tenant API reads a key: any case of the scheme, a tab after it", async () => {
    const tenant = await newTenant();
    for (const scheme of ["bearer ", "BEARER   ", "Bearer\t"]) {
      const headers = (token: string) => ({ authorization: `${scheme}${token}`, "cf-connecting-ip": newClient() });
      expect((await call("/admin/tenants", { headers: headers(ADMIN_TOKEN) })).status).toBe(200);
      expect((await call("/v1/views/inventory", { headers: headers(tenant.apiKey) })).status).toBe(200);
    }
  });

  it("share the dashboard's limit: a client blocked for failed sign-ins is refused on /admin/* too", async () => {
    const client = newClient();
    let limited = false;
    for (let i = 0; i < 61 && !limited; i++) limited = (await signIn(unknownKey(), client)).status === 429;
    expect(limited).toBe(true);
    const res = await admin(ADMIN_TOKEN, client);
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ type: `${PROBLEMS}auth-failures-limited` });
    expect((await admin(ADMIN_TOKEN, newClient())).status).toBe(200);
  });
});

describe("the refusal of a blocked client", () => {
  it("names the one limit that blocked it, not the secret it sent, on /v1 and on /admin alike", async () => {
    const client = newClient();
    let limited: Response | undefined;
    for (let i = 0; i < 61 && !limited; i++) {
      const res = await get(unknownKey(), client);
      if (res.status === 429) limited = res;
    }
    const onAdmin = await call("/admin/tenants", {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "cf-connecting-ip": client },
    });
    expect(onAdmin.status).toBe(429);
    // Blocked by wrong API keys, not by a wrong admin token: its token was right.
    for (const answer of [await limited?.json(), await onAdmin.json()])
      expect(answer).toMatchObject({ type: `${PROBLEMS}auth-failures-limited`, detail: AUTH_FAILURES_LIMITED_DETAIL });
  });
});

describe("the isolate's expiring cache", () => {
  it("forgets an entry once its TTL has passed", () => {
    const cache = new ExpiringCache<string, number>(10, 1_000);
    cache.set("k", 1, 0);
    expect(cache.get("k", 999)).toBe(1);
    expect(cache.get("k", 1_000)).toBeUndefined();
  });

  it("holds at most its capacity, evicting the least recently used", () => {
    const cache = new ExpiringCache<string, number>(2, 1_000);
    cache.set("a", 1, 0);
    cache.set("b", 2, 0);
    cache.get("a", 1);
    cache.set("c", 3, 2);
    expect(cache.size).toBe(2);
    expect(cache.get("b", 3)).toBeUndefined();
    expect(cache.get("a", 3)).toBe(1);
  });
});
