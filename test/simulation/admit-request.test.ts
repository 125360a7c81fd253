// The shared admission sequence (src/core/security/admit-request.ts), driven through fake ports
// built here: what a request with a given key is answered, and what it costs (D1 reads, digests,
// gate leases, failures counted) — the rules the Hono adapter and the simulator's isolates share.
import { describe, expect, it } from "vitest";
import { problem } from "../../src/core/http/problem.js";
import { AdmissionIsolate, type Admission, type AdmissionPorts } from "../../src/core/security/admit-request.js";
import { issueApiKey, sha256Hex } from "../../src/core/security/api-key.js";
import { BlockedClients } from "../../src/core/security/auth-failures.js";
import { RateLimitLeases } from "../../src/core/security/rate-limit-leases.js";
import { AdmissionGenerations, type KeyStanding } from "../../src/core/security/tenant-admission.js";
import type { RateLimit } from "../../src/core/security/tenant-policy.js";
import { InFlight } from "../../src/core/resilience/in-flight.js";
import { LimitBuckets } from "../../src/core/resilience/token-bucket.js";
import { sha256HexSync } from "../../src/simulation/sha256.js";

const T0 = 1_767_225_600_000;
const MAX_STALE_MS = 1_000;

/** A directory of keys, a limiter and a gate, observable: what each request cost. */
function fakeWorld(options: { failuresAllowed?: number; maxInFlight?: number } = {}) {
  const rows = new Map<string, KeyStanding>();
  const failures = new Map<string, number>();
  const gate = new LimitBuckets();
  const world = {
    now: T0,
    reads: 0,
    digests: 0,
    leases: 0,
    touched: [] as string[],
    d1Down: false,
    background: [] as Promise<unknown>[],
    rows,
    failures,
  };
  const ports: AdmissionPorts = {
    now: () => world.now,
    readStanding: async (keyId) => {
      world.reads++;
      if (world.d1Down) throw new Error("D1 unreachable");
      return rows.get(keyId);
    },
    digest: (text) => {
      world.digests++;
      return sha256Hex(text);
    },
    timingSafeEqual: (a, b) => a.every((byte, i) => byte === b[i]),
    failures: {
      limit: async ({ key }) => {
        const n = (failures.get(key) ?? 0) + 1;
        failures.set(key, n);
        return { success: n <= (options.failuresAllowed ?? 30) };
      },
    },
    lease: async (_tenant, limit, want) => {
      world.leases++;
      return gate.lease(limit, want, world.now);
    },
    touch: async (keyId, at) => {
      world.touched.push(keyId);
      const row = rows.get(keyId);
      if (row) rows.set(keyId, { ...row, lastUsedAt: at });
    },
    background: (work) => void world.background.push(work),
    maxStaleMs: MAX_STALE_MS,
    maxInFlight: options.maxInFlight ?? 256,
  };
  return { world, ports };
}

/** A fresh isolate with its own state (generations, blocked clients, in-flight counts). */
function newIsolate(): AdmissionIsolate {
  return new AdmissionIsolate({
    inFlight: new InFlight(),
    generations: new AdmissionGenerations(),
    blocked: new BlockedClients(),
    leases: new RateLimitLeases(),
  });
}

/** Issues a key of `tenant` into the fake directory. */
async function issue(
  rows: Map<string, KeyStanding>,
  tenant: string,
  standing: Partial<KeyStanding> = {},
): Promise<{ apiKey: string; keyId: string }> {
  const key = await issueApiKey();
  rows.set(key.keyId, {
    tenant,
    hash: key.hash,
    revoked: false,
    lastUsedAt: null,
    tenantKnown: true,
    policyVersion: 1,
    status: "active",
    rateLimit: null,
    corsOrigins: ["https://app.example.com"],
    ...standing,
  });
  return { apiKey: key.apiKey, keyId: key.keyId };
}

const bearer = (apiKey: string, client = "ip:198.51.100.1") => ({ authorization: `Bearer ${apiKey}`, client });
const unknownKey = (n: number) => `fl_${n.toString(16).padStart(16, "f")}_${"x".repeat(32)}`;
const typeOf = (a: Admission) => (a.ok ? "admitted" : a.type);

