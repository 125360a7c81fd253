// Shedding is cheap and decided before the expensive work: a tenant's requests and an entity's
// commands beyond their in-flight caps in the isolate are answered 429 `overloaded` with
// Retry-After before anything reaches the entity's object, and a command that waited in its
// entity's queue past ENTITY_MAX_QUEUE_DELAY_MS is answered undecided. Caps in vitest.config.ts:
// 300 requests per tenant, 250 commands per entity (above any burst the other suites send).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CommandEnvelope, EntityRpc } from "../src/core/protocol/entity-protocol.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import {
  AdaptiveLimit,
  InFlight,
  queueDelayExceeded,
  type AdaptiveLimitPolicy,
} from "../src/core/resilience/in-flight.js";
import { commandsInFlight, isolateCommands } from "../edge/entity/entity-routes.js";
import { tenantsInFlight } from "../edge/tenancy/tenant-auth.js";
import { call, newTenant, tenantClient } from "./support/api.js";

const OVERLOADED = "https://factline.dev/problems/overloaded";
const TENANT_CAP = Number(env.TENANT_MAX_IN_FLIGHT);
const ENTITY_CAP = Number(env.ENTITY_MAX_IN_FLIGHT);

interface Answer {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly type: string | undefined;
}

/** Status, Retry-After and problem type of an answer. */
async function answer(res: Promise<Response>): Promise<Answer> {
  const r = await res;
  const body = (await r.json()) as { type?: string };
  return { status: r.status, retryAfter: r.headers.get("retry-after"), type: body.type };
}

/**
 * Occupies `n` places of `key` in an in-flight count, as `n` requests still waiting would (the
 * test cannot hold hundreds of real requests open at once), and returns their release.
 */
function occupy(inFlight: InFlight, key: string, n: number): () => void {
  for (let i = 0; i < n; i++) expect(inFlight.tryEnter(key, Number.MAX_SAFE_INTEGER)).toBe(true);
  return () => {
    for (let i = 0; i < n; i++) inFlight.leave(key);
  };
}

describe("shedding before the entity's object", () => {
  it("answers a command beyond its entity's in-flight cap with 429 overloaded, without reaching the object", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const release = occupy(commandsInFlight, entityObjectName(tenant.id, "inventory", "hot"), ENTITY_CAP);
    try {
      const shed = await answer(api.command("inventory", "hot", "restock", { quantity: 1 }));
      expect(shed).toEqual({ status: 429, retryAfter: "1", type: OVERLOADED });
      // Another entity of the tenant is not held back.
      expect((await api.command("inventory", "cold", "restock", { quantity: 1 })).status).toBe(200);
    } finally {
      release();
    }
    expect((await api.get("/v1/entities/inventory/hot")).status).toBe(404);
    expect((await api.command("inventory", "hot", "restock", { quantity: 1 })).status).toBe(200);
  });

  it("answers a tenant's request beyond its in-flight cap with 429 overloaded, reads included, other tenants unaffected", async () => {
    const tenant = await newTenant();
    const other = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const release = occupy(tenantsInFlight, tenant.id, TENANT_CAP);
    try {
      expect(await answer(api.get("/v1/views/inventory"))).toEqual({ status: 429, retryAfter: "1", type: OVERLOADED });
      expect(await answer(api.command("inventory", "any", "restock", { quantity: 1 }))).toMatchObject({
        status: 429,
        type: OVERLOADED,
      });
      expect((await tenantClient(other.apiKey).get("/v1/views/inventory")).status).toBe(200);
    } finally {
      release();
    }
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
    expect(tenantsInFlight.count(tenant.id)).toBe(0);
  });
});

