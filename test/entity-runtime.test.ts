// The entity runtime through the tenant API: single-writer consistency, idempotency, optimistic
// concurrency, snapshots, time travel, upcasting and causal clocks.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CommandResult, RecordedEvent } from "../src/core/model/envelope.js";
import { encodeHlc } from "../src/core/protocol/hlc.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { inventory } from "../src/domain/inventory.js";
import { expectPastEnd, internalCommand, newTenant, tenantClient } from "./support/api.js";

const stubOf = (tenant: string, type: string, id: string) =>
  env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, type, id)));

async function setup() {
  const tenant = await newTenant();
  return { tenant, api: tenantClient(tenant.apiKey) };
}

describe("single writer", () => {
  it("keeps 200 concurrent reservations gapless, exactly once each, and never oversold", async () => {
    const { api } = await setup();
    await api.command("inventory", "hot", "restock", { quantity: 120 });
    // A burst on one entity is a standing queue: on a loaded machine the isolate's command limit
    // may shed some of it (429, nothing done). A client sends those again, as this does.
    const reserve = async (orderId: string): Promise<Response> => {
      for (;;) {
        const res = await api.command("inventory", "hot", "reserve", { orderId, quantity: 1 });
        if (res.status !== 429) return res;
        expect(res.headers.get("retry-after")).not.toBeNull();
        await res.body?.cancel();
        await scheduler.wait(50);
      }
    };
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => reserve(`o${i}`)));
    const accepted = responses.filter((r) => r.status === 200);
    const rejected = responses.filter((r) => r.status === 422);
    expect(accepted.length).toBe(120);
    expect(rejected.length).toBe(80);

    const results = (await Promise.all(accepted.map((r) => r.json()))) as CommandResult[];
    const page = (await (await api.get("/v1/entities/inventory/hot/events?limit=1000")).json()) as {
      events: RecordedEvent[];
    };
    expect(page.events.map((e) => e.seq)).toEqual(Array.from({ length: 121 }, (_, i) => i + 1));
    const logged = page.events
      .filter((e) => e.type === "Reserved")
      .map((e) => e.meta.eventId)
      .sort();
    expect(logged).toEqual(results.flatMap((r) => r.events.map((e) => e.meta.eventId)).sort());

    const entity = (await (await api.get("/v1/entities/inventory/hot")).json()) as {
      state: { available: number; reserved: number };
    };
    expect(entity.state).toMatchObject({ available: 0, reserved: 120 });
  });
});

describe("idempotency", () => {
  it("replays the stored response for the same key and body, recording nothing new", async () => {
    const { api } = await setup();
    const first = await api.command("inventory", "s1", "restock", { quantity: 2 }, { "idempotency-key": "k-1" });
    const again = await api.command("inventory", "s1", "restock", { quantity: 2 }, { "idempotency-key": "k-1" });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(await first.json());
    const entity = (await (await api.get("/v1/entities/inventory/s1")).json()) as { version: number };
    expect(entity.version).toBe(1);
  });

  it("matches the body by meaning, not by key order or whitespace", async () => {
    const { api } = await setup();
    await api.command("inventory", "s1", "restock", { quantity: 2, source: "dock" }, { "idempotency-key": "k-2" });
    const again = await api.command(
      "inventory",
      "s1",
      "restock",
      { source: "dock", quantity: 2 },
      { "idempotency-key": "k-2" },
    );
    expect(again.headers.get("idempotent-replayed")).toBe("true");
  });

  it("refuses the same key with another body (422)", async () => {
    const { api } = await setup();
    await api.command("inventory", "s1", "restock", { quantity: 2 }, { "idempotency-key": "k-3" });
    const other = await api.command("inventory", "s1", "restock", { quantity: 3 }, { "idempotency-key": "k-3" });
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ type: "https://factline.dev/problems/idempotency-key-reused" });
  });

  it("records concurrent duplicates once", async () => {
    const { api } = await setup();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.command("inventory", "s1", "restock", { quantity: 1 }, { "idempotency-key": "k-4" }),
      ),
    );
    const statuses = new Set(responses.map((r) => r.status));
    expect([...statuses].every((s) => s === 200 || s === 409)).toBe(true);
    const versions = new Set(
      (await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.json()))).map(
        (b) => (b as CommandResult).version,
      ),
    );
    expect([...versions]).toEqual([1]);
    const entity = (await (await api.get("/v1/entities/inventory/s1")).json()) as {
      version: number;
      state: { onHand: number };
    };
    expect(entity).toMatchObject({ version: 1, state: { onHand: 1 } });
  });

  it("does not remember rejected commands, so they can be retried once the rule allows them", async () => {
    const { api } = await setup();
    const refused = await api.command(
      "inventory",
      "s1",
      "reserve",
      { orderId: "o1", quantity: 1 },
      { "idempotency-key": "k-5" },
    );
    expect(refused.status).toBe(422);
    await api.command("inventory", "s1", "restock", { quantity: 1 });
    const retried = await api.command(
      "inventory",
      "s1",
      "reserve",
      { orderId: "o1", quantity: 1 },
      { "idempotency-key": "k-5" },
    );
    expect(retried.status).toBe(200);
  });
});

