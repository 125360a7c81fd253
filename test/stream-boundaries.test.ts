// Tenant streams at the edges of what they accept: lifetimes the runtime's alarms can hold,
// real calendar dates, UTF-8 text in text and JSON streams, the fork copy limit, conditional
// reads, protocol headers sent twice, cursors, caching and CORS. Each refusal is problem+json
// with the protocol's status; nothing a request was refused for is left half-done.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { streamObjectName } from "../edge/streams/stream-names.js";
import { alarmTime, LATEST_ALARM_MS } from "../src/core/runtime/alarm-time.js";
import { call, eventually, newTenant, tenantClient } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";

/** A tenant's requests to its streams; `init.headers` may be a `Headers` holding a header sent on two lines. */
function streams(apiKey: string) {
  return (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${apiKey}`);
    return call(`/v1/stream/${path}`, { ...init, headers });
  };
}

async function expectProblem(res: Response, kind: string, status: number): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ type: PROBLEMS + kind, status });
  return body;
}

const text = { "content-type": "text/plain" };

describe("a stream's lifetime", () => {
  it("is refused past 2200-01-01T00:00:00Z or over 100 years of TTL, and nothing is created", async () => {
    const s = streams((await newTenant()).apiKey);
    const lifetimes: Record<string, string>[] = [
      { "stream-expires-at": "2300-01-01T00:00:00Z" },
      { "stream-expires-at": "9999-12-31T23:59:59Z" },
      { "stream-ttl": "10000000000" },
      { "stream-ttl": "1000000000000" },
      { "stream-ttl": "9007199254740991" },
    ];
    for (const [i, lifetime] of lifetimes.entries()) {
      const body = await expectProblem(
        await s(`far-${i}`, { method: "PUT", headers: { ...text, ...lifetime } }),
        "malformed-request",
        400,
      );
      expect(body.detail).toMatch(/2200-01-01T00:00:00Z|100 years/);
      expect((await s(`far-${i}`, { method: "HEAD" })).status).toBe(404);
    }
  });

  it("may reach the bounds themselves", async () => {
    const s = streams((await newTenant()).apiKey);
    const latest = await s("latest", {
      method: "PUT",
      headers: { ...text, "stream-expires-at": "2200-01-01T00:00:00Z" },
    });
    expect(latest.status).toBe(201);
    const longest = await s("longest", { method: "PUT", headers: { ...text, "stream-ttl": "3153600000" } });
    expect(longest.status).toBe(201);
  });

  it("ending at or before 1970 is past like any other: the stream is created expired", async () => {
    const s = streams((await newTenant()).apiKey);
    for (const [i, at] of ["1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"].entries()) {
      const res = await s(`epoch-${i}`, { method: "PUT", headers: { ...text, "stream-expires-at": at } });
      expect(res.status).toBe(201);
      expect((await s(`epoch-${i}`, { method: "HEAD" })).status).toBe(404);
    }
  });

  it("is refused when Stream-Expires-At names no real date or time", async () => {
    const s = streams((await newTenant()).apiKey);
    for (const [i, at] of ["2099-02-30T00:00:00Z", "2099-04-31T10:00:00Z", "2099-01-01T24:00:00Z"].entries()) {
      const res = await s(`unreal-${i}`, { method: "PUT", headers: { ...text, "stream-expires-at": at } });
      await expectProblem(res, "malformed-request", 400);
      expect((await s(`unreal-${i}`, { method: "HEAD" })).status).toBe(404);
    }
    const leap = await s("leap-day", {
      method: "PUT",
      headers: { ...text, "stream-expires-at": "2096-02-29t00:00:00z" },
    });
    expect(leap.status).toBe(201);
  });
});

describe("a sliding TTL", () => {
  // Long-polls here answer 204 after 1 s (STREAM_LONG_POLL_TIMEOUT_MS in vitest.config.ts), the
  // shortest TTL a stream can ask for: each parked read below waits out a whole TTL.
  const ttl1 = { ...text, "stream-ttl": "1" };
  const tail = "0000000000000000_0000000000000001";

  it("is held by a long-poll parked longer than it, and restarts when the long-poll answers", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("polled", { method: "PUT", headers: ttl1, body: "a" });
    // Two parks back to back: the stream outlives two TTLs with nothing but a reader waiting on it.
    for (let i = 0; i < 2; i++) expect((await s(`polled?offset=${tail}&live=long-poll`)).status).toBe(204);
    expect(await (await s("polled?offset=-1")).text()).toBe("a");
  });

  it("is held by an open SSE follower when the expiry alarm finds it run out", async () => {
    const tenant = await newTenant();
    const s = streams(tenant.apiKey);
    await s("followed", { method: "PUT", headers: { ...text, "stream-ttl": "3600" }, body: "a" });
    const res = await s(`followed?offset=${tail}&live=sse`);
    const events = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const received = await readUntil(events, "", (t) => t.includes("upToDate"));
    // As if the follower had been idle for two hours: the stream's last request started then.
    const stub = env.DURABLE_STREAMS.getByName(streamObjectName(tenant.id, "followed"));
    await runInDurableObject(stub, (host, state) => {
      state.storage.sql.exec("UPDATE stream_meta SET touched_at = ?", Date.now() - 2 * 3_600_000);
      (host as unknown as { reloadState(): void }).reloadState();
    });
    await runDurableObjectAlarm(stub);
    expect((await s("followed", { method: "HEAD" })).status).toBe(200);
    expect((await s("followed", { method: "POST", headers: text, body: "b" })).status).toBe(204);
    expect(await readUntil(events, received, (t) => t.includes("event: data"))).toContain("data:b");
    await events.cancel();
  });

  it("runs out a whole TTL after its last live reader left", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("left", { method: "PUT", headers: ttl1, body: "a" });
    expect((await s(`left?offset=${tail}&live=long-poll`)).status).toBe(204);
    await eventually(async () => ((await s("left", { method: "HEAD" })).status === 404 ? true : undefined));
  });

  it("runs out a whole TTL after an SSE follower that went away", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("dropped", { method: "PUT", headers: ttl1, body: "a" });
    const res = await s(`dropped?offset=${tail}&live=sse`);
    const events = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    await readUntil(events, "", (t) => t.includes("upToDate"));
    // The follower leaves. Here its departure never reaches the object (as with a half-open
    // connection), so the object's next write waits untaken until the stall bound ends the read:
    // three keep-alive intervals.
    await events.cancel();
    await eventually(async () => ((await s("dropped", { method: "HEAD" })).status === 404 ? true : undefined));
  });

  it("does not apply to a Stream-Expires-At, a deadline no parked reader moves", async () => {
    const s = streams((await newTenant()).apiKey);
    const at = new Date(Date.now() + 1_500).toISOString();
    await s("dated", { method: "PUT", headers: { ...text, "stream-expires-at": at }, body: "a" });
    const status = await eventually(async () => {
      const res = await s(`dated?offset=${tail}&live=long-poll`);
      return res.status === 204 ? undefined : res.status;
    });
    expect(status).toBe(404);
  });
});

/** Reads `events` on from `seen` (what was read so far) until `done` holds of the whole text; answers it. */
async function readUntil(
  events: ReadableStreamDefaultReader<string>,
  seen: string,
  done: (text: string) => boolean,
): Promise<string> {
  let text = seen;
  while (!done(text)) {
    const { value, done: ended } = await events.read();
    if (ended) throw new Error(`the event stream ended after: ${text}`);
    text += value;
  }
  return text;
}

describe("alarms", () => {
  it("are armed inside the runtime's range whatever instant they are due at", async () => {
    const stub = env.DURABLE_STREAMS.getByName(`alarm-range-${crypto.randomUUID()}`);
    await runInDurableObject(stub, async (_instance, state) => {
      const year30000 = Date.UTC(30000, 0, 1);
      // The runtime refuses both, synchronously or not.
      await expect((async () => state.storage.setAlarm(year30000))()).rejects.toThrow(/2189/);
      await expect((async () => state.storage.setAlarm(0))()).rejects.toThrow(/<= 0/);
      await state.storage.setAlarm(alarmTime(year30000));
      expect(await state.storage.getAlarm()).toBe(LATEST_ALARM_MS);
      // An instant already past is armed (the runtime fires it at once, reporting it as due now).
      await state.storage.setAlarm(alarmTime(0));
      expect(await state.storage.getAlarm()).not.toBeNull();
      await state.storage.deleteAlarm();
    });
  });
});

describe("text and JSON streams", () => {
  const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0x00, 0x20, 0x65, 0x6e, 0x64]);

  it("refuse a body that is not UTF-8, which SSE would carry altered, keeping the stream as it was", async () => {
    const s = streams((await newTenant()).apiKey);
    const created = await s("latin", { method: "PUT", headers: text, body: latin1 });
    await expectProblem(created, "malformed-request", 400);
    expect((await s("latin", { method: "HEAD" })).status).toBe(404);
    await s("latin", { method: "PUT", headers: text, body: "café " });
    await expectProblem(await s("latin", { method: "POST", headers: text, body: latin1 }), "malformed-request", 400);
    expect(await (await s("latin?offset=-1")).text()).toBe("café ");
  });

  it("refuse a charset other than UTF-8 with 415, at creation and on append", async () => {
    const s = streams((await newTenant()).apiKey);
    const types = [
      "text/plain; charset=iso-8859-1",
      "application/json; charset=iso-8859-1",
      "application/json; charset=utf-16",
      'text/csv; charset="windows-1252"',
    ];
    for (const [i, type] of types.entries()) {
      await expectProblem(
        await s(`charset-${i}`, { method: "PUT", headers: { "content-type": type } }),
        "unsupported-media-type",
        415,
      );
      expect((await s(`charset-${i}`, { method: "HEAD" })).status).toBe(404);
    }
    await s("utf8", { method: "PUT", headers: { "content-type": "application/json; charset=UTF-8" } });
    const append = await s("utf8", {
      method: "POST",
      headers: { "content-type": "application/json; charset=iso-8859-1" },
      body: "{}",
    });
    await expectProblem(append, "unsupported-media-type", 415);
    const binary = await s("binary", {
      method: "PUT",
      headers: { "content-type": "application/x-thing; charset=ebcdic" },
    });
    expect(binary.status).toBe(201);
  });

  it("refuse a fork whose sub-offset ends inside a UTF-8 character", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("accent", { method: "PUT", headers: text, body: "é!" });
    const fork = (subOffset: number) => ({
      ...text,
      "stream-forked-from": "/v1/stream/accent",
      "stream-fork-offset": "0000000000000000_0000000000000000",
      "stream-fork-sub-offset": String(subOffset),
    });
    await expectProblem(await s("half", { method: "PUT", headers: fork(1) }), "malformed-request", 400);
    expect((await s("half", { method: "HEAD" })).status).toBe(404);
    expect((await s("whole", { method: "PUT", headers: fork(2) })).status).toBe(201);
    expect(await (await s("whole?offset=-1")).text()).toBe("é");
  });
});

describe("forks", () => {
  const MiB = 1024 * 1024;

  it("copy at most 16 MiB, the sub-offset's part of the next append counted", async () => {
    const s = streams((await newTenant()).apiKey);
    const binary = { "content-type": "application/octet-stream" };
    await s("big", { method: "PUT", headers: binary });
    for (let i = 0; i < 17; i++) await s("big", { method: "POST", headers: binary, body: new Uint8Array(MiB) });
    const fork = (count: number, subOffset: number) => ({
      ...binary,
      "stream-forked-from": "/v1/stream/big",
      "stream-fork-offset": `0000000000000000_${String(count).padStart(16, "0")}`,
      "stream-fork-sub-offset": String(subOffset),
    });
    await expectProblem(await s("over", { method: "PUT", headers: fork(16, MiB - 1) }), "payload-too-large", 413);
    expect((await s("over", { method: "HEAD" })).status).toBe(404);
    expect((await s("within", { method: "PUT", headers: fork(15, MiB) })).status).toBe(201);
  });

  it("count a text stream's copy in UTF-8 bytes, not characters", async () => {
    const s = streams((await newTenant()).apiKey);
    // 300,000 three-byte characters: 900,000 bytes an append, 19 of them 17.1 MB (5.7 million characters).
    const wide = "€".repeat(300_000);
    await s("wide", { method: "PUT", headers: text });
    for (let i = 0; i < 19; i++)
      expect((await s("wide", { method: "POST", headers: text, body: wide })).status).toBe(204);
    const fork = await s("wide-fork", { method: "PUT", headers: { ...text, "stream-forked-from": "/v1/stream/wide" } });
    await expectProblem(fork, "payload-too-large", 413);
  });
});

describe("conditional reads", () => {
  /** The statuses a read answers under each If-None-Match, given the ETag of its first answer. */
  async function statuses(read: (headers: Record<string, string>) => Promise<Response>): Promise<number[]> {
    const etag = (await read({})).headers.get("etag") ?? "";
    expect(etag).toMatch(/^"/);
    const conditions = [etag, `W/${etag}`, `"other", ${etag}`, "*", '"other"', "not-a-tag"];
    return Promise.all(conditions.map(async (c) => (await read({ "if-none-match": c })).status));
  }

  it("of a tenant stream answer 304 when If-None-Match names its ETag, weakly or in a list, or is *", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("tagged", { method: "PUT", headers: text, body: "x" });
    expect(await statuses((headers) => s("tagged?offset=-1", { headers }))).toEqual([304, 304, 304, 304, 200, 400]);
  });

  it("of an entity's log answer 304 by the same rules", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    const sku = `sku-${crypto.randomUUID().slice(0, 8)}`;
    expect((await api.command("inventory", sku, "restock", { quantity: 1 })).status).toBe(200);
    const path = `/v1/entities/inventory/${sku}/stream?offset=-1`;
    expect(await statuses((headers) => api.get(path, headers))).toEqual([304, 304, 304, 304, 200, 400]);
  });
});

describe("stream writes", () => {
  it("refuse If-Match and Idempotency-Key, pointing at the protocol's own mechanisms, and store nothing", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("guarded", { method: "PUT", headers: text, body: "a" });
    const ifMatch = await s("guarded", { method: "POST", headers: { ...text, "if-match": '"nope"' }, body: "b" });
    expect((await expectProblem(ifMatch, "malformed-request", 400)).detail).toMatch(/Stream-Seq/);
    for (let i = 0; i < 2; i++) {
      const keyed = await s("guarded", { method: "POST", headers: { ...text, "idempotency-key": "k-1" }, body: "c" });
      expect((await expectProblem(keyed, "malformed-request", 400)).detail).toMatch(/Producer-Id/);
    }
    expect(await (await s("guarded?offset=-1")).text()).toBe("a");
  });

  it("refuse a precondition on create and delete too", async () => {
    const s = streams((await newTenant()).apiKey);
    await expectProblem(
      await s("pre", { method: "PUT", headers: { ...text, "if-none-match": "*" } }),
      "malformed-request",
      400,
    );
    expect((await s("pre", { method: "HEAD" })).status).toBe(404);
    await s("pre", { method: "PUT", headers: text });
    await expectProblem(await s("pre", { method: "DELETE", headers: { "if-match": '"x"' } }), "malformed-request", 400);
    expect((await s("pre", { method: "HEAD" })).status).toBe(200);
  });
});

describe("protocol headers", () => {
  it('sent twice are refused, not joined into one value such as a producer named "a, b"', async () => {
    const s = streams((await newTenant()).apiKey);
    await s("joined", { method: "PUT", headers: text });
    const h = new Headers({ ...text, "producer-epoch": "0", "producer-seq": "0" });
    h.append("producer-id", "a");
    h.append("producer-id", "b");
    await expectProblem(await s("joined", { method: "POST", headers: h, body: "x" }), "malformed-request", 400);
    expect(await (await s("joined?offset=-1")).text()).toBe("");
  });
});

describe("live reads' cursors", () => {
  it("never go backwards: a long-poll answers a cursor greater than the one echoed, however large", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("polled", { method: "PUT", headers: text, body: "x" });
    const tail = "0000000000000000_0000000000000001";
    const res = await s(`polled?offset=${tail}&live=long-poll&cursor=1000000000000000`);
    expect(res.status).toBe(204);
    expect(Number(res.headers.get("stream-cursor"))).toBeGreaterThan(1_000_000_000_000_000);
  });

  it("refuse a cursor with no safe successor", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("polled", { method: "PUT", headers: text, body: "x" });
    for (const cursor of ["9007199254740991", "99999999999999999999"])
      await expectProblem(await s(`polled?offset=-1&live=long-poll&cursor=${cursor}`), "malformed-request", 400);
  });
});

describe("read caching", () => {
  const cacheControl = async (res: Promise<Response>) => (await res).headers.get("cache-control");

  it("revalidates a catch-up that reaches an open stream's tail, offset=-1 included: it grows with the next append", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("growing", { method: "PUT", headers: text, body: "a" });
    expect(await cacheControl(s("growing?offset=-1"))).toBe("private, no-cache");
    await s("done", { method: "PUT", headers: { ...text, "stream-closed": "true" }, body: "a" });
    expect(await cacheControl(s("done?offset=-1"))).toBe("private, max-age=60, stale-while-revalidate=300");
  });

  it("caches a full page short of the tail, which never changes", async () => {
    const s = streams((await newTenant()).apiKey);
    const binary = { "content-type": "application/octet-stream" };
    await s("paged", { method: "PUT", headers: binary });
    for (let i = 0; i < 2; i++) await s("paged", { method: "POST", headers: binary, body: new Uint8Array(700_000) });
    const first = await s("paged?offset=-1");
    expect(first.headers.get("stream-up-to-date")).toBeNull();
    expect(first.headers.get("cache-control")).toBe("private, max-age=60, stale-while-revalidate=300");
  });

  it("never lets an answer outlive its stream", async () => {
    const s = streams((await newTenant()).apiKey);
    const closed = { ...text, "stream-closed": "true" };
    await s("brief", { method: "PUT", headers: { ...closed, "stream-ttl": "3" }, body: "a" });
    expect(await cacheControl(s("brief?offset=-1"))).toBe("private, max-age=3");
    await s("soon", { method: "PUT", headers: { ...closed, "stream-ttl": "100" }, body: "a" });
    expect(await cacheControl(s("soon?offset=-1"))).toBe("private, max-age=60, stale-while-revalidate=40");
    const at = new Date(Date.now() + 3_000).toISOString();
    await s("dated", { method: "PUT", headers: { ...closed, "stream-expires-at": at }, body: "a" });
    expect(await cacheControl(s("dated?offset=-1"))).toMatch(/^private, max-age=[0-3]$/);
  });

  it("revalidates an entity log read that reaches its last event", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    const sku = `sku-${crypto.randomUUID().slice(0, 8)}`;
    expect((await api.command("inventory", sku, "restock", { quantity: 1 })).status).toBe(200);
    expect(await cacheControl(api.get(`/v1/entities/inventory/${sku}/stream?offset=-1`))).toBe("private, no-cache");
  });
});

describe("HEAD", () => {
  it("names the time-to-live window, not the time left of it (the conformance suite's reading of the protocol)", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("ticking", { method: "PUT", headers: { ...text, "stream-ttl": "3600" } });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await s("ticking", { method: "HEAD" })).headers.get("stream-ttl")).toBe("3600");
  });
});

describe("a content-coded stream body", () => {
  it("is refused with a title and detail that name the coding, not JSON", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("plain", { method: "PUT", headers: text });
    const res = await s("plain", { method: "POST", headers: { ...text, "content-encoding": "gzip" }, body: "x" });
    const body = await expectProblem(res, "unsupported-media-type", 415);
    expect(body.title).not.toMatch(/JSON/);
    expect(body.title).toMatch(/content coding/);
    expect(body.detail).toMatch(/Content-Encoding gzip/);
  });
});

describe("a catch-up page", () => {
  it("holds at most 1 MiB of the text as sent, counted in UTF-8 bytes, not in characters", async () => {
    const s = streams((await newTenant()).apiKey);
    await s("euros", { method: "PUT", headers: text });
    // 300,000 characters of three bytes each: 900,000 bytes a message, two of them past 1 MiB.
    const message = "\u20ac".repeat(300_000);
    for (let i = 0; i < 2; i++)
      expect((await s("euros", { method: "POST", headers: text, body: message })).status).toBe(204);
    const page = await s("euros?offset=-1");
    expect(page.status).toBe(200);
    expect((await page.arrayBuffer()).byteLength).toBe(900_000);
    expect(page.headers.get("stream-up-to-date")).toBeNull();
  });
});
