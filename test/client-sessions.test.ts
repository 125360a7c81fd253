// Exactly once for any delay: an offline client's commands carry a session id and a number
// (Factline-Client-Session, Factline-Client-Seq); the entity decides each at most once however
// late or often it arrives, and keeps one record per (session, entity), never one per command.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CommandEnvelope } from "../src/core/protocol/entity-protocol.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { newTenant, tenantClient } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";
const DAY_MS = 24 * 60 * 60 * 1000;
const stubOf = (tenant: string, id: string) =>
  env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, "inventory", id)));
const session = (n: number) => `session-${String(n).padStart(8, "0")}-abcdef`;
const asClient = (s: string, seq: number) => ({ "factline-client-session": s, "factline-client-seq": String(seq) });

async function setup() {
  const tenant = await newTenant("cs");
  return { tenant: tenant.id, api: tenantClient(tenant.apiKey) };
}

async function stateOf(api: ReturnType<typeof tenantClient>, id: string) {
  return (await (await api.get(`/v1/entities/inventory/${id}`)).json()) as {
    version: number;
    state: { onHand: number; reserved: number };
  };
}

/** Moves every stored session record of an entity `days` into the past. */
async function age(tenant: string, id: string, days: number): Promise<void> {
  await runInDurableObject(stubOf(tenant, id), (_i, state) => {
    state.storage.sql.exec("UPDATE client_sessions SET touched_at = touched_at - ?", days * DAY_MS);
  });
}