describe("optimistic concurrency", () => {
  it("applies a command whose If-Match names the current version", async () => {
    const { api } = await setup();
    await api.command("inventory", "s1", "restock", { quantity: 1 });
    const res = await api.command("inventory", "s1", "restock", { quantity: 1 }, { "if-match": '"1"' });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe('"2"');
  });

  it("refuses a command whose If-Match names another version (412) and records nothing", async () => {
    const { api } = await setup();
    await api.command("inventory", "s1", "restock", { quantity: 1 });
    const res = await api.command("inventory", "s1", "restock", { quantity: 1 }, { "if-match": '"7"' });
    expect(res.status).toBe(412);
    expect(await res.json()).toMatchObject({ type: "https://factline.dev/problems/version-mismatch" });
    expect(((await (await api.get("/v1/entities/inventory/s1")).json()) as { version: number }).version).toBe(1);
  });

  it("names the entity's current version in the ETag of a 412, and a retry against it applies", async () => {
    const { api } = await setup();
    await api.command("inventory", "retry", "restock", { quantity: 1 });
    await api.command("inventory", "retry", "restock", { quantity: 1 });
    const refused = await api.command("inventory", "retry", "restock", { quantity: 1 }, { "if-match": '"1"' });
    expect([refused.status, refused.headers.get("etag")]).toEqual([412, '"2"']);
    const retried = await api.command("inventory", "retry", "restock", { quantity: 1 }, { "if-match": '"2"' });
    expect([retried.status, retried.headers.get("etag")]).toEqual([200, '"3"']);
  });

  it("answers a repeated keyed command from its record before comparing If-Match, with the ETag that answer had", async () => {
    const { api } = await setup();
    const headers = { "idempotency-key": "k-if-match", "if-match": '"1"' };
    await api.command("inventory", "replayed", "restock", { quantity: 1 });
    const first = await api.command("inventory", "replayed", "restock", { quantity: 1 }, headers);
    // The entity moves on to version 3: the same request's If-Match is stale now.
    await api.command("inventory", "replayed", "restock", { quantity: 1 });
    const again = await api.command("inventory", "replayed", "restock", { quantity: 1 }, headers);
    expect([first.status, first.headers.get("etag")]).toEqual([200, '"2"']);
    expect([again.status, again.headers.get("etag"), again.headers.get("idempotent-replayed")]).toEqual([
      200,
      '"2"',
      "true",
    ]);
  });

  it("applies a command with If-Match: * to an entity that exists, and refuses it (412) for a fresh one", async () => {
    const { api } = await setup();
    expect((await api.command("inventory", "star", "restock", { quantity: 1 }, { "if-match": "*" })).status).toBe(412);
    await api.command("inventory", "star", "restock", { quantity: 1 });
    expect((await api.command("inventory", "star", "restock", { quantity: 1 }, { "if-match": "*" })).status).toBe(200);
  });

  it("applies a command whose If-Match list names the current version among others", async () => {
    const { api } = await setup();
    await api.command("inventory", "list", "restock", { quantity: 1 });
    expect(
      (await api.command("inventory", "list", "restock", { quantity: 1 }, { "if-match": '"5", "1"' })).status,
    ).toBe(200);
    expect(
      (await api.command("inventory", "list", "restock", { quantity: 1 }, { "if-match": '"5", "7"' })).status,
    ).toBe(412);
  });

  it("never matches a weak tag (412), as RFC 9110 requires for If-Match", async () => {
    const { api } = await setup();
    await api.command("inventory", "weak", "restock", { quantity: 1 });
    expect((await api.command("inventory", "weak", "restock", { quantity: 1 }, { "if-match": 'W/"1"' })).status).toBe(
      412,
    );
    expect(((await (await api.get("/v1/entities/inventory/weak")).json()) as { version: number }).version).toBe(1);
  });

  it("refuses a malformed If-Match with 400", async () => {
    const { api } = await setup();
    await api.command("inventory", "bad-im", "restock", { quantity: 1 });
    for (const value of ["1", '"1', '*, "1"', '"1" "2"', "W/1"]) {
      const res = await api.command("inventory", "bad-im", "restock", { quantity: 1 }, { "if-match": value });
      expect(res.status, value).toBe(400);
    }
  });
});