describe("the admission sequence", () => {
  it("refuses a request without a well-formed bearer key with 401, looking nothing up and counting no failure", async () => {
    const { world, ports } = fakeWorld();
    const isolate = newIsolate();
    for (const authorization of [undefined, "Basic dXNlcjpwYXNz", "Bearer fl_short", "Bearer a b"]) {
      const answer = await isolate.admit({ authorization, client: "ip:1" }, ports);
      expect(answer).toMatchObject({ ok: false, type: "unauthorized", status: 401 });
    }
    expect(world.reads).toBe(0);
    expect(world.failures.size).toBe(0);
  });

  it("admits a known key as its tenant, with the tenant's CORS origins", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const answer = await newIsolate().admit(bearer(key.apiKey), ports);
    expect(answer).toMatchObject({
      ok: true,
      tenant: "acme",
      keyId: key.keyId,
      corsOrigins: ["https://app.example.com"],
    });
  });

  it("refuses a known key id with another secret with 401 and counts the failure against the client", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    expect((await isolate.admit(bearer(key.apiKey), ports)).ok).toBe(true);
    const forged = `${key.apiKey.slice(0, -1)}${key.apiKey.endsWith("A") ? "B" : "A"}`;
    expect(typeOf(await isolate.admit(bearer(forged, "ip:forger"), ports))).toBe("unauthorized");
    expect(world.failures.get("ip:forger")).toBe(1);
  });

  it("digests a key once per isolate, then compares its presentations with the remembered key", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    for (let i = 0; i < 5; i++) expect((await isolate.admit(bearer(key.apiKey), ports)).ok).toBe(true);
    expect(world.digests).toBe(1);
  });

  it("looks an unknown key id up in D1 once, then answers it from the negative cache", async () => {
    const { world, ports } = fakeWorld();
    const isolate = newIsolate();
    for (let i = 0; i < 4; i++) expect(typeOf(await isolate.admit(bearer(unknownKey(1)), ports))).toBe("unauthorized");
    expect(world.reads).toBe(1);
  });

  it("answers a client the failure limiter refused with 429 and Retry-After 60", async () => {
    const { ports } = fakeWorld({ failuresAllowed: 2 });
    const isolate = newIsolate();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await isolate.admit(bearer(unknownKey(i), "ip:flood"), ports));
    expect(answers.map(typeOf)).toEqual(["unauthorized", "unauthorized", "auth-failures-limited"]);
    expect(answers[2]).toMatchObject({ status: 429, retryAfter: 60 });
  });

  it("makes no D1 read for a blocked client's new keys, but still admits its keys this isolate holds", async () => {
    const { world, ports } = fakeWorld({ failuresAllowed: 1 });
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    expect((await isolate.admit(bearer(key.apiKey, "ip:flood"), ports)).ok).toBe(true);
    await isolate.admit(bearer(unknownKey(1), "ip:flood"), ports);
    await isolate.admit(bearer(unknownKey(2), "ip:flood"), ports);
    const reads = world.reads;
    expect(typeOf(await isolate.admit(bearer(unknownKey(3), "ip:flood"), ports))).toBe("auth-failures-limited");
    expect(world.reads).toBe(reads);
    expect((await isolate.admit(bearer(key.apiKey, "ip:flood"), ports)).ok).toBe(true);
  });

  it("refuses a revoked key with 401 and a suspended tenant with 403", async () => {
    const { world, ports } = fakeWorld();
    const revoked = await issue(world.rows, "acme", { revoked: true });
    const suspended = await issue(world.rows, "initech", { status: "suspended" });
    const isolate = newIsolate();
    expect(typeOf(await isolate.admit(bearer(revoked.apiKey), ports))).toBe("unauthorized");
    expect(await isolate.admit(bearer(suspended.apiKey), ports)).toMatchObject({
      type: "tenant-suspended",
      status: 403,
    });
  });

  it("counts a revoked key sent with its own secret as no failure, but the same key id with another secret as one", async () => {
    const { world, ports } = fakeWorld({ failuresAllowed: 1 });
    const revoked = await issue(world.rows, "acme", { revoked: true });
    const isolate = newIsolate();
    for (let i = 0; i < 5; i++)
      expect(typeOf(await isolate.admit(bearer(revoked.apiKey, "ip:rotating"), ports))).toBe("unauthorized");
    expect(world.failures.get("ip:rotating")).toBeUndefined();
    const forged = `${revoked.apiKey.slice(0, -1)}${revoked.apiKey.endsWith("A") ? "B" : "A"}`;
    expect(typeOf(await isolate.admit(bearer(forged, "ip:forger"), ports))).toBe("unauthorized");
    expect(world.failures.get("ip:forger")).toBe(1);
  });

  it("refuses a key whose tenant row is gone with 401", async () => {
    const { world, ports } = fakeWorld();
    const orphan = await issue(world.rows, "gone", { tenantKnown: false });
    expect(typeOf(await newIsolate().admit(bearer(orphan.apiKey), ports))).toBe("unauthorized");
  });

  it("answers 503 with Retry-After 1 when D1 cannot be read and no copy is within the bound", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    world.d1Down = true;
    expect(await newIsolate().admit(bearer(key.apiKey), ports)).toMatchObject({
      type: "dependency-unavailable",
      status: 503,
      retryAfter: 1,
    });
  });
});

