// Live subscriptions to an entity's log: SSE and WebSocket subscribers that disconnect and resume
// get every event exactly once, in order.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EventLog } from "../edge/entity/event-log.js";
import {
  CLOSE_RESUME,
  CLOSE_REVOKED,
  LiveFeed,
  MAX_BUFFERED_BYTES,
  WS_BACKLOG_BYTES,
  type LiveSource,
  type Standing,
} from "../edge/entity/live-feed.js";
import type { RecordedEvent } from "../src/core/model/envelope.js";
import { encodeHlc } from "../src/core/protocol/hlc.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { domain } from "../src/domain/index.js";
import { call, expectPastEnd, newTenant, tenantClient } from "./support/api.js";

const SEEDED_AT = Date.now() - 60_000;

/** A restock of `id` as the log records it, with a 255-character Idempotency-Key. */
function restocked(tenant: string, id: string, seq: number, source = "seed"): RecordedEvent {
  return {
    seq,
    type: "Restocked",
    schemaVersion: domain.get("inventory")!.eventVersion("Restocked"),
    data: { quantity: 1, source },
    meta: {
      eventId: crypto.randomUUID(),
      tenant,
      entityType: "inventory",
      entityId: id,
      hlc: encodeHlc({ wall: SEEDED_AT + seq, logical: 0 }),
      recordedAt: new Date().toISOString(),
      correlationId: crypto.randomUUID(),
      causationId: null,
      idempotencyKey: `${seq - 1}-`.padEnd(255, "k"),
      traceparent: null,
    },
  };
}

/**
 * Writes `count` restocks straight into a fresh inventory entity's log, each carrying a
 * 255-character Idempotency-Key as the API would record it; returns their SSE size in bytes.
 * (Through the API the relay's backlog bound would shed most of them first.)
 */