describe("conditional reads", () => {
  it("answers a read whose If-None-Match names the entity's version with 304, its ETag and the 200's cache headers", async () => {
    const { api } = await setup();
    await api.command("inventory", "cached", "restock", { quantity: 1 });
    const full = await api.get("/v1/entities/inventory/cached");
    for (const value of ['"1"', 'W/"1"', '"9", "1"', "*"]) {
      const res = await api.get("/v1/entities/inventory/cached", { "if-none-match": value });
      expect({ value, status: res.status, body: await res.text() }).toEqual({ value, status: 304, body: "" });
      for (const header of ["etag", "cache-control", "vary"])
        expect(res.headers.get(header), header).toBe(full.headers.get(header));
    }
  });

  it("answers a read in full when If-None-Match names another version, or the state as of a past one", async () => {
    const { api } = await setup();
    await api.command("inventory", "moved", "restock", { quantity: 1 });
    await api.command("inventory", "moved", "restock", { quantity: 1 });
    const res = await api.get("/v1/entities/inventory/moved", { "if-none-match": '"1"' });
    expect([res.status, res.headers.get("etag")]).toEqual([200, '"2"']);
    expect((await api.get("/v1/entities/inventory/moved?at=1", { "if-none-match": '"1"' })).status).toBe(304);
  });

  it("answers an entity that does not exist with 404 whatever If-None-Match says", async () => {
    const { api } = await setup();
    expect((await api.get("/v1/entities/inventory/none", { "if-none-match": "*" })).status).toBe(404);
  });

  it("refuses a malformed If-None-Match with 400 naming the header's rule", async () => {
    const { api } = await setup();
    await api.command("inventory", "bad-inm", "restock", { quantity: 1 });
    for (const value of ["1", '"1', '*, "1"', "x".repeat(2000)]) {
      const res = await api.get("/v1/entities/inventory/bad-inm", { "if-none-match": value });
      expect(res.status, value).toBe(400);
      expect(((await res.json()) as { detail: string }).detail, value).toMatch(/^If-None-Match must be/);
    }
  });
});