describe("a refusal", () => {
  it("states the status the problem catalogue gives its type", async () => {
    const { world, ports } = fakeWorld({ failuresAllowed: 0, maxInFlight: 1 });
    const suspended = await issue(world.rows, "initech", { status: "suspended" });
    const limited = await issue(world.rows, "acme", { rateLimit: { requestsPerSecond: 0.01, burst: 1 } });
    const busy = await issue(world.rows, "globex");
    const isolate = newIsolate();
    const refusals = [
      await isolate.admit({ authorization: undefined, client: "ip:1" }, ports),
      await isolate.admit(bearer(unknownKey(1), "ip:2"), ports),
      await isolate.admit(bearer(suspended.apiKey), ports),
      await isolate.admit(bearer(limited.apiKey), ports), // admitted: spends the one token
      await isolate.admit(bearer(limited.apiKey), ports),
      await isolate.admit(bearer(busy.apiKey), ports), // admitted: holds globex's one slot
      await isolate.admit(bearer(busy.apiKey), ports),
    ];
    world.d1Down = true;
    refusals.push(await isolate.admit(bearer(unknownKey(2), "ip:3"), ports));
    const types = [];
    for (const r of refusals) {
      if (r.ok) continue;
      types.push(r.type);
      expect(r.status).toBe(problem(r.type, r.detail).status);
    }
    expect(types).toEqual([
      "unauthorized",
      "auth-failures-limited",
      "tenant-suspended",
      "rate-limited",
      "overloaded",
      "dependency-unavailable",
    ]);
  });
});

describe("an isolate's copy of a key's standing", () => {
  it("serves without a read for half the bound", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    await isolate.admit(bearer(key.apiKey), ports);
    world.now += MAX_STALE_MS / 2 - 1;
    await isolate.admit(bearer(key.apiKey), ports);
    expect(world.reads).toBe(1);
    expect(world.background).toHaveLength(1); // the first use's last_used_at, no refresh
  });

  it("still serves past half the bound while one refresh runs behind", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    await isolate.admit(bearer(key.apiKey), ports);
    world.rows.set(key.keyId, { ...(world.rows.get(key.keyId) as KeyStanding), status: "suspended" });
    world.now += MAX_STALE_MS / 2;
    expect((await isolate.admit(bearer(key.apiKey), ports)).ok).toBe(true);
    await Promise.all(world.background);
    expect(world.reads).toBe(2);
    expect(typeOf(await isolate.admit(bearer(key.apiKey), ports))).toBe("tenant-suspended");
  });

  it("is read afresh once the bound has passed, so a change in D1 bites", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    await isolate.admit(bearer(key.apiKey), ports);
    world.rows.set(key.keyId, { ...(world.rows.get(key.keyId) as KeyStanding), revoked: true });
    world.now += MAX_STALE_MS;
    expect(typeOf(await isolate.admit(bearer(key.apiKey), ports))).toBe("unauthorized");
  });

  it("is dropped at once when this isolate made a change to its tenant", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    await isolate.admit(bearer(key.apiKey), ports);
    world.rows.set(key.keyId, { ...(world.rows.get(key.keyId) as KeyStanding), status: "suspended" });
    isolate.generations.forget("acme", world.now);
    expect(typeOf(await isolate.admit(bearer(key.apiKey), ports))).toBe("tenant-suspended");
  });

  it("records the key's last use at most once a minute", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    for (let i = 0; i < 3; i++) await isolate.admit(bearer(key.apiKey), ports);
    await Promise.all(world.background);
    world.now += 30_000; // a fresh read, 30 s after the recorded use
    await isolate.admit(bearer(key.apiKey), ports);
    world.now += 31_000;
    await isolate.admit(bearer(key.apiKey), ports);
    await Promise.all(world.background);
    expect(world.touched).toEqual([key.keyId, key.keyId]);
  });
});