describe("client sessions: exactly once for any delay", () => {
  it("answers a command retried 30 days later from its record, applying it once", async () => {
    const { tenant, api } = await setup();
    const first = await api.command("inventory", "late", "restock", { quantity: 5 }, asClient(session(1), 1));
    expect(first.status).toBe(200);
    const answer = await first.json();
    await age(tenant, "late", 30);
    await evictDurableObject(stubOf(tenant, "late"));

    const retry = await api.command("inventory", "late", "restock", { quantity: 5 }, asClient(session(1), 1));
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual(answer);
    expect(await stateOf(api, "late")).toMatchObject({ version: 1, state: { onHand: 5 } });
  });

  it("keeps a record alive while its command is retried: retries 100 and 200 days after the decision replay it", async () => {
    const { tenant, api } = await setup();
    await api.command("inventory", "retried", "restock", { quantity: 4 }, asClient(session(12), 1));
    for (const _ of [100, 200]) {
      await age(tenant, "retried", 100);
      await evictDurableObject(stubOf(tenant, "retried"));
      const retry = await api.command("inventory", "retried", "restock", { quantity: 4 }, asClient(session(12), 1));
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
    }
    expect(await stateOf(api, "retried")).toMatchObject({ version: 1, state: { onHand: 4 } });
  });

  it("keeps an applied answer as a range of the log, not a copy of its events", async () => {
    const { tenant, api } = await setup();
    await api.command(
      "inventory",
      "small",
      "restock",
      { quantity: 4, source: "x".repeat(60) },
      asClient(session(13), 1),
    );
    const stored = await runInDurableObject(
      stubOf(tenant, "small"),
      (_i, state) => state.storage.sql.exec<{ answer: string }>("SELECT answer FROM client_sessions").one().answer,
    );
    expect(JSON.parse(stored)).toEqual({ kind: "applied", version: 1, events: 1 });
  });

  it("decides a command first sent 30 days after the previous one of its session", async () => {
    const { tenant, api } = await setup();
    expect((await api.command("inventory", "gap", "restock", { quantity: 1 }, asClient(session(2), 1))).status).toBe(
      200,
    );
    await age(tenant, "gap", 30);
    expect((await api.command("inventory", "gap", "restock", { quantity: 2 }, asClient(session(2), 2))).status).toBe(
      200,
    );
    expect(await stateOf(api, "gap")).toMatchObject({ version: 2, state: { onHand: 3 } });
  });

  it("answers an earlier command of the session as a duplicate without deciding it again", async () => {
    const { api } = await setup();
    await api.command("inventory", "dup", "restock", { quantity: 1 }, asClient(session(3), 1));
    await api.command("inventory", "dup", "restock", { quantity: 2 }, asClient(session(3), 2));
    const again = await api.command("inventory", "dup", "restock", { quantity: 1 }, asClient(session(3), 1));
    expect(again.status).toBe(409);
    expect(((await again.json()) as { type: string }).type).toBe(`${PROBLEMS}client-command-answered`);
    expect(await stateOf(api, "dup")).toMatchObject({ version: 2, state: { onHand: 3 } });
  });

  it("refuses a command number reused with another body", async () => {
    const { api } = await setup();
    await api.command("inventory", "reuse", "restock", { quantity: 1 }, asClient(session(4), 1));
    const other = await api.command("inventory", "reuse", "restock", { quantity: 9 }, asClient(session(4), 1));
    expect(other.status).toBe(422);
    expect(((await other.json()) as { type: string }).type).toBe(`${PROBLEMS}client-sequence-reused`);
    expect(await stateOf(api, "reuse")).toMatchObject({ version: 1, state: { onHand: 1 } });
  });

  it("answers a retried rejection with the same rejection even once it would succeed", async () => {
    const { api } = await setup();
    const refused = await api.command(
      "inventory",
      "rej",
      "reserve",
      { orderId: "o1", quantity: 3 },
      asClient(session(5), 1),
    );
    expect(refused.status).toBe(422);
    await api.command("inventory", "rej", "restock", { quantity: 10 }, asClient(session(6), 1));
    const retry = await api.command(
      "inventory",
      "rej",
      "reserve",
      { orderId: "o1", quantity: 3 },
      asClient(session(5), 1),
    );
    expect(retry.status).toBe(422);
    expect(await retry.json()).toMatchObject({ type: `${PROBLEMS}business-rule`, code: "insufficient-stock" });
    expect(await stateOf(api, "rej")).toMatchObject({ version: 1, state: { reserved: 0 } });
  });

  it("marks a rejection answered again from the record as replayed, and a fresh one as not", async () => {
    const { api } = await setup();
    const reserve = () =>
      api.command("inventory", "rej-mark", "reserve", { orderId: "o1", quantity: 3 }, asClient(session(15), 1));
    const fresh = await reserve();
    expect(fresh.status).toBe(422);
    expect(fresh.headers.get("idempotent-replayed")).toBeNull();
    const again = await reserve();
    expect(again.status).toBe(422);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
  });

  it("decides a command once when it races its twin", async () => {
    const { api } = await setup();
    const send = () => api.command("inventory", "race", "restock", { quantity: 2 }, asClient(session(14), 1));
    const answers = await Promise.all([send(), send(), send()]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(answers.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(2);
    expect(await stateOf(api, "race")).toMatchObject({ version: 1, state: { onHand: 2 } });
  });

  it("keeps sessions apart: the same number from two sessions is two commands", async () => {
    const { api } = await setup();
    await api.command("inventory", "two", "restock", { quantity: 1 }, asClient(session(7), 1));
    const other = await api.command("inventory", "two", "restock", { quantity: 1 }, asClient(session(8), 1));
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(await stateOf(api, "two")).toMatchObject({ version: 2, state: { onHand: 2 } });
  });

  it.each([
    ["a session without a number", { "factline-client-session": session(9) }],
    ["a number without a session", { "factline-client-seq": "1" }],
    ["a short session id", asClient("short", 1)],
    ["a number zero", asClient(session(9), 0)],
    ["a number beyond 2^53", asClient(session(9), 2 ** 60)],
    ["a session with an Idempotency-Key", { ...asClient(session(9), 1), "idempotency-key": "k-1" }],
  ])("refuses %s with 400 and records nothing", async (_name, headers) => {
    const { api } = await setup();
    const res = await api.command("inventory", "bad", "restock", { quantity: 1 }, headers);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEMS}malformed-request`);
    expect((await api.get("/v1/entities/inventory/bad")).status).toBe(404);
  });

  it.each([
    ["Factline-Client-Seq", asClient(session(9), 1), { "factline-client-seq": "1".repeat(17) }],
    ["Factline-Client-Session", asClient(session(9), 1), { "factline-client-session": "s".repeat(65) }],
  ])("refuses an over-long %s with the header's own rule, as any other bad value of it", async (header, base, long) => {
    const { api } = await setup();
    const res = await api.command("inventory", "long", "restock", { quantity: 1 }, { ...base, ...long });
    const body = (await res.json()) as { detail: string; errors: { path: string; message: string }[] };
    expect(res.status).toBe(400);
    expect(body.detail).toMatch(new RegExp(`^${header} must be`));
    expect(body.errors).toEqual([{ path: header, message: body.detail }]);
  });

  it("forgets a session record unused for longer than the retention (180 days)", async () => {
    const { tenant, api } = await setup();
    await api.command("inventory", "old", "restock", { quantity: 1 }, asClient(session(10), 1));
    await age(tenant, "old", 181);
    await evictDurableObject(stubOf(tenant, "old"));
    await api.command("inventory", "old", "restock", { quantity: 1 }, asClient(session(11), 1));
    const sessions = await runInDurableObject(stubOf(tenant, "old"), (_i, state) =>
      state.storage.sql
        .exec<{ session: string }>("SELECT session FROM client_sessions")
        .toArray()
        .map((r) => r.session),
    );
    expect(sessions).toEqual([session(11)]);
  });

  it("keeps one record per (session, entity) under 100,000 commands from 100 clients", async () => {
    const { tenant } = await setup();
    const entities = Array.from({ length: 10 }, (_, i) => `bounded-${i}`);
    const clients = 100;
    const rounds = 100;
    for (const [e, id] of entities.entries()) {
      const rows = await runInDurableObject(stubOf(tenant, id), async (instance, state) => {
        for (let round = 0; round < rounds; round++) {
          for (let c = 0; c < clients; c++) {
            // Each client numbers its commands across all ten entities, in the order it made them.
            const seq = round * entities.length + e + 1;
            const envelope: CommandEnvelope = {
              tenant,
              entityType: "inventory",
              entityId: id,
              // Only the first release records an event (its tombstone): the log stays small while
              // every command still passes through the session records.
              command: "release",
              data: { orderId: "o-1" },
              idempotencyKey: null,
              fingerprint: "release-o-1",
              expectedVersion: null,
              causeHlc: null,
              correlationId: `c-${c}`,
              causationId: null,
              traceparent: null,
              clientSession: { session: session(1000 + c), seq },
            };
            const outcome = await instance.command(envelope);
            if (!outcome.ok || outcome.replayed)
              throw new Error(`command ${seq} of client ${c} was not decided: ${JSON.stringify(outcome)}`);
          }
        }
        return state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM client_sessions").one().n;
      });
      expect(rows).toBe(clients);
    }
  });
});
