// Durable Streams in Factline (edge/streams/): tenant streams at /v1/stream/{name} are the
// tenant's own and answer refusals in the protocol's statuses with problem+json bodies; entity
// logs read as JSON streams whose offsets are their sequence numbers, followed and resumed by the
// official client. The protocol as a whole is specified by the official suite (test/conformance/).
import { stream } from "@durable-streams/client";
import { env, exports } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import { pruneViewChanges, type Retention } from "../cloud/projections/view-changes.js";
import { call, eventually, newTenant, tenantClient } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";
const ORIGIN = "https://factline.test";

function streams(apiKey: string) {
  const auth = { authorization: `Bearer ${apiKey}` };
  return (path: string, init: RequestInit = {}) =>
    call(`/v1/stream/${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
}

async function expectProblem(res: Response, kind: string, status: number): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(await res.json()).toMatchObject({ type: PROBLEMS + kind, status });
}

const text = { "content-type": "text/plain" };

describe("tenant streams", () => {
  it("are the tenant's own: another tenant's key finds nothing at the same name", async () => {
    const a = streams((await newTenant()).apiKey);
    const b = streams((await newTenant()).apiKey);
    expect((await a("shared-name", { method: "PUT", headers: text, body: "mine" })).status).toBe(201);
    await expectProblem(await b("shared-name"), "not-found", 404);
    expect(await (await a("shared-name")).text()).toBe("mine");
  });

  it("ignore a tenant named by the client in the route's internal header", async () => {
    const owner = await newTenant();
    const intruder = streams((await newTenant()).apiKey);
    expect((await streams(owner.apiKey)("private", { method: "PUT", headers: text, body: "secret" })).status).toBe(201);
    const res = await intruder("private", { headers: { "factline-stream-tenant": owner.id } });
    await expectProblem(res, "not-found", 404);
  });

  it("refuse a name under the protocol's reserved __ds prefix", async () => {
    const s = streams((await newTenant()).apiKey);
    await expectProblem(await s("__ds/subscriptions/x", { method: "PUT", headers: text }), "not-found", 404);
  });

  it("have one spelling: a percent-encoded name is not another way to write it", async () => {
    const s = streams((await newTenant()).apiKey);
    expect((await s("a/b", { method: "PUT", headers: text, body: "x" })).status).toBe(201);
    await expectProblem(await s("a%2Fb"), "not-found", 404);
    await expectProblem(await s("%61/b", { method: "POST", headers: text, body: "y" }), "not-found", 404);
    const fork = await s("f", { method: "PUT", headers: { ...text, "stream-forked-from": "/v1/stream/a%2Fb" } });
    await expectProblem(fork, "malformed-request", 400);
    expect(await (await s("a/b?offset=-1")).text()).toBe("x");
  });

  it("need the tenant's key", async () => {
    await expectProblem(await call("/v1/stream/anything"), "unauthorized", 401);
  });

  it("answer an append to a closed stream with stream-closed and the final offset", async () => {
    const s = streams((await newTenant()).apiKey);
    const created = await s("finished", { method: "PUT", headers: { ...text, "stream-closed": "true" }, body: "all" });
    expect(created.status).toBe(201);
    const res = await s("finished", { method: "POST", headers: text, body: "more" });
    expect(res.headers.get("stream-closed")).toBe("true");
    expect(res.headers.get("stream-next-offset")).toBe(created.headers.get("stream-next-offset"));
    await expectProblem(res, "stream-closed", 409);
  });

  it("answer a PUT with another configuration with stream-exists", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("typed", { method: "PUT", headers: text });
    await expectProblem(
      await s("typed", { method: "PUT", headers: { "content-type": "application/json" } }),
      "stream-exists",
      409,
    );
  });

  it("answer an append of another content type with content-type-mismatch", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("plain", { method: "PUT", headers: text });
    await expectProblem(
      await s("plain", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
      "content-type-mismatch",
      409,
    );
  });

  it("fence a producer's stale epoch with stale-producer-epoch and the current epoch", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("fenced", { method: "PUT", headers: text });
    const as = (epoch: number, seq: number) => ({
      ...text,
      "producer-id": "p",
      "producer-epoch": String(epoch),
      "producer-seq": String(seq),
    });
    expect((await s("fenced", { method: "POST", headers: as(1, 0), body: "new" })).status).toBe(200);
    const res = await s("fenced", { method: "POST", headers: as(0, 1), body: "zombie" });
    expect(res.headers.get("producer-epoch")).toBe("1");
    await expectProblem(res, "stale-producer-epoch", 403);
  });

  it("refuse a producer's sequence gap with producer-sequence-gap, naming expected and received", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("gappy", { method: "PUT", headers: text });
    const as = (seq: number) => ({ ...text, "producer-id": "p", "producer-epoch": "0", "producer-seq": String(seq) });
    await s("gappy", { method: "POST", headers: as(0), body: "a" });
    const res = await s("gappy", { method: "POST", headers: as(5), body: "b" });
    expect([res.headers.get("producer-expected-seq"), res.headers.get("producer-received-seq")]).toEqual(["1", "5"]);
    await expectProblem(res, "producer-sequence-gap", 409);
  });

  it("answer a producer's retry of an append it made before the close as a duplicate, with Stream-Closed", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("retried", { method: "PUT", headers: text });
    const as = (seq: number) => ({ ...text, "producer-id": "p", "producer-epoch": "0", "producer-seq": String(seq) });
    expect((await s("retried", { method: "POST", headers: as(0), body: "a" })).status).toBe(200);
    await s("retried", { method: "POST", headers: { ...text, "stream-closed": "true" } });
    const retry = await s("retried", { method: "POST", headers: as(0), body: "a" });
    expect([retry.status, retry.headers.get("stream-closed"), retry.headers.get("producer-seq")]).toEqual([
      204,
      "true",
      "0",
    ]);
    await expectProblem(await s("retried", { method: "POST", headers: as(1), body: "b" }), "stream-closed", 409);
    expect(await (await s("retried?offset=-1")).text()).toBe("a");
  });

  it("answer stream-gone for a deleted stream its fork still reads from", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("origin", { method: "PUT", headers: text, body: "shared" });
    expect((await s("branch", { method: "PUT", headers: { "stream-forked-from": "/v1/stream/origin" } })).status).toBe(
      201,
    );
    expect((await s("origin", { method: "DELETE" })).status).toBe(204);
    await expectProblem(await s("origin"), "stream-gone", 410);
    expect(await (await s("branch")).text()).toBe("shared");
  });

  it("refuse an offset of a stream deleted since with offset-gone, rather than reading its successor at that count", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("reborn", { method: "PUT", headers: text, body: "old0" });
    const appended = await s("reborn", { method: "POST", headers: text, body: "old1" });
    const oldOffset = appended.headers.get("stream-next-offset") ?? "";
    expect(oldOffset).toBe("0000000000000000_0000000000000002");
    expect((await s("reborn", { method: "DELETE" })).status).toBe(204);

    const created = await s("reborn", { method: "PUT", headers: text, body: "new0" });
    for (const body of ["new1", "new2"]) await s("reborn", { method: "POST", headers: text, body });

    for (const live of ["", "&live=long-poll", "&live=sse"])
      await expectProblem(await s(`reborn?offset=${oldOffset}${live}`), "offset-gone", 410);
    const fork = await s("reborn-fork", {
      method: "PUT",
      headers: { "stream-forked-from": "/v1/stream/reborn", "stream-fork-offset": oldOffset },
    });
    await expectProblem(fork, "offset-gone", 410);
    // The stream here now mints offsets of its own generation, and reads by them as any stream does.
    const newOffset = created.headers.get("stream-next-offset") ?? "";
    expect(newOffset).toBe("0000000000000001_0000000000000001");
    expect(await (await s(`reborn?offset=${newOffset}`)).text()).toBe("new1new2");
    expect(await (await s("reborn?offset=-1")).text()).toBe("new0new1new2");
    // A generation this URL has not reached was never issued.
    await expectProblem(await s("reborn?offset=0000000000000007_0000000000000001"), "malformed-request", 400);
  });

  it("refuse a fork whose source is not a stream path of this API", async () => {
    const s = streams((await newTenant()).apiKey);
    await expectProblem(
      await s("stray", { method: "PUT", headers: { "stream-forked-from": "/v1/entities/orders/o-1" } }),
      "malformed-request",
      400,
    );
  });

  it("keep a text stream's bytes exactly, a byte-order mark included", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("marked", { method: "PUT", headers: text });
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x63]);
    const cafe = new Uint8Array([0x63, 0x61, 0x66, 0xc3, 0xa9]);
    for (const body of [bom, cafe])
      expect((await s("marked", { method: "POST", headers: text, body })).status).toBe(204);
    expect([...new Uint8Array(await (await s("marked")).arrayBuffer())]).toEqual([...bom, ...cafe]);
  });

  it("refuse an append over 1 MiB with 413 and keep the stream as it was", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("bounded", { method: "PUT", headers: { "content-type": "application/octet-stream" } });
    const res = await s("bounded", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(1024 * 1024 + 1),
    });
    await expectProblem(res, "payload-too-large", 413);
    expect((await s("bounded", { method: "HEAD" })).headers.get("stream-next-offset")).toBe(
      "0000000000000000_0000000000000000",
    );
  });

  it("refuse a create or an append sent with a content coding (415): its bytes would be stored still coded", async () => {
    const s = streams((await newTenant()).apiKey);
    const gzip = { "content-type": "text/plain", "content-encoding": "gzip" };
    await expectProblem(
      await s("coded", { method: "PUT", headers: gzip, body: "first" }),
      "unsupported-media-type",
      415,
    );
    await s("coded", { method: "PUT", headers: text });
    await expectProblem(await s("coded", { method: "POST", headers: gzip, body: "x" }), "unsupported-media-type", 415);
    const identity = await s("coded", {
      method: "POST",
      headers: { ...text, "content-encoding": "identity" },
      body: "y",
    });
    expect(identity.status).toBe(204);
    expect(await (await s("coded?offset=-1")).text()).toBe("y");
  });

  it("refuse an offset past the tail in every read mode, so no reader skips what is appended up to it", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("short", { method: "PUT", headers: text, body: "one" });
    const ahead = "0000000000000000_0000000000000999";
    for (const live of ["", "&live=long-poll", "&live=sse"])
      await expectProblem(await s(`short?offset=${ahead}${live}`), "cursor-past-end", 400);
    const atTail = await s("short?offset=0000000000000000_0000000000000001");
    expect([atTail.status, await atTail.text()]).toEqual([200, ""]);
  });

  it("keep each message of a JSON append as its writer sent it", async () => {
    const s = streams((await newTenant()).apiKey);
    const json = { "content-type": "application/json" };
    await s("exact", { method: "PUT", headers: json });
    await s("exact", { method: "POST", headers: json, body: '[{"a":1,"a":2},1e400,9007199254740993]' });
    expect(await (await s("exact?offset=-1")).text()).toBe('[{"a":1,"a":2},1e400,9007199254740993]');
  });
});

describe("entity logs as streams", () => {
  async function restocked(times: number) {
    const t = await newTenant();
    const api = tenantClient(t.apiKey);
    const sku = `sku-${crypto.randomUUID().slice(0, 8)}`;
    for (let i = 1; i <= times; i++)
      expect((await api.command("inventory", sku, "restock", { quantity: i })).status).toBe(200);
    return { t, api, path: `/v1/entities/inventory/${sku}/stream`, sku };
  }

  it("read as a JSON array of the recorded events, the offset after event N naming N", async () => {
    const { api, path } = await restocked(3);
    const res = await api.get(`${path}?offset=0000000000000000_0000000000000001`);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("stream-next-offset")).toBe("0000000000000000_0000000000000003");
    expect(res.headers.get("stream-up-to-date")).toBe("true");
    const events = (await res.json()) as { seq: number; type: string }[];
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [2, "Restocked"],
      [3, "Restocked"],
    ]);
  });

  it("answer a long-poll at the tail with the next command's event", async () => {
    const { api, path, sku } = await restocked(1);
    const waiting = api.get(`${path}?offset=0000000000000000_0000000000000001&live=long-poll`);
    await new Promise((r) => setTimeout(r, 100));
    expect((await api.command("inventory", sku, "restock", { quantity: 7 })).status).toBe(200);
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { seq: number }[]).map((e) => e.seq)).toEqual([2]);
  });

  it("refuse an offset past the entity's last event in every read mode", async () => {
    const { api, path } = await restocked(2);
    for (const live of ["", "&live=long-poll", "&live=sse"])
      await expectProblem(
        await api.get(`${path}?offset=0000000000000000_0000000000000003${live}`),
        "cursor-past-end",
        400,
      );
    expect((await api.get(`${path}?offset=0000000000000000_0000000000000002`)).status).toBe(200);
    // An entity's log is never created again: no offset of another generation is one it issued.
    await expectProblem(await api.get(`${path}?offset=0000000000000001_0000000000000001`), "malformed-request", 400);
  });

  it("refuse appends: the log changes only through commands", async () => {
    const { t, path } = await restocked(1);
    const res = await call(path, {
      method: "POST",
      headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toContain("GET");
  });

  it("are followed by @durable-streams/client, which resumes exactly after a disconnect", async () => {
    const { t, api, path, sku } = await restocked(2);
    const fetchThroughWorker: typeof fetch = (input, init) =>
      exports.default.fetch(new Request(input instanceof Request ? input : new URL(String(input), ORIGIN), init));
    const follow = async (offset: string | undefined, until: number) => {
      const controller = new AbortController();
      const seen: number[] = [];
      let last = offset;
      const res = await stream<{ seq: number }>({
        url: `${ORIGIN}${path}`,
        headers: { authorization: `Bearer ${t.apiKey}` },
        fetch: fetchThroughWorker,
        offset,
        live: "long-poll",
        signal: controller.signal,
      });
      await new Promise<void>((resolve) => {
        res.subscribeJson(async (batch) => {
          seen.push(...batch.items.map((e) => e.seq));
          last = batch.offset;
          if (seen.length > 0 && (seen.at(-1) ?? 0) >= until) resolve();
        });
      });
      controller.abort();
      return { seen, last };
    };
    const first = await follow(undefined, 2);
    expect(first.seen).toEqual([1, 2]);
    // While nobody follows, two more facts are recorded; the follower resumes from its saved offset.
    for (const quantity of [3, 4])
      expect((await api.command("inventory", sku, "restock", { quantity })).status).toBe(200);
    const second = await follow(first.last, 4);
    expect(second.seen).toEqual([3, 4]);
  });
});

describe("view change feeds as streams", () => {
  type Change = { entity: { type: string; id: string }; seq: number; type: string };

  it("list the facts that changed the tenant's view, in the order they were applied", async () => {
    const t = await newTenant();
    const api = tenantClient(t.apiKey);
    const sku = `sku-${crypto.randomUUID().slice(0, 8)}`;
    for (const quantity of [1, 2])
      expect((await api.command("inventory", sku, "restock", { quantity })).status).toBe(200);
    const changes = await eventually(async () => {
      const res = await api.get("/v1/views/inventory/changes/stream?offset=-1");
      const body = (await res.json()) as Change[];
      return body.length >= 2 ? body : undefined;
    });
    expect(changes.map((c) => [c.entity.id, c.seq, c.type])).toEqual([
      [sku, 1, "Restocked"],
      [sku, 2, "Restocked"],
    ]);
  });

  it("are the tenant's own", async () => {
    const a = tenantClient((await newTenant()).apiKey);
    const b = tenantClient((await newTenant()).apiKey);
    expect((await a.command("inventory", "only-a", "restock", { quantity: 1 })).status).toBe(200);
    await eventually(async () =>
      ((await (await a.get("/v1/views/inventory/changes/stream")).json()) as Change[]).length > 0 ? true : undefined,
    );
    expect(await (await b.get("/v1/views/inventory/changes/stream")).json()).toEqual([]);
  });

  it("resume after the offset a read returned, with nothing repeated", async () => {
    const t = await newTenant();
    const api = tenantClient(t.apiKey);
    expect((await api.command("inventory", "r-1", "restock", { quantity: 1 })).status).toBe(200);
    const first = await eventually(async () => {
      const res = await api.get("/v1/views/inventory/changes/stream");
      return ((await res.clone().json()) as Change[]).length === 1 ? res : undefined;
    });
    const offset = first.headers.get("stream-next-offset") ?? "";
    expect((await api.command("inventory", "r-1", "restock", { quantity: 2 })).status).toBe(200);
    const resumed = await eventually(async () => {
      const changes = (await (await api.get(`/v1/views/inventory/changes/stream?offset=${offset}`)).json()) as Change[];
      return changes.length > 0 ? changes : undefined;
    });
    expect(resumed.map((c) => c.seq)).toEqual([2]);
  });

  it("answer an unknown view with not-found", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    await expectProblem(await api.get("/v1/views/no-such-view/changes/stream"), "not-found", 404);
  });

  it("number the tenant's changes 1, 2, 3…, showing nothing of what other tenants recorded meanwhile", async () => {
    const a = tenantClient((await newTenant()).apiKey);
    const b = tenantClient((await newTenant()).apiKey);
    const feed = "/v1/views/inventory/changes/stream";
    const settled = (api: typeof a, count: number) =>
      eventually(async () => {
        const res = await api.get(`${feed}?offset=-1`);
        return ((await res.clone().json()) as Change[]).length === count ? res : undefined;
      });
    expect((await a.command("inventory", "a-sku", "restock", { quantity: 1 })).status).toBe(200);
    await settled(a, 1);
    for (const quantity of [1, 2, 3])
      expect((await b.command("inventory", "b-sku", "restock", { quantity })).status).toBe(200);
    await settled(b, 3);
    expect((await a.command("inventory", "a-sku", "restock", { quantity: 2 })).status).toBe(200);
    const both = await settled(a, 2);
    expect(both.headers.get("stream-next-offset")).toBe("0000000000000000_0000000000000002");
    const second = await a.get(`${feed}?offset=0000000000000000_0000000000000001`);
    expect(((await second.json()) as Change[]).map((c) => c.seq)).toEqual([2]);
  });
});

describe("view change feeds' retention", () => {
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  // Retention that keeps every change recorded in the last hour: the feeds other tests write,
  // all recorded just now, keep everything; only the back-dated changes below can be pruned.
  const retention = (retainCount: number, chunkRows = 1000, maxChunks = 100): Retention => ({
    retainCount,
    retainAgeMs: HOUR,
    chunkRows,
    maxChunks,
  });

  /** Records changes of `tenant`'s inventory feed directly, one per `recordedAt`; their positions, oldest first. */
  async function record(tenant: string, recordedAt: readonly number[]): Promise<number[]> {
    const positions: number[] = [];
    for (const [i, at] of recordedAt.entries()) {
      const row = await env.DB.prepare(
        `INSERT INTO view_changes (tenant_id, projection, entity_type, entity_id, seq, event_type, recorded_at, position)
         VALUES (?1, 'inventory', 'inventory', 'sku-kept', ?2, 'Restocked', ?3,
                 (SELECT COALESCE(MAX(position), 0) + 1 FROM view_changes WHERE tenant_id = ?1 AND projection = 'inventory'))
         RETURNING position`,
      )
        .bind(tenant, i + 1, at)
        .first<{ position: number }>();
      positions.push(row?.position ?? 0);
    }
    return positions;
  }

  async function remaining(tenant: string): Promise<number[]> {
    const { results } = await env.DB.prepare("SELECT position FROM view_changes WHERE tenant_id = ? ORDER BY position")
      .bind(tenant)
      .all<{ position: number }>();
    return results.map((r) => r.position);
  }

  it("keep the newest changes and the young ones, whichever are more, deleting the rest in bounded chunks", async () => {
    const now = Date.now();
    const tenant = `retain-${crypto.randomUUID()}`;
    // 15 changes two days old, then 10 from now: the age window (10) keeps more than the count (8).
    const ids = await record(tenant, [...Array(15).fill(now - 2 * DAY), ...Array(10).fill(now)]);
    const db = drizzle(env.DB);
    // Two chunks of four per run: the 15 old changes go over two runs, the window stays.
    expect(await pruneViewChanges(db, retention(8, 4, 2), now)).toBe(8);
    expect(await remaining(tenant)).toEqual(ids.slice(8));
    expect(await pruneViewChanges(db, retention(8, 4, 2), now)).toBe(7);
    expect(await remaining(tenant)).toEqual(ids.slice(15));
    expect(await pruneViewChanges(db, retention(8, 4, 2), now)).toBe(0);
  });

  it("keep the newest N changes when fewer are young", async () => {
    const now = Date.now();
    const tenant = `retain-${crypto.randomUUID()}`;
    const ids = await record(tenant, Array(12).fill(now - 2 * DAY));
    await pruneViewChanges(drizzle(env.DB), retention(5), now);
    expect(await remaining(tenant)).toEqual(ids.slice(7));
  });

  it("answer an offset past the feed's tail with 400 cursor-past-end, not 410", async () => {
    const now = Date.now();
    const t = await newTenant();
    const api = tenantClient(t.apiKey);
    const [, tail = 0] = await record(t.id, [now, now]);
    const offset = (position: number) => `0000000000000000_${String(position).padStart(16, "0")}`;
    const feed = "/v1/views/inventory/changes/stream";
    for (const live of ["", "&live=long-poll", "&live=sse"])
      for (const ahead of [tail + 1, tail + 1000])
        await expectProblem(await api.get(`${feed}?offset=${offset(ahead)}${live}`), "cursor-past-end", 400);
    const atTail = await api.get(`${feed}?offset=${offset(tail)}`);
    expect([atTail.status, await atTail.json()]).toEqual([200, []]);
  });

  it("answer an offset before the retained window with 410 offset-gone, and start -1 at the window", async () => {
    const now = Date.now();
    const t = await newTenant();
    const api = tenantClient(t.apiKey);
    const positions = await record(t.id, Array(6).fill(now - 2 * DAY));
    const offsets = positions.map((p) => `0000000000000000_${String(p).padStart(16, "0")}`);
    await pruneViewChanges(drizzle(env.DB), retention(3), now);
    const feed = "/v1/views/inventory/changes/stream";

    // A reader that had read the second change: the third is gone, so it must not be resumed
    // silently. Nor one at position 0 (an empty feed's offset): the first change is gone.
    for (const offset of [offsets[1], "0000000000000000_0000000000000000"])
      for (const live of ["", "&live=long-poll", "&live=sse"])
        await expectProblem(await api.get(`${feed}?offset=${offset}${live}`), "offset-gone", 410);
    // A reader that had read the third, the last one pruned, has lost nothing: it reads on.
    const afterLastPruned = await api.get(`${feed}?offset=${offsets[2]}`);
    expect(((await afterLastPruned.json()) as { seq: number }[]).map((c) => c.seq)).toEqual([4, 5, 6]);

    const fromStart = await api.get(`${feed}?offset=-1`);
    expect(((await fromStart.json()) as { seq: number }[]).map((c) => c.seq)).toEqual([4, 5, 6]);
    const inWindow = await api.get(`${feed}?offset=${offsets[3]}`);
    expect(((await inWindow.json()) as { seq: number }[]).map((c) => c.seq)).toEqual([5, 6]);
    expect(inWindow.headers.get("stream-next-offset")).toBe(offsets[5]);
  });
});