describe("a tenant's rate limit", () => {
  const limit: RateLimit = { requestsPerSecond: 100, burst: 50 };

  it("is leased from the gate a batch at a time: one lease call for ten requests at 100/s", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme", { rateLimit: limit });
    const isolate = newIsolate();
    for (let i = 0; i < 10; i++) expect((await isolate.admit(bearer(key.apiKey), ports)).ok).toBe(true);
    expect(world.leases).toBe(1);
  });

  it("spends a lease one token per request: the eleventh request at 100/s leases again", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme", { rateLimit: limit });
    const isolate = newIsolate();
    for (let i = 0; i < 11; i++) await isolate.admit(bearer(key.apiKey), ports);
    expect(world.leases).toBe(2);
  });

  it("admits no more than the burst at once across isolates, then answers 429 with the gate's Retry-After", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme", { rateLimit: { requestsPerSecond: 0.5, burst: 5 } });
    const isolates = [newIsolate(), newIsolate(), newIsolate()];
    const answers = [];
    for (let i = 0; i < 12; i++)
      answers.push(await (isolates[i % 3] as AdmissionIsolate).admit(bearer(key.apiKey), ports));
    expect(answers.filter((a) => a.ok)).toHaveLength(5);
    expect(answers.at(-1)).toMatchObject({ type: "rate-limited", status: 429, retryAfter: 2 });
  });

  it("lets a lease lapse after LEASE_TTL_MS: its unspent tokens are not spent later", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme", { rateLimit: limit });
    const isolate = newIsolate();
    await isolate.admit(bearer(key.apiKey), ports);
    world.now += 999;
    await isolate.admit(bearer(key.apiKey), ports);
    expect(world.leases).toBe(1);
    world.now += 1;
    await isolate.admit(bearer(key.apiKey), ports);
    expect(world.leases).toBe(2);
  });
});

describe("requests of a tenant in flight in one isolate", () => {
  it("are shed over the ceiling with 429 overloaded, naming the tenant, until one is released", async () => {
    const { world, ports } = fakeWorld({ maxInFlight: 2 });
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    const first = await isolate.admit(bearer(key.apiKey), ports);
    await isolate.admit(bearer(key.apiKey), ports);
    const shed = await isolate.admit(bearer(key.apiKey), ports);
    expect(shed).toMatchObject({ type: "overloaded", status: 429, retryAfter: 1, principal: { tenant: "acme" } });
    if (first.ok) first.release();
    expect((await isolate.admit(bearer(key.apiKey), ports)).ok).toBe(true);
  });

  it("counts a released request out once, however often it is released", async () => {
    const { world, ports } = fakeWorld();
    const key = await issue(world.rows, "acme");
    const isolate = newIsolate();
    const a = await isolate.admit(bearer(key.apiKey), ports);
    await isolate.admit(bearer(key.apiKey), ports);
    if (a.ok) {
      a.release();
      a.release();
    }
    expect(isolate.inFlight.count("acme")).toBe(1);
  });
});

describe("the simulator's digest port", () => {
  it("is the SHA-256 WebCrypto computes", async () => {
    for (const text of ["", "abc", `fl_${"0".repeat(16)}_${"s".repeat(32)}`, "x".repeat(56), "é€😀".repeat(30)])
      expect(sha256HexSync(text)).toBe(await sha256Hex(text));
  });
});
