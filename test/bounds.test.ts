// Bounded inputs: every value a command records has a grammar and a length bound, a fact is
// measured in the bytes the queue counts, a fact the queue could never carry is refused before it
// is recorded, and one the queue refuses anyway is parked for an operator instead of wedging its
// entity.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import {
  exceedsQueueBytes,
  queueMessageBytes,
  QUEUE_LIMITS,
  toCloudEvent,
  utf8Length,
  type FactsQueueMessage,
} from "../src/core/protocol/cloud-event.js";
import { encodeConsistencyToken } from "../src/core/protocol/consistency-token.js";
import type { CommandEnvelope, CommandOutcome, EntityRpc } from "../src/core/protocol/entity-protocol.js";
import { armTransform } from "../src/core/resilience/fault-injection.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { call, eventually, newTenant, tenantClient } from "./support/api.js";
import { admin } from "./support/admin.js";
import { deliverRaw, failConsumerFor, handOffsSettled, holdRelay, logOf } from "./support/facts.js";

const disarm: (() => void)[] = [];
afterEach(() => {
  while (disarm.length) disarm.pop()?.();
});

const PROBLEMS = "https://factline.dev/problems/";

async function setup() {
  const tenant = await newTenant();
  return { tenant, api: tenantClient(tenant.apiKey) };
}

async function expectMalformed(res: Response, header: string): Promise<void> {
  expect(res.status).toBe(400);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = (await res.json()) as { type: string; errors?: { path: string }[] };
  expect(body.type).toBe(`${PROBLEMS}malformed-request`);
  expect(body.errors?.[0]?.path).toBe(header);
}

async function viewRow(apiKey: string, sku: string) {
  const res = await tenantClient(apiKey).get(`/v1/views/inventory/${sku}`);
  return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
}

/** A dashboard page as the tenant's operator sees it (signed in with the tenant's key). */
async function dashboardPage(apiKey: string, path: string): Promise<string> {
  const signIn = await call("/dashboard/sign-in", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://factline.test" },
    body: new URLSearchParams({ secret: apiKey }).toString(),
    redirect: "manual",
  });
  const cookie = /factline_session=[^;]+/.exec(signIn.headers.get("set-cookie") ?? "")?.[0] ?? "";
  return (await call(path, { headers: { cookie, accept: "text/html" }, redirect: "manual" })).text();
}

function entityStub(tenant: string, type: string, id: string): EntityRpc {
  return env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, type, id))) as unknown as EntityRpc;
}

describe("sizes as the queue counts them", () => {
  it("counts UTF-8 bytes, not UTF-16 code units", () => {
    expect(utf8Length("a\u00e9\u20ac\u{1f600}")).toBe(1 + 2 + 3 + 4);
    expect(queueMessageBytes({ s: "\u20ac".repeat(10) })).toBe(
      JSON.stringify({ s: "" }).length + 30 + QUEUE_LIMITS.perMessageOverheadBytes,
    );
  });

  it("decides whether a message passes a limit exactly at the boundary", () => {
    const body = { s: "\u20ac".repeat(1_000) };
    const bytes = queueMessageBytes(body);
    expect(exceedsQueueBytes(body, bytes)).toEqual({ exceeds: false, bytes: expect.any(Number) });
    expect(exceedsQueueBytes(body, bytes - 1)).toEqual({ exceeds: true, bytes });
  });
});