describe("a long-poll parked at a stream's tail", () => {
  /**
   * Starts `longPoll` at a tail nothing will move, takes every other place of the tenant, and
   * reads the tenant's views until admitted: whether that happened while the long-poll still
   * waited (it holds no place once parked), and how the long-poll ended.
   */
  async function admittedBesideParked(
    tenant: { id: string; apiKey: string },
    longPoll: () => Promise<Response>,
  ): Promise<{ admittedWhileParked: boolean; longPollStatus: number }> {
    const api = tenantClient(tenant.apiKey);
    let ended = false;
    const polled = longPoll().then(async (r) => {
      ended = true;
      await r.body?.cancel();
      return r.status;
    });
    await new Promise((r) => setTimeout(r, 200));
    const release = occupy(tenantsInFlight, tenant.id, TENANT_CAP - 1);
    let admittedWhileParked = false;
    try {
      // Retried: the long-poll may still be on its way to parking. Without the release it keeps
      // the last place until it times out (STREAM_LONG_POLL_TIMEOUT_MS, 1 s in tests).
      while (!ended) {
        const read = await api.get("/v1/views/inventory");
        await read.body?.cancel();
        if (read.status === 200) {
          admittedWhileParked = !ended;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      release();
    }
    return { admittedWhileParked, longPollStatus: await polled };
  }

  const parkedAndTimedOut = { admittedWhileParked: true, longPollStatus: 204 };

  it("of an entity's event log holds none of its tenant's places", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    expect((await api.command("inventory", "followed", "restock", { quantity: 1 })).status).toBe(200);
    const path = "/v1/entities/inventory/followed/stream?offset=0000000000000000_0000000000000001&live=long-poll";
    expect(await admittedBesideParked(tenant, () => api.get(path))).toEqual(parkedAndTimedOut);
  });

  it("of a view's change feed holds none of its tenant's places", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const path = "/v1/views/inventory/changes/stream?offset=now&live=long-poll";
    expect(await admittedBesideParked(tenant, () => api.get(path))).toEqual(parkedAndTimedOut);
  });

  it("of a tenant stream holds none of its tenant's places", async () => {
    const tenant = await newTenant();
    const auth = { authorization: `Bearer ${tenant.apiKey}` };
    const created = await call("/v1/stream/followed", {
      method: "PUT",
      headers: { ...auth, "content-type": "text/plain" },
      body: "first",
    });
    expect(created.status).toBe(201);
    const longPoll = () => call("/v1/stream/followed?offset=now&live=long-poll", { headers: auth });
    expect(await admittedBesideParked(tenant, longPoll)).toEqual(parkedAndTimedOut);
  });
});