describe("business rules", () => {
  it("answers a rejection with 422 problem+json carrying the domain's code, and records nothing", async () => {
    const { api } = await setup();
    await api.command("inventory", "s1", "restock", { quantity: 1 });
    const res = await api.command("inventory", "s1", "reserve", { orderId: "o1", quantity: 2 });
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({
      type: "https://factline.dev/problems/business-rule",
      code: "insufficient-stock",
    });
    expect(((await (await api.get("/v1/entities/inventory/s1")).json()) as { version: number }).version).toBe(1);
  });

  it("answers an unknown command or entity type with 404", async () => {
    const { api } = await setup();
    expect((await api.command("inventory", "s1", "teleport", {})).status).toBe(404);
    expect((await api.command("spaceships", "s1", "launch", {})).status).toBe(404);
  });

  it("answers an invalid command with 400 and the offending fields", async () => {
    const { api } = await setup();
    const res = await api.command("inventory", "s1", "restock", { quantity: -1 });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: "https://factline.dev/problems/validation-failed",
      errors: [{ path: "quantity" }],
    });
  });
});

describe("memory image and snapshots", () => {
  it("wakes after a restart into the state it had before", async () => {
    const { tenant, api } = await setup();
    await Promise.all(Array.from({ length: 20 }, () => api.command("inventory", "wake", "restock", { quantity: 1 })));
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        api.command("inventory", "wake", "reserve", { orderId: `o${i}`, quantity: 2 }),
      ),
    );
    const before = await (await api.get("/v1/entities/inventory/wake")).json();
    await evictDurableObject(stubOf(tenant.id, "inventory", "wake"));
    const after = await (await api.get("/v1/entities/inventory/wake")).json();
    expect(after).toEqual(before);
    expect(after).toMatchObject({ version: 25, state: { onHand: 20, reserved: 10, available: 10 } });
  });

  it("uses a snapshot when one exists, reaching the same state", async () => {
    const { tenant, api } = await setup();
    await Promise.all(Array.from({ length: 105 }, () => api.command("inventory", "snap", "restock", { quantity: 2 })));
    const stub = stubOf(tenant.id, "inventory", "snap");
    const snapshots = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql
        .exec<{ seq: number }>("SELECT seq FROM snapshots")
        .toArray()
        .map((r) => r.seq),
    );
    expect(snapshots).toEqual([100]);
    await evictDurableObject(stub);
    const woken = (await (await api.get("/v1/entities/inventory/snap")).json()) as {
      version: number;
      state: { onHand: number };
    };
    expect(woken).toMatchObject({ version: 105, state: { onHand: 210 } });
    // A full replay of the log, ignoring snapshots, reaches the same state.
    const replayed = await runInDurableObject(stub, (_i, state) => {
      const rows = state.storage.sql
        .exec<{ type: string; data: string }>("SELECT type, data FROM events ORDER BY seq")
        .toArray();
      return inventory.fold(rows.map((r) => ({ type: r.type, data: JSON.parse(r.data) as unknown })));
    });
    expect(replayed).toEqual(woken.state);
  });

  it("answers the state as of a past version", async () => {
    const { tenant, api } = await setup();
    await api.command("inventory", "tt", "restock", { quantity: 5 });
    await api.command("inventory", "tt", "reserve", { orderId: "o1", quantity: 2 });
    await internalCommand(tenant.id, "inventory", "tt", "ship", { orderId: "o1" });
    const past = await api.get("/v1/entities/inventory/tt?at=2");
    expect(past.headers.get("etag")).toBe('"2"');
    expect(await past.json()).toMatchObject({ version: 2, state: { onHand: 5, reserved: 2, shipped: 0 } });
  });

  it("refuses a version not yet recorded instead of answering the latest under it", async () => {
    const { api } = await setup();
    await api.command("inventory", "tf", "restock", { quantity: 5 });
    const future = await api.get("/v1/entities/inventory/tf?at=2");
    expect(future.status).toBe(404);
    expect(await future.json()).toMatchObject({
      type: "https://factline.dev/problems/not-found",
      detail: expect.stringContaining("no version 2"),
    });
    expect((await api.get("/v1/entities/inventory/tf?at=1")).status).toBe(200);
  });
});