describe("recorded headers", () => {
  it("refuses a restock with two 66,000-character metadata headers (400) and records nothing", async () => {
    const { api } = await setup();
    const res = await api.command(
      "inventory",
      "f4",
      "restock",
      { quantity: 1 },
      {
        "factline-correlation-id": "c".repeat(66_000),
        "factline-causation-id": "d".repeat(66_000),
      },
    );
    await expectMalformed(res, "Factline-Correlation-Id");
    expect((await api.get("/v1/entities/inventory/f4")).status).toBe(404);
  });

  const bounds: [header: string, label: string, max: number][] = [
    ["factline-correlation-id", "Factline-Correlation-Id", 256],
    ["factline-causation-id", "Factline-Causation-Id", 256],
    ["idempotency-key", "Idempotency-Key", 255],
    ["x-request-id", "x-request-id", 128],
  ];
  for (const [header, label, max] of bounds) {
    it(`accepts ${label} at ${max} characters and refuses one more with 400`, async () => {
      const { api } = await setup();
      expect(
        (await api.command("inventory", "edge", "restock", { quantity: 1 }, { [header]: "k".repeat(max) })).status,
      ).toBe(200);
      await expectMalformed(
        await api.command("inventory", "edge", "restock", { quantity: 1 }, { [header]: "k".repeat(max + 1) }),
        label,
      );
    });
  }

  it("refuses a metadata header with a space or a non-ASCII character", async () => {
    const { api } = await setup();
    await expectMalformed(
      await api.command("inventory", "sp", "restock", { quantity: 1 }, { "factline-causation-id": "a b" }),
      "Factline-Causation-Id",
    );
    await expectMalformed(
      await api.command("inventory", "sp", "restock", { quantity: 1 }, { "factline-correlation-id": "caf\u00e9" }),
      "Factline-Correlation-Id",
    );
  });

  it("refuses an Idempotency-Key sent twice, which would mean two keys", async () => {
    const { tenant } = await setup();
    const headers = new Headers([
      ["authorization", `Bearer ${tenant.apiKey}`],
      ["content-type", "application/json"],
      ["idempotency-key", "k-1"],
      ["idempotency-key", "k-2"],
    ]);
    const res = await call("/v1/entities/inventory/twice/commands/restock", {
      method: "POST",
      headers,
      body: '{"quantity":1}',
    });
    await expectMalformed(res, "Idempotency-Key");
  });

  it("refuses an oversized x-request-id on routes that record nothing too", async () => {
    await expectMalformed(await call("/healthz", { headers: { "x-request-id": "r".repeat(66_000) } }), "x-request-id");
    const fine = await call("/healthz", { headers: { "x-request-id": "req-1" } });
    expect(fine.headers.get("x-request-id")).toBe("req-1");
  });

  it("records its own traceparent, never an oversized one a client sent", async () => {
    const { api } = await setup();
    const res = await api.command(
      "inventory",
      "tp",
      "restock",
      { quantity: 1 },
      { traceparent: `00-${"a".repeat(66_000)}` },
    );
    expect(res.status).toBe(200);
    const log = (await (await api.get("/v1/entities/inventory/tp/events")).json()) as {
      events: { meta: { traceparent: string } }[];
    };
    expect(log.events[0]?.meta.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
  });
});

describe("facts the queue could not carry", () => {
  function envelope(tenant: string, id: string, data: unknown, extra: Partial<CommandEnvelope> = {}): CommandEnvelope {
    return {
      tenant,
      entityType: "inventory",
      entityId: id,
      command: "restock",
      data,
      idempotencyKey: null,
      fingerprint: null,
      expectedVersion: null,
      causeHlc: null,
      correlationId: "c-1",
      causationId: null,
      traceparent: null,
      ...extra,
    };
  }

  it("refuses at decide time (413 fact-too-large) a command whose fact would pass the queue's message limit, and records nothing", async () => {
    // Only a caller the 64 KiB body limit does not bound (a saga, over RPC) can ask for such a fact.
    const { tenant, api } = await setup();
    const stub = entityStub(tenant.id, "inventory", "huge");
    const outcome: CommandOutcome = await stub.command(
      envelope(tenant.id, "huge", { quantity: 1, source: "\u20ac".repeat(45_000) }),
    );
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.problem).toMatchObject({ type: `${PROBLEMS}fact-too-large`, status: 413 });
    expect((await api.get("/v1/entities/inventory/huge")).status).toBe(404);
  });

  it("refuses over RPC the same unbounded metadata the tenant API refuses", async () => {
    const { tenant } = await setup();
    const outcome = await entityStub(tenant.id, "inventory", "rpc").command(
      envelope(tenant.id, "rpc", { quantity: 1, source: "s" }, { correlationId: "c".repeat(66_000) }),
    );
    expect(outcome).toMatchObject({ ok: false, problem: { status: 400, type: `${PROBLEMS}malformed-request` } });
  });

  it("never sends a batch over the queue's byte limit, counting UTF-8 bytes", async () => {
    const { tenant } = await setup();
    const release = holdRelay(tenant.id);
    // Facts this large come only over RPC (the tenant API's schemas bound every field). 20,000
    // three-byte characters: 60,000 bytes each, but only 20,000 UTF-16 code units.
    const stub = entityStub(tenant.id, "inventory", "wide");
    for (let i = 0; i < 6; i++) {
      expect(
        await stub.command(envelope(tenant.id, "wide", { quantity: 1, source: "\u20ac".repeat(20_000) })),
      ).toMatchObject({ ok: true });
    }
    const batches: number[][] = [];
    disarm.push(
      armTransform<FactsQueueMessage>("relay.batch", (batch, ctx) => {
        if (ctx.tenant === tenant.id) batches.push(batch.map((m) => queueMessageBytes(m)));
        return batch;
      }),
    );
    release();
    await eventually(async () => ((await viewRow(tenant.apiKey, "wide"))?.version === 6 ? true : undefined), 20_000);
    expect(batches.length).toBeGreaterThan(1);
    for (const sizes of batches) {
      expect(sizes.length).toBeLessThanOrEqual(QUEUE_LIMITS.batchMessages);
      expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(QUEUE_LIMITS.batchBytes);
    }
  });

  it("parks a fact the queue refuses for its size on its own; later facts reach the view and an operator sees it", async () => {
    const { tenant, api } = await setup();
    const release = holdRelay(tenant.id);
    await api.command("inventory", "poison", "restock", { quantity: 1 });
    await api.command("inventory", "poison", "restock", { quantity: 2 });
    const rejected: number[] = [];
    disarm.push(
      // The queue refuses every batch holding fact 1 (as the fact itself, not its notice).
      armTransform<FactsQueueMessage>("relay.batch", (batch, ctx) => {
        if (ctx.tenant === tenant.id && batch.some((m) => !("kind" in m) && m.seq === 1)) {
          rejected.push(batch.length);
          throw new Error("Queue sendBatch failed: message size of 131072 bytes exceeds limit of 128000");
        }
        return batch;
      }),
    );
    release();
    await api.command("inventory", "poison", "restock", { quantity: 4 });
    const row = await eventually(async () => {
      const r = await viewRow(tenant.apiKey, "poison");
      return r?.version === 3 ? r : undefined;
    }, 20_000);
    expect(row).toMatchObject({ onHand: 7 });
    expect(rejected.at(-1)).toBe(1);

    const listed = (await (await admin("GET", `/parked-facts?tenant=${tenant.id}`)).json()) as {
      items: Record<string, unknown>[];
    };
    expect(listed.items).toEqual([
      expect.objectContaining({
        tenantId: tenant.id,
        entityType: "inventory",
        entityId: "poison",
        seq: 1,
        eventType: "Restocked",
      }),
    ]);
    expect(await dashboardPage(tenant.apiKey, `/dashboard/t/${tenant.id}/dead-letters`)).toMatch(
      /Parked facts[\s\S]*inventory\/poison #1 Restocked/,
    );
    const id = String(listed.items[0]?.id);
    expect((await admin("POST", `/parked-facts/${encodeURIComponent(id)}/acknowledge`)).status).toBe(200);
    const after = (await (await admin("GET", `/parked-facts?tenant=${tenant.id}`)).json()) as { items: unknown[] };
    expect(after.items).toEqual([]);
    expect((await admin("POST", "/parked-facts/no-such-fact/acknowledge")).status).toBe(404);
  });
});