describe("shedding at the isolate's command limit", () => {
  it("answers a command over the limit with 429 overloaded before its body is read, then admits again", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    let held = 0;
    while (isolateCommands.tryEnter(Date.now())) held++;
    try {
      // A body that would be refused with 400 is not even read: the shed answer comes first.
      const res = call("/v1/entities/inventory/door/commands/restock", {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.apiKey}`, "content-type": "application/json" },
        body: "{not json",
      });
      expect(await answer(res)).toEqual({ status: 429, retryAfter: "1", type: OVERLOADED });
    } finally {
      for (let i = 0; i < held; i++) isolateCommands.leave(undefined, Date.now());
    }
    expect((await api.command("inventory", "door", "restock", { quantity: 1 })).status).toBe(200);
  });
});

describe("the limit that follows queueing delay", () => {
  const policy: AdaptiveLimitPolicy = {
    min: 2,
    max: 20,
    targetQueueMs: 10,
    intervalMs: 100,
    minSamples: 3,
    baseWindowMs: 10_000,
    idleResetMs: 1_000,
  };

  /** Reports `rtts` as round trips spread over one interval starting at `t`; returns the interval's end. */
  function interval(limit: AdaptiveLimit, t: number, rtts: readonly number[]): number {
    rtts.forEach((rtt, i) => {
      expect(limit.tryEnter(t)).toBe(true);
      limit.leave(rtt, t + (i * policy.intervalMs) / rtts.length);
    });
    expect(limit.tryEnter(t)).toBe(true);
    limit.leave(rtts[0] ?? 0, t + policy.intervalMs);
    return t + policy.intervalMs + 1;
  }

  it("lets in up to the limit and one more once one leaves", () => {
    const limit = new AdaptiveLimit({ ...policy, max: 2 });
    expect([limit.tryEnter(0), limit.tryEnter(0), limit.tryEnter(0)]).toEqual([true, true, false]);
    limit.leave(undefined, 0);
    expect(limit.tryEnter(0)).toBe(true);
  });

  it("shrinks when even the shortest round trip of an interval waited past the target", () => {
    const limit = new AdaptiveLimit(policy);
    let t = interval(limit, 0, [5, 5, 5, 5]);
    expect(limit.limit).toBe(20);
    t = interval(limit, t, [40, 45, 50, 60]);
    expect(limit.limit).toBe(14);
    for (let i = 0; i < 10; i++) t = interval(limit, t, [40, 45, 50, 60]);
    expect(limit.limit).toBe(policy.min);
  });

  it("does not shrink for a burst: slow round trips next to a fast one are no standing queue", () => {
    const limit = new AdaptiveLimit(policy);
    let t = interval(limit, 0, [5, 5, 5]);
    t = interval(limit, t, [6, 80, 90, 120]);
    expect(limit.limit).toBe(20);
  });

  it("grows back once the queue is gone, never above its maximum", () => {
    const limit = new AdaptiveLimit(policy);
    let t = interval(limit, 0, [5, 5, 5]);
    for (let i = 0; i < 10; i++) t = interval(limit, t, [50, 50, 50]);
    expect(limit.limit).toBe(policy.min);
    t = interval(limit, t, [5, 6, 7]);
    expect(limit.limit).toBe(3);
    for (let i = 0; i < 40; i++) t = interval(limit, t, [5, 6, 7]);
    expect(limit.limit).toBe(policy.max);
  });

  it("starts again at its maximum once the host has been idle, as no queue can be left", () => {
    const limit = new AdaptiveLimit(policy);
    let t = interval(limit, 0, [5, 5, 5]);
    for (let i = 0; i < 10; i++) t = interval(limit, t, [50, 50, 50]);
    expect(limit.limit).toBe(policy.min);
    expect(limit.tryEnter(t + policy.idleResetMs - 10)).toBe(true);
    expect(limit.limit).toBe(policy.min);
    limit.leave(undefined, t);
    expect(limit.tryEnter(t + policy.idleResetMs)).toBe(true);
    expect(limit.limit).toBe(policy.max);
  });

  it("judges no interval on too few round trips", () => {
    const limit = new AdaptiveLimit(policy);
    let t = interval(limit, 0, [5, 5, 5]);
    t = interval(limit, t, [80]);
    expect(limit.limit).toBe(20);
  });
});

describe("shedding by queueing delay", () => {
  const envelope = (tenant: string, sentAt: number): CommandEnvelope => ({
    tenant,
    entityType: "inventory",
    entityId: "queued",
    command: "restock",
    data: { quantity: 1 },
    idempotencyKey: null,
    fingerprint: null,
    expectedVersion: null,
    causeHlc: null,
    correlationId: crypto.randomUUID(),
    causationId: null,
    traceparent: null,
    sentAt,
  });

  it("answers a command that waited past the target undecided, with 429 and Retry-After", async () => {
    const tenant = `queued-${crypto.randomUUID()}`;
    const stub = env.ENTITY.get(
      env.ENTITY.idFromName(entityObjectName(tenant, "inventory", "queued")),
    ) as unknown as EntityRpc;
    const late = await stub.command(envelope(tenant, Date.now() - Number(env.ENTITY_MAX_QUEUE_DELAY_MS) - 1_000));
    expect(late).toMatchObject({ ok: false, problem: { type: OVERLOADED, status: 429, retryAfter: 1 } });
    expect(await stub.read({ tenant, entityType: "inventory", entityId: "queued" }, null)).toBeNull();
    const prompt = await stub.command(envelope(tenant, Date.now()));
    expect(prompt).toMatchObject({ ok: true, result: { version: 1 } });
  });

  it("never sheds a command with no send time (internal callers such as sagas)", () => {
    expect(queueDelayExceeded(undefined, 1_000_000, 10)).toBe(false);
    expect(queueDelayExceeded(0, 1_000_000, 10)).toBe(true);
    expect(queueDelayExceeded(999_995, 1_000_000, 10)).toBe(false);
  });
});

describe("the in-flight count", () => {
  it("lets in up to its limit per key, and one more once one leaves", () => {
    const inFlight = new InFlight();
    expect(inFlight.tryEnter("a", 2)).toBe(true);
    expect(inFlight.tryEnter("a", 2)).toBe(true);
    expect(inFlight.tryEnter("a", 2)).toBe(false);
    expect(inFlight.tryEnter("b", 2)).toBe(true);
    inFlight.leave("a");
    expect(inFlight.tryEnter("a", 2)).toBe(true);
    inFlight.leave("a");
    inFlight.leave("a");
    inFlight.leave("b");
    expect(inFlight.count("a")).toBe(0);
  });
});