describe("schema evolution", () => {
  it("reads an event stored at schema v1 back as v2", async () => {
    const { tenant, api } = await setup();
    await api.command("inventory", "old", "restock", { quantity: 1 });
    const stub = stubOf(tenant.id, "inventory", "old");
    // Rewrite the stored event as an older deployment would have written it.
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec(
        "UPDATE events SET schema_version = 1, data = ? WHERE seq = 1",
        JSON.stringify({ quantity: 1 }),
      );
    });
    await evictDurableObject(stub);
    const page = (await (await api.get("/v1/entities/inventory/old/events")).json()) as { events: RecordedEvent[] };
    expect(page.events[0]).toMatchObject({
      type: "Restocked",
      schemaVersion: 2,
      data: { quantity: 1, source: "unspecified" },
    });
  });

  it("answers 500 state-unfoldable, never a state without it, while the log holds an event type the code renamed", async () => {
    const { tenant, api } = await setup();
    await api.command("inventory", "renamed", "restock", { quantity: 3 });
    await api.command("inventory", "renamed", "restock", { quantity: 4 });
    const stub = stubOf(tenant.id, "inventory", "renamed");
    // The second event as stored under the name an older deployment gave Restocked.
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec("UPDATE events SET type = 'Stocked' WHERE seq = 2");
    });
    await evictDurableObject(stub);

    const unfoldable = {
      type: "https://factline.dev/problems/state-unfoldable",
      status: 500,
      detail: expect.stringContaining("Stocked (seq 2) is not an event type of inventory"),
    };
    for (const res of [
      await api.get("/v1/entities/inventory/renamed"),
      await api.get("/v1/entities/inventory/renamed?at=1"),
      await api.command("inventory", "renamed", "restock", { quantity: 1 }),
    ]) {
      expect(res.status).toBe(500);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(await res.json()).toMatchObject(unfoldable);
    }
    // Nothing was recorded, and the log itself still reads (the operator sees the stored name).
    const page = (await (await api.get("/v1/entities/inventory/renamed/events")).json()) as { events: RecordedEvent[] };
    expect(page.events.map((e) => e.type)).toEqual(["Restocked", "Stocked"]);
  });
});