describe("a fact already recorded over the queue's limit", () => {
  it("is parked without being sent, reaches the view through its notice, and is listed for an operator", async () => {
    const { tenant, api } = await setup();
    const release = holdRelay(tenant.id);
    await api.command("inventory", "legacy", "restock", { quantity: 3 });
    await handOffsSettled();
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "legacy")));
    // As a fact recorded before the decide-time bound existed: 130,000 bytes of data.
    await runInDurableObject(stub, (_actor, state) => {
      state.storage.sql.exec(
        "UPDATE events SET data = json_set(data, '$.source', ?) WHERE seq = 1",
        "s".repeat(130_000),
      );
    });
    await evictDurableObject(stub);
    const sent: FactsQueueMessage[] = [];
    disarm.push(
      armTransform<FactsQueueMessage>("relay.batch", (batch, ctx) => {
        if (ctx.tenant === tenant.id) sent.push(...batch);
        return batch;
      }),
    );
    release();
    // The retry's alarm is due within the backoff's first step (250 ms): on a loaded machine it may
    // have fired on its own by now, so it is run here if it is still waiting, not required to be.
    await runDurableObjectAlarm(stub);
    const row = await eventually(async () => {
      const r = await viewRow(tenant.apiKey, "legacy");
      return r?.version === 1 ? r : undefined;
    }, 20_000);
    expect(row).toMatchObject({ onHand: 3 });
    expect(sent).toEqual([expect.objectContaining({ kind: "factline.fact-parked", seq: 1 })]);
    const listed = (await (await admin("GET", `/parked-facts?tenant=${tenant.id}`)).json()) as {
      items: { seq: number; bytes: number }[];
    };
    expect(listed.items).toEqual([expect.objectContaining({ seq: 1, bytes: expect.any(Number) })]);
    expect(listed.items[0]!.bytes).toBeGreaterThan(QUEUE_LIMITS.messageBytes);
  });
});