async function seedLog(tenant: string, id: string, count: number, source = "seed"): Promise<number> {
  const events = Array.from({ length: count }, (_, i) => restocked(tenant, id, i + 1, source));
  const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, "inventory", id)));
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec(
      "INSERT INTO entity_identity (singleton, tenant, entity_type, entity_id) VALUES (1, ?, 'inventory', ?)",
      tenant,
      id,
    );
    new EventLog(state.storage.sql, domain.get("inventory")!).append(events);
  });
  return events.reduce(
    (n, e) => n + new TextEncoder().encode(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`).byteLength,
    0,
  );
}

interface SseMessage {
  id: string;
  event?: string;
  data: string;
}

/** Reads SSE messages from a response until `count` messages have arrived, then disconnects. */
async function readSse(res: Response, count: number): Promise<SseMessage[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const messages: SseMessage[] = [];
  let buffer = "";
  while (messages.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(
        block
          .split("\n")
          .filter((line) => line && !line.startsWith(":"))
          .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trimStart()]),
      ) as Record<string, string>;
      if (fields.data !== undefined) messages.push({ id: fields.id ?? "", event: fields.event, data: fields.data });
    }
  }
  await reader.cancel();
  return messages;
}

describe("server-sent events", () => {
  it("answers the JSON page when the client refuses event streams (q=0) or prefers JSON", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    await api.command("inventory", "neg", "restock", { quantity: 1 });
    for (const accept of [
      "text/event-stream;q=0, application/json",
      "application/json, text/event-stream;q=0.5",
      "*/*",
    ]) {
      const res = await api.get("/v1/entities/inventory/neg/events", { accept });
      expect({ accept, type: res.headers.get("content-type") }).toEqual({
        accept,
        type: expect.stringContaining("application/json"),
      });
      await res.body?.cancel();
    }
  });

  it("streams the backlog after ?after= and then new events, each as a plain message with its seq as id", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    for (let i = 0; i < 3; i++) await api.command("inventory", "live", "restock", { quantity: 1 });
    const res = await api.get("/v1/entities/inventory/live/events?after=1", { accept: "text/event-stream" });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reading = readSse(res, 4);
    await api.command("inventory", "live", "restock", { quantity: 9 });
    await api.command("inventory", "live", "restock", { quantity: 8 });
    const messages = await reading;
    expect(messages.map((m) => m.id)).toEqual(["2", "3", "4", "5"]);
    expect(messages.every((m) => m.event === undefined)).toBe(true);
    expect((JSON.parse(messages[2]!.data) as RecordedEvent).data).toMatchObject({ quantity: 9 });
  });

  it("resumes through Last-Event-ID with nothing missed or repeated", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "resume", "restock", { quantity: 1 });
    const first = await readSse(
      await api.get("/v1/entities/inventory/resume/events", { accept: "text/event-stream" }),
      1,
    );
    // While disconnected, more facts are recorded.
    await api.command("inventory", "resume", "restock", { quantity: 2 });
    await api.command("inventory", "resume", "restock", { quantity: 3 });
    const lastId = first[first.length - 1]!.id;
    const second = await readSse(
      await api.get("/v1/entities/inventory/resume/events?after=0", {
        accept: "text/event-stream",
        "last-event-id": lastId,
      }),
      2,
    );
    expect([...first, ...second].map((m) => m.id)).toEqual(["1", "2", "3"]);
  });

  it("delivers a backlog larger than the slow-subscriber bound in order, and resumes it through Last-Event-ID", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const bytes = await seedLog(tenant.id, "big", 1_600);
    expect(bytes).toBeGreaterThan(1024 * 1024);

    const first = await readSse(
      await api.get("/v1/entities/inventory/big/events?after=0", { accept: "text/event-stream" }),
      700,
    );
    expect(first.map((m) => Number(m.id))).toEqual(Array.from({ length: 700 }, (_, i) => i + 1));
    const second = await readSse(
      await api.get("/v1/entities/inventory/big/events?after=0", {
        accept: "text/event-stream",
        "last-event-id": first[first.length - 1]!.id,
      }),
      900,
    );
    expect(second.map((m) => Number(m.id))).toEqual(Array.from({ length: 900 }, (_, i) => i + 701));
    expect((JSON.parse(second[899]!.data) as RecordedEvent).meta.idempotencyKey).toMatch(/^1599-k+$/);
  });

  it("sends a subscriber that leaves over 1 MiB of live events unread back to the log, missing nothing", async () => {
    const tenant = await newTenant();
    await tenantClient(tenant.apiKey).command("inventory", "slow", "restock", { quantity: 1 });
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "slow")));
    const seqs = await runInDurableObject(stub, async (_instance, state) => {
      // A log in memory stands in for the entity's; events are appended, then published, as a command does.
      const log: RecordedEvent[] = [];
      const source: LiveSource = { page: (after, limit) => log.filter((e) => e.seq > after).slice(0, limit) };
      const feed = new LiveFeed(state, { revalidateMs: 3_600_000, standing: async () => "ok" }, () => source);
      const reader = feed
        .openEventStream(0, { tenant: tenant.id, keyId: null })
        .body!.pipeThrough(new TextDecoderStream())
        .getReader();
      await reader.read(); // the subscription comment, then the (empty) backlog: it is live
      const padding = "p".repeat(1_000);
      let published = 0;
      for (let seq = 1; seq <= 2_000; seq++) {
        const event = restocked(tenant.id, "slow", seq, padding);
        log.push(event);
        feed.publish([event]);
        published += padding.length;
      }
      expect(published).toBeGreaterThan(MAX_BUFFERED_BYTES);
      const ids: number[] = [];
      let text = "";
      while (ids.length < 2_000) {
        const { done, value } = await reader.read();
        if (done) break;
        text += value;
        for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
          const id = /^id: (\d+)$/m.exec(text.slice(0, end))?.[1];
          if (id) ids.push(Number(id));
          text = text.slice(end + 2);
        }
      }
      await reader.cancel();
      return ids;
    });
    expect(seqs).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
  });

  it("answers a waiting reader when one publish alone is over 1 MiB, from the log in order", async () => {
    const tenant = await newTenant();
    await tenantClient(tenant.apiKey).command("inventory", "burst", "restock", { quantity: 1 });
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "burst")));
    const seqs = await runInDurableObject(stub, async (_instance, state) => {
      const log: RecordedEvent[] = [];
      const source: LiveSource = { page: (after, limit) => log.filter((e) => e.seq > after).slice(0, limit) };
      const feed = new LiveFeed(state, { revalidateMs: 3_600_000, standing: async () => "ok" }, () => source);
      // Read the body itself, with no pipe that would read ahead.
      const reader = feed.openEventStream(0, { tenant: tenant.id, keyId: null }).body!.getReader();
      const decoder = new TextDecoder();
      await reader.read();
      const waiting = reader.read(); // live, nothing to send yet: this read waits
      const burst = Array.from({ length: 1_200 }, (_, i) => restocked(tenant.id, "burst", i + 1, "p".repeat(1_000)));
      log.push(...burst);
      feed.publish(burst);
      let text = decoder.decode((await waiting).value, { stream: true });
      const ids: number[] = [];
      while (ids.length < 1_200) {
        for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
          const id = /^id: (\d+)$/m.exec(text.slice(0, end))?.[1];
          if (id) ids.push(Number(id));
          text = text.slice(end + 2);
        }
        if (ids.length >= 1_200) break;
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      await reader.cancel();
      return ids;
    });
    expect(seqs).toEqual(Array.from({ length: 1_200 }, (_, i) => i + 1));
  });

  it("refuses a stream after a position past the latest event, by ?after= or Last-Event-ID, naming the latest", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    await api.command("inventory", "ahead", "restock", { quantity: 1 });
    await api.command("inventory", "ahead", "restock", { quantity: 1 });
    for (const [path, headers] of [
      ["/v1/entities/inventory/ahead/events?after=50", {}],
      ["/v1/entities/inventory/ahead/events", { "last-event-id": "50" }],
      ["/v1/entities/inventory/ahead/events?after=1", { "last-event-id": "50" }],
    ] as const) {
      await expectPastEnd(await api.get(path, { accept: "text/event-stream", ...headers }), 2);
    }
  });

  it("subscribes a stream whose position is the latest event, and sends it the next one", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    await api.command("inventory", "head", "restock", { quantity: 1 });
    await api.command("inventory", "head", "restock", { quantity: 1 });
    const res = await api.get("/v1/entities/inventory/head/events", {
      accept: "text/event-stream",
      "last-event-id": "2",
    });
    expect(res.status).toBe(200);
    const reading = readSse(res, 1);
    await api.command("inventory", "head", "restock", { quantity: 1 });
    expect((await reading).map((m) => m.id)).toEqual(["3"]);
  });

  it("refuses a stream without a tenant key", async () => {
    const res = await call("/v1/entities/inventory/x/events", { headers: { accept: "text/event-stream" } });
    expect(res.status).toBe(401);
  });
});

describe("websocket", () => {
  it("sends the backlog and live events, and a resumed socket continues where the first stopped", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "ws", "restock", { quantity: 1 });

    const open = async (after: number) => {
      const res = await api.get(`/v1/entities/inventory/ws/events?after=${after}`, { upgrade: "websocket" });
      expect(res.status).toBe(101);
      const socket = res.webSocket!;
      const received: RecordedEvent[] = [];
      socket.addEventListener("message", (m) => {
        received.push(JSON.parse(m.data as string) as RecordedEvent);
      });
      socket.accept();
      return { socket, received };
    };
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(cond()).toBe(true);
    };

    const first = await open(0);
    await api.command("inventory", "ws", "restock", { quantity: 2 });
    await until(() => first.received.length === 2);
    first.socket.close(1000, "done");

    await api.command("inventory", "ws", "restock", { quantity: 3 });
    const second = await open(first.received[first.received.length - 1]!.seq);
    await api.command("inventory", "ws", "restock", { quantity: 4 });
    await until(() => second.received.length === 2);
    second.socket.close(1000, "done");

    expect([...first.received, ...second.received].map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it("refuses a socket after a position past the latest event, naming the latest, and opens none", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    await api.command("inventory", "wsahead", "restock", { quantity: 1 });
    const res = await api.get("/v1/entities/inventory/wsahead/events?after=50", { upgrade: "websocket" });
    expect(res.webSocket).toBeNull();
    await expectPastEnd(res, 1);
  });

  it("closes a socket whose backlog passes the per-connection bound after the data, and the reconnect resumes it", async () => {
    const tenant = await newTenant();
    const bytes = await seedLog(tenant.id, "wshuge", 1_600, "p".repeat(3_000));
    expect(bytes).toBeGreaterThan(WS_BACKLOG_BYTES);
    const receive = async (after: number, until: number) => {
      const res = await tenantClient(tenant.apiKey).get(`/v1/entities/inventory/wshuge/events?after=${after}`, {
        upgrade: "websocket",
      });
      const socket = res.webSocket!;
      const seqs: number[] = [];
      const ended = new Promise<number | null>((resolve) => {
        socket.addEventListener("close", (e) => resolve(e.code));
        socket.addEventListener("message", (m) => {
          seqs.push((JSON.parse(m.data as string) as RecordedEvent).seq);
          if (seqs[seqs.length - 1] === until) resolve(null);
        });
      });
      socket.accept();
      const code = await ended;
      if (code === null) socket.close(1000, "done");
      return { seqs, code };
    };
    const first = await receive(0, 1_600);
    expect(first.code).toBe(CLOSE_RESUME);
    const resumeAfter = first.seqs[first.seqs.length - 1]!;
    expect(resumeAfter).toBeLessThan(1_600);
    const second = await receive(resumeAfter, 1_600);
    expect([...first.seqs, ...second.seqs]).toEqual(Array.from({ length: 1_600 }, (_, i) => i + 1));
  });

  it("takes a socket dropped without a close frame (1006) quietly, answering no reserved code", async () => {
    const tenant = await newTenant();
    await tenantClient(tenant.apiKey).command("inventory", "drop", "restock", { quantity: 1 });
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "drop")));
    await runInDurableObject(stub, async (instance, state) => {
      for (const code of [1006, 1005, 1015, 1001]) {
        const { 1: server } = new WebSocketPair();
        state.acceptWebSocket(server);
        await expect(instance.webSocketClose(server, code)).resolves.toBeUndefined();
      }
    });
  });

  it("sends a backlog larger than the slow-subscriber bound in order, page by page", async () => {
    const tenant = await newTenant();
    await seedLog(tenant.id, "wsbig", 1_400);
    const res = await tenantClient(tenant.apiKey).get("/v1/entities/inventory/wsbig/events?after=0", {
      upgrade: "websocket",
    });
    const socket = res.webSocket!;
    const seqs: number[] = [];
    const all = new Promise<void>((resolve) =>
      socket.addEventListener("message", (m) => {
        seqs.push((JSON.parse(m.data as string) as RecordedEvent).seq);
        if (seqs.length === 1_400) resolve();
      }),
    );
    socket.accept();
    await all;
    socket.close(1000, "done");
    expect(seqs).toEqual(Array.from({ length: 1_400 }, (_, i) => i + 1));
  });

  it("sends a socket that outlived its object nothing until a standing check answers, and closes it when its key was revoked", async () => {
    const tenant = await newTenant();
    await tenantClient(tenant.apiKey).command("inventory", "outlived", "restock", { quantity: 1 });
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "outlived")));
    const outcome = await runInDurableObject(stub, async (_instance, state) => {
      const log = [restocked(tenant.id, "outlived", 1)];
      const source: LiveSource = { page: (after, limit) => log.filter((e) => e.seq > after).slice(0, limit) };
      // A socket an earlier incarnation of the object accepted and sent seq 1, for a key since revoked.
      const { 0: client, 1: server } = new WebSocketPair();
      state.acceptWebSocket(server);
      server.serializeAttachment({ cursor: 1, tenant: tenant.id, keyId: "revoked-key" });
      const received: number[] = [];
      client.addEventListener("message", (m) => {
        received.push((JSON.parse(m.data as string) as RecordedEvent).seq);
      });
      const closed = new Promise<number>((resolve) => client.addEventListener("close", (e) => resolve(e.code)));
      client.accept();
      let answer: (standing: Standing) => void = () => {};
      const standing = new Promise<Standing>((resolve) => {
        answer = resolve;
      });
      // The object restarts with no memory and finds the socket; an event is committed before the gate answers.
      const feed = new LiveFeed(state, { revalidateMs: 3_600_000, standing: () => standing }, () => source);
      const event = restocked(tenant.id, "outlived", 2);
      log.push(event);
      feed.publish([event]);
      answer("revoked");
      return { code: await closed, received };
    });
    expect(outcome).toEqual({ code: CLOSE_REVOKED, received: [] });
  });

  it("resumes on the next tick a socket whose backlog page could not be read, with no new event to wake it", async () => {
    const tenant = await newTenant();
    await tenantClient(tenant.apiKey).command("inventory", "stalled", "restock", { quantity: 1 });
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "stalled")));
    const seqs = await runInDurableObject(stub, async (_instance, state) => {
      const log = [1, 2, 3].map((seq) => restocked(tenant.id, "stalled", seq));
      let failures = 1;
      const source: LiveSource = {
        page: (after, limit) => {
          if (failures-- > 0) throw new Error("SQLITE_BUSY");
          return log.filter((e) => e.seq > after).slice(0, limit);
        },
      };
      const feed = new LiveFeed(state, { revalidateMs: 20, standing: async () => "ok" }, () => source);
      const client = feed.openWebSocket(0, { tenant: tenant.id, keyId: null }).webSocket!;
      const received: number[] = [];
      client.addEventListener("message", (m) => {
        received.push((JSON.parse(m.data as string) as RecordedEvent).seq);
      });
      client.accept();
      for (let i = 0; i < 200 && received.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      client.close(1000, "done");
      return received;
    });
    expect(seqs).toEqual([1, 2, 3]);
  });
});