describe("the log", () => {
  it("pages by after and limit, with next pointing at the following page", async () => {
    const { api } = await setup();
    for (let i = 0; i < 5; i++) await api.command("inventory", "pg", "restock", { quantity: 1 });
    const first = (await (await api.get("/v1/entities/inventory/pg/events?limit=2")).json()) as {
      events: RecordedEvent[];
      next: number | null;
    };
    expect(first.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(first.next).toBe(2);
    const last = (await (await api.get("/v1/entities/inventory/pg/events?after=4&limit=2")).json()) as {
      events: RecordedEvent[];
      next: number | null;
    };
    expect(last.events.map((e) => e.seq)).toEqual([5]);
    expect(last.next).toBeNull();
  });

  it("refuses a page after a position past the latest event (400), naming the latest, rather than an empty last page", async () => {
    const { api } = await setup();
    await api.command("inventory", "ahead", "restock", { quantity: 1 });
    await api.command("inventory", "ahead", "restock", { quantity: 1 });
    await expectPastEnd(await api.get("/v1/entities/inventory/ahead/events?after=50"), 2);
  });

  it("answers a page after the latest event itself as the caught-up end: no events, next null", async () => {
    const { api } = await setup();
    await api.command("inventory", "head", "restock", { quantity: 1 });
    await api.command("inventory", "head", "restock", { quantity: 1 });
    const res = await api.get("/v1/entities/inventory/head/events?after=2");
    expect([res.status, await res.json()]).toEqual([200, { events: [], next: null }]);
  });

  // factline/client treats these as "the server holds no events of it" (test/client-node/server-wiped.test.ts).
  it("answers the read and every page of an entity with no events 404 not-found, whatever the position", async () => {
    const { api } = await setup();
    for (const path of ["", "/events", "/events?after=0", "/events?after=3&limit=1000"]) {
      const res = await api.get(`/v1/entities/inventory/never-commanded${path}`);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect([res.status, await res.json()]).toEqual([
        404,
        {
          type: "https://factline.dev/problems/not-found",
          title: "Not found",
          status: 404,
          detail: "no inventory never-commanded",
        },
      ]);
    }
  });

  it("opens a live stream of an entity with no events from the start, and refuses one after a later position", async () => {
    const { api } = await setup();
    const open = await api.get("/v1/entities/inventory/never-streamed/events?after=0", { accept: "text/event-stream" });
    expect([open.status, open.headers.get("content-type")]).toEqual([200, "text/event-stream"]);
    await open.body?.cancel();
    await expectPastEnd(
      await api.get("/v1/entities/inventory/never-streamed/events?after=3", { accept: "text/event-stream" }),
      0,
    );
  });

  it("answers a command with each event as the log holds it, less the metadata that echoes the request", async () => {
    const { api } = await setup();
    const res = await api.command(
      "inventory",
      "echo",
      "restock",
      { quantity: 2 },
      { "idempotency-key": "k-echo", "factline-correlation-id": "corr-1" },
    );
    const answered = ((await res.json()) as CommandResult).events[0];
    const logged = ((await (await api.get("/v1/entities/inventory/echo/events")).json()) as { events: RecordedEvent[] })
      .events[0];
    expect(logged?.meta).toMatchObject({ correlationId: "corr-1", idempotencyKey: "k-echo", entityId: "echo" });
    expect(answered).toEqual({
      seq: logged?.seq,
      type: logged?.type,
      schemaVersion: logged?.schemaVersion,
      data: logged?.data,
      meta: { eventId: logged?.meta.eventId, hlc: logged?.meta.hlc, recordedAt: logged?.meta.recordedAt },
    });
  });

  it("stamps an event caused by another fact with a later clock", async () => {
    const { api } = await setup();
    // A minute ahead of this server's clock: within the accepted drift.
    const cause = encodeHlc({ wall: Date.now() + 60_000, logical: 7 });
    const res = (await (
      await api.command("inventory", "hlc", "restock", { quantity: 1 }, { "factline-cause-clock": cause })
    ).json()) as CommandResult;
    expect((res.events[0]?.meta.hlc ?? "") > cause).toBe(true);
  });

  it("refuses a malformed Factline-Cause-Clock with 400 instead of ignoring it", async () => {
    const { api } = await setup();
    for (const clock of ["yesterday", "999999999999999.1000000", "1.1"]) {
      const res = await api.command(
        "inventory",
        "hlc-bad",
        "restock",
        { quantity: 1 },
        { "factline-cause-clock": clock },
      );
      expect(res.status, clock).toBe(400);
      expect(((await res.json()) as { type: string }).type).toBe("https://factline.dev/problems/malformed-request");
    }
    expect((await api.get("/v1/entities/inventory/hlc-bad")).status).toBe(404);
  });

  it("refuses a cause clock 10 years ahead (400), so later events are not dragged into the future", async () => {
    const { api } = await setup();
    const ahead = encodeHlc({ wall: Date.now() + 10 * 365 * 86_400_000, logical: 0 });
    const res = await api.command(
      "inventory",
      "hlc-far",
      "restock",
      { quantity: 1 },
      { "factline-cause-clock": ahead },
    );
    expect(res.status).toBe(400);
    const later = (await (
      await api.command("inventory", "hlc-far", "restock", { quantity: 1 })
    ).json()) as CommandResult;
    expect(Number(later.events[0]?.meta.hlc.slice(0, 15))).toBeLessThan(Date.now() + 60_000);
  });

  it("fails loudly when the stored clock of the newest event does not decode, recording nothing", async () => {
    const { tenant, api } = await setup();
    await api.command("inventory", "hlc-head", "restock", { quantity: 1 });
    const stub = stubOf(tenant.id, "inventory", "hlc-head");
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec(`UPDATE events SET meta = json_set(meta, '$.hlc', '999999999999999.1000000')`);
    });
    await evictDurableObject(stub);
    const res = await api.command("inventory", "hlc-head", "restock", { quantity: 1 });
    expect(res.status).toBe(500);
    const seqs = await runInDurableObject(
      stub,
      (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM events").one().n,
    );
    expect(seqs).toBe(1);
  });
});
