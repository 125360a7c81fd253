// Shedding is cheap and decided before the expensive work: a tenant's requests and an entity's
// commands beyond their in-flight caps in the isolate are answered 429 `overloaded` with
// Retry-After before anything reaches the entity's object, and a command that waited in its
// entity's queue past ENTITY_MAX_QUEUE_DELAY_MS is answered undecided. Caps in vitest.config.ts:
// 160 requests per tenant, 110 commands per entity.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CommandEnvelope, EntityRpc } from "../src/core/entity-protocol.js";
import { entityObjectName } from "../src/core/identifiers.js";
import { InFlight, queueDelayExceeded } from "../src/core/in-flight.js";
import { newTenant, tenantClient } from "./support/api.js";

const OVERLOADED = "https://factline.dev/problems/overloaded";

async function statusesOf(responses: Response[]): Promise<{ ok: number; shed: number; other: number }> {
  let ok = 0;
  let shed = 0;
  let other = 0;
  for (const res of responses) {
    if (res.status === 200) ok++;
    else if (res.status === 429 && res.headers.get("retry-after") === "1" && ((await res.json()) as { type: string }).type === OVERLOADED) shed++;
    else other++;
  }
  return { ok, shed, other };
}

describe("shedding before the entity's object", () => {
  it("answers commands beyond an entity's in-flight cap with 429 overloaded and records only those accepted", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const answers = await Promise.all(Array.from({ length: 150 }, () => api.command("inventory", "hot", "restock", { quantity: 1 })));
    const seen = await statusesOf(answers);
    expect(seen.other).toBe(0);
    expect(seen.shed).toBeGreaterThan(0);
    const entity = (await (await api.get("/v1/entities/inventory/hot")).json()) as { version: number };
    expect(entity.version).toBe(seen.ok);
  });

  it("answers a tenant's requests beyond its in-flight cap with 429 overloaded, though no entity is over its own", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    // Two entities, each under its own cap (110), together over the tenant's (160).
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => api.command("inventory", `warm-${i % 2}`, "restock", { quantity: 1 })));
    const seen = await statusesOf(answers);
    expect(seen.other).toBe(0);
    expect(seen.shed).toBeGreaterThan(0);
    expect(seen.ok).toBeGreaterThan(0);
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
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, "inventory", "queued"))) as unknown as EntityRpc;
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