describe("a dead letter too large for the queue", () => {
  it("is replayed as a parked-fact notice, and the consumer applies the fact from its entity", async () => {
    const { tenant, api } = await setup();
    disarm.push(holdRelay(tenant.id));
    await api.command("inventory", "big-dl", "restock", { quantity: 2 });
    const [fact] = await logOf(tenant.apiKey, "inventory", "big-dl");
    // As a parked fact's stand-in that failed on its last attempt: the dead letter holds the whole fact.
    const huge = { ...toCloudEvent(fact!), data: { quantity: 2, source: "s".repeat(130_000) } };
    const stopFailing = failConsumerFor(tenant.id, "big-dl");
    await deliverRaw([huge], 5);
    stopFailing();
    const letters = (await (await admin("GET", `/dead-letters?tenant=${tenant.id}`)).json()) as {
      items: { id: string }[];
    };
    expect(letters.items).toHaveLength(1);
    expect((await admin("POST", `/dead-letters/${encodeURIComponent(letters.items[0]!.id)}/replay`)).status).toBe(202);
    const row = await eventually(async () => {
      const r = await viewRow(tenant.apiKey, "big-dl");
      return r?.version === 1 ? r : undefined;
    }, 20_000);
    expect(row).toMatchObject({ onHand: 2 });
  });
});

describe("requests that mean two things, or that a later hop would change", () => {
  async function raw(apiKey: string, id: string, body: string): Promise<Response> {
    return call(`/v1/entities/inventory/${id}/commands/restock`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body,
    });
  }

  it("refuses a command body naming a key twice (400) and records nothing", async () => {
    const { tenant, api } = await setup();
    const res = await raw(tenant.apiKey, "dup", '{"quantity":1,"quantity":1000}');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEMS}malformed-request`);
    expect((await api.get("/v1/entities/inventory/dup")).status).toBe(404);
  });

  it("refuses a command body with a __proto__ key", async () => {
    const { tenant } = await setup();
    const res = await raw(tenant.apiKey, "proto", '{"quantity":1,"__proto__":{"quantity":5}}');
    expect(res.status).toBe(400);
    // Refused as JSON that means two things, before any schema sees it.
    expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEMS}malformed-request`);
  });

  it("refuses a string with a lone surrogate instead of recording what the queue would rewrite", async () => {
    const { tenant, api } = await setup();
    expect((await raw(tenant.apiKey, "sur", '{"quantity":1,"source":"a\\ud800"}')).status).toBe(400);
    expect((await api.get("/v1/entities/inventory/sur")).status).toBe(404);
  });

  it("refuses a consistency token naming an id no URL could (400), rather than waiting on it", async () => {
    const { tenant, api } = await setup();
    const forged = encodeConsistencyToken({ tenant: tenant.id, entityType: "inventory", entityId: "..", seq: 1 });
    const res = await api.get("/v1/views/inventory", { "factline-consistency": forged });
    expect(res.status).toBe(400);
    expect((await api.get("/v1/views/inventory", { "factline-consistency": "A".repeat(66_000) })).status).toBe(400);
  });

  it("refuses a query parameter given twice", async () => {
    const { api } = await setup();
    await api.command("inventory", "q", "restock", { quantity: 1 });
    const res = await api.get("/v1/entities/inventory/q/events?limit=1&limit=2");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEMS}malformed-request`);
  });

  it("refuses a query whose percent-encoding is not UTF-8, rather than reading it as its raw text", async () => {
    const { api } = await setup();
    for (const query of ["owner=%FF%FE", "status=%ED%A0%80", "status=%E2%82", "%C0%AF=1", "limit=5&after=%"]) {
      const res = await api.get(`/v1/views/orders?${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json(), query).toMatchObject({
        type: `${PROBLEMS}malformed-request`,
        detail: "the query string is not percent-encoded UTF-8 (RFC 3986 §2.1)",
      });
    }
    // Encoded properly, text is a value like any other, checked by its filter's schema.
    for (const query of ["status=%25FF%25FE", "customerId=c-%C3%A9", "status=pending%20"]) {
      const res = await api.get(`/v1/views/orders?${query}`);
      expect(((await res.json()) as { type: string }).type, query).toBe(`${PROBLEMS}validation-failed`);
    }
    expect((await api.get("/v1/views/orders?status=pending&customerId=c-1")).status).toBe(200);
  });

  it("refuses a count that is not a whole number in its range with one error naming the range", async () => {
    const { tenant, api } = await setup();
    await api.command("inventory", "q", "restock", { quantity: 1 });
    const counts: [path: string, field: string, range: string, get: (path: string) => Promise<Response>][] = [
      ["/v1/entities/inventory/q/events?limit=", "limit", "1 to 1000", (p) => api.get(p)],
      ["/v1/views/inventory?limit=", "limit", "1 to 500", (p) => api.get(p)],
      ["/sagas?limit=", "limit", "1 to 500", (p) => admin("GET", p)],
      [`/tenants/${tenant.id}/metrics?minutes=`, "minutes", "1 to 1440", (p) => admin("GET", p)],
    ];
    for (const [path, field, range, get] of counts) {
      for (const value of ["abc", "0", "-1", "1e2", "2.5", "%205", "99999999999999999999"]) {
        const res = await get(path + value);
        expect(res.status, path + value).toBe(400);
        expect(await res.json(), path + value).toMatchObject({
          type: `${PROBLEMS}validation-failed`,
          errors: [{ path: field, message: `${field} must be a whole number from ${range}` }],
        });
      }
      expect((await get(`${path}1`)).status, `${path}1`).toBe(200);
    }
  });
});
