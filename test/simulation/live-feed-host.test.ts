// Specifications of the live feed's effect sequence (src/core/live/live-feed-host.ts), which the
// entity's Durable Object and the simulator both run: what an SSE stream and a WebSocket are sent
// and when, what a failed read or a failed standing check does, what the periodic check ends, and
// what a fresh incarnation does with the sockets that outlived the last one. The ports here are an
// in-memory log, sockets that record what they are sent, standing answers the test gives by hand
// and a timer the test ticks by hand.
import { describe, expect, it } from "vitest";
import {
  CLOSE_RESUME,
  CLOSE_REVOKED,
  CLOSE_SUSPENDED,
  LiveFeedHost,
  MAX_BUFFERED_BYTES,
  PAGE_EVENTS,
  type LiveFeedPorts,
  type LiveMutations,
  type LiveStreamSink,
  type SocketAttachment,
  type Standing,
} from "../../src/core/live/live-feed-host.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";

/** A WebSocket as the runtime holds it: its attachment, whether it is open, what it was sent. */
interface Socket {
  attachment: SocketAttachment | null;
  open: boolean;
  readonly sent: number[];
  closedWith: number | null;
}

/** An SSE response body: what was written to it, its unread bytes, whether it ended. */
class Sink implements LiveStreamSink {
  readonly sent: number[] = [];
  unread = 0;
  closed = false;
  enqueue(bytes: Uint8Array): void {
    if (this.closed) throw new TypeError("closed");
    this.unread += bytes.byteLength;
    for (const id of new TextDecoder().decode(bytes).matchAll(/^id: (\d+)$/gm)) this.sent.push(Number(id[1]));
  }
  desiredSize(): number {
    return -this.unread;
  }
  close(): void {
    this.closed = true;
  }
}

/** One entity object's log, sockets, gate and timer, as a feed host sees them. */
class EntityObject {
  readonly log: RecordedEvent[] = [];
  readonly sockets: Socket[] = [];
  /** Page reads still to fail. */
  failReads = 0;
  /** The gate's answer per key id; a missing key's check waits until `answer` is called. */
  readonly standings = new Map<string, Standing | Error>();
  readonly waiting: ((standing: Standing) => void)[] = [];
  checks = 0;
  tick: (() => void) | null = null;
  /** As workerd's getWebSockets(): sockets closed by the object stay listed until the runtime lets them go. */
  listsClosing = false;

  record(n: number, dataBytes = 10): RecordedEvent[] {
    const events: RecordedEvent[] = [];
    for (let i = 0; i < n; i++) {
      const seq = this.log.length + 1;
      const event: RecordedEvent = {
        seq,
        type: "Restocked",
        schemaVersion: 1,
        data: { note: "x".repeat(dataBytes) },
        meta: {
          eventId: `ev-${seq}`,
          tenant: "t1",
          entityType: "inventory",
          entityId: "s1",
          hlc: `hlc-${seq}`,
          recordedAt: "2026-01-01T00:00:00.000Z",
          correlationId: "c",
          causationId: null,
          idempotencyKey: null,
          traceparent: null,
        },
      };
      this.log.push(event);
      events.push(event);
    }
    return events;
  }

  /** A socket an earlier incarnation accepted and sent everything up to `cursor`. */
  outlivedSocket(cursor: number, keyId: string | null): Socket {
    const socket = { attachment: { cursor, tenant: "t1", keyId }, open: true, sent: [], closedWith: null };
    this.sockets.push(socket);
    return socket;
  }

  /** A socket the runtime accepted just now (not yet given to the feed). */
  newSocket(): Socket {
    const socket: Socket = { attachment: null, open: true, sent: [], closedWith: null };
    this.sockets.push(socket);
    return socket;
  }

  /** A fresh incarnation's feed over this object. */
  feed(mutations: LiveMutations = {}): LiveFeedHost<Socket> {
    const ports: LiveFeedPorts<Socket> = {
      page: (after, limit) => {
        if (this.failReads > 0) {
          this.failReads--;
          throw new Error("SQLITE_BUSY");
        }
        return this.log.filter((e) => e.seq > after).slice(0, limit);
      },
      sockets: () => (this.listsClosing ? [...this.sockets] : this.sockets.filter((s) => s.open)),
      attachment: (socket) => socket.attachment,
      setAttachment: (socket, attachment) => {
        socket.attachment = attachment;
      },
      send: (socket, text) => {
        if (!socket.open) throw new TypeError("closed");
        socket.sent.push((JSON.parse(text) as RecordedEvent).seq);
      },
      isOpen: (socket) => socket.open,
      close: (socket, code) => {
        socket.open = false;
        socket.closedWith = code;
      },
      standing: async (principal) => {
        this.checks++;
        const answer = this.standings.get(principal.keyId);
        if (answer instanceof Error) throw answer;
        return answer ?? new Promise<Standing>((resolve) => this.waiting.push(resolve));
      },
      now: () => 0,
      turn: () => Promise.resolve(),
      every: (_ms, tick) => {
        this.tick = tick;
        return () => {
          this.tick = null;
        };
      },
    };
    return new LiveFeedHost(ports, { revalidateMs: 1_000 }, mutations);
  }
}

/** Lets every pending continuation run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("a WebSocket subscriber", () => {
  it("is sent its backlog after its cursor, then each event as it is committed, once and in order", async () => {
    const object = new EntityObject();
    object.record(3);
    const feed = object.feed();
    const socket = object.newSocket();
    feed.openWebSocket(socket, 1, { tenant: "t1", keyId: "k1" });
    await settle();
    feed.publish(object.record(2));
    expect(socket.sent).toEqual([2, 3, 4, 5]);
    expect(socket.attachment?.cursor).toBe(5);
  });

  it("is sent a backlog longer than a page a page per turn, in order", async () => {
    const object = new EntityObject();
    object.record(PAGE_EVENTS * 2 + 5);
    const feed = object.feed();
    const socket = object.newSocket();
    feed.openWebSocket(socket, 0, { tenant: "t1", keyId: "k1" });
    expect(socket.sent).toHaveLength(PAGE_EVENTS);
    await settle();
    expect(socket.sent).toEqual(object.log.map((e) => e.seq));
  });

  it("is closed with 4000 after the data once its backlog passes the per-connection bound", async () => {
    const object = new EntityObject();
    object.record(PAGE_EVENTS * 20, 3_000);
    const feed = object.feed();
    const socket = object.newSocket();
    feed.openWebSocket(socket, 0, { tenant: "t1", keyId: "k1" });
    await settle();
    expect(socket.closedWith).toBe(CLOSE_RESUME);
    expect(socket.sent).toEqual(object.log.slice(0, socket.sent.length).map((e) => e.seq));
    expect(socket.sent.length).toBeLessThan(object.log.length);
  });

  it("is not pushed events it already has", async () => {
    const object = new EntityObject();
    const events = object.record(3);
    const feed = object.feed();
    const socket = object.newSocket();
    feed.openWebSocket(socket, 0, { tenant: "t1", keyId: "k1" });
    await settle();
    feed.publish(events);
    expect(socket.sent).toEqual([1, 2, 3]);
  });

  it("reads from the log what it missed when a push does not continue its cursor", async () => {
    const object = new EntityObject();
    const feed = object.feed();
    const socket = object.newSocket();
    object.failReads = 1;
    feed.openWebSocket(socket, 0, { tenant: "t1", keyId: "k1" });
    await settle();
    object.record(2);
    feed.publish(object.record(1));
    await settle();
    expect(socket.sent).toEqual([1, 2, 3]);
  });

  it("whose page could not be read is resumed by the next tick", async () => {
    const object = new EntityObject();
    object.record(3);
    const feed = object.feed();
    const socket = object.newSocket();
    object.failReads = 1;
    feed.openWebSocket(socket, 0, { tenant: "t1", keyId: "k1" });
    await settle();
    expect(socket.sent).toEqual([]);
    object.standings.set("k1", "ok");
    object.tick?.();
    await settle();
    expect(socket.sent).toEqual([1, 2, 3]);
  });

  it("is closed with 4401 once its key is revoked, and with 4403 once its tenant is suspended", async () => {
    const object = new EntityObject();
    const feed = object.feed();
    const revoked = object.newSocket();
    const suspended = object.newSocket();
    feed.openWebSocket(revoked, 0, { tenant: "t1", keyId: "k1" });
    feed.openWebSocket(suspended, 0, { tenant: "t1", keyId: "k2" });
    object.standings.set("k1", "revoked");
    object.standings.set("k2", "suspended");
    await feed.revalidate();
    expect([revoked.closedWith, suspended.closedWith]).toEqual([CLOSE_REVOKED, CLOSE_SUSPENDED]);
  });

  it("closed at a check stops the re-check timer when it was the last, though the runtime still lists it", async () => {
    const object = new EntityObject();
    object.listsClosing = true;
    const feed = object.feed();
    const socket = object.newSocket();
    feed.openWebSocket(socket, 0, { tenant: "t1", keyId: "k1" });
    expect(object.tick).not.toBeNull();
    object.standings.set("k1", "revoked");
    await feed.revalidate();
    expect(socket.closedWith).toBe(CLOSE_REVOKED);
    // A running timer keeps the object awake, and workerd ends a closed hibernatable socket's
    // connection only once the object hibernates: the client would wait one more interval.
    expect(object.tick).toBeNull();
  });
});

describe("a WebSocket that outlived its object", () => {
  it("is sent nothing until a standing check of the new incarnation answers", async () => {
    const object = new EntityObject();
    object.record(1);
    const socket = object.outlivedSocket(1, "k1");
    const feed = object.feed();
    feed.publish(object.record(1));
    await settle();
    expect(socket.sent).toEqual([]);
    expect(object.checks).toBe(1);
  });

  it("is sent what it missed from the log, then live, once its key is found in standing", async () => {
    const object = new EntityObject();
    object.record(1);
    const socket = object.outlivedSocket(1, "k1");
    const feed = object.feed();
    feed.publish(object.record(1));
    for (const answer of object.waiting) answer("ok");
    await settle();
    feed.publish(object.record(1));
    expect(socket.sent).toEqual([2, 3]);
  });

  it("of a revoked key is closed with 4401 having been sent nothing", async () => {
    const object = new EntityObject();
    const socket = object.outlivedSocket(0, "k1");
    const feed = object.feed();
    feed.publish(object.record(1));
    for (const answer of object.waiting) answer("revoked");
    await settle();
    expect({ sent: socket.sent, closedWith: socket.closedWith }).toEqual({ sent: [], closedWith: CLOSE_REVOKED });
  });

  it("stays unsent when its check fails, until a later tick's check answers", async () => {
    const object = new EntityObject();
    const socket = object.outlivedSocket(0, "k1");
    object.standings.set("k1", new Error("gate unreachable"));
    const feed = object.feed();
    feed.publish(object.record(1));
    await settle();
    expect(socket.sent).toEqual([]);
    object.standings.set("k1", "ok");
    object.tick?.();
    await settle();
    expect(socket.sent).toEqual([1]);
  });

  it("of the operator (no key) is sent to without asking the gate", async () => {
    const object = new EntityObject();
    const socket = object.outlivedSocket(0, null);
    const feed = object.feed();
    await settle();
    feed.publish(object.record(1));
    expect({ sent: socket.sent, checks: object.checks }).toEqual({ sent: [1], checks: 0 });
  });
});

describe("an SSE subscriber", () => {
  it("is sent a page of its backlog per read, then each event as it is committed", () => {
    const object = new EntityObject();
    object.record(PAGE_EVENTS + 1);
    const feed = object.feed();
    const sink = new Sink();
    const stream = feed.openStream(sink, 0, { tenant: "t1", keyId: "k1" });
    feed.pull(stream);
    expect(sink.sent).toHaveLength(PAGE_EVENTS);
    feed.pull(stream);
    expect(stream.live).toBe(true);
    feed.publish(object.record(1));
    expect(sink.sent).toEqual(object.log.map((e) => e.seq));
  });

  it("that leaves over the buffered bound unread goes back to reading the log, missing nothing", () => {
    const object = new EntityObject();
    const feed = object.feed();
    const sink = new Sink();
    const stream = feed.openStream(sink, 0, { tenant: "t1", keyId: "k1" });
    feed.pull(stream);
    feed.publish(object.record(1, MAX_BUFFERED_BYTES));
    expect(stream.live).toBe(false);
    expect(sink.sent).toEqual([]);
    sink.unread = 0;
    feed.pull(stream);
    expect(sink.sent).toEqual([1]);
  });

  it("whose page could not be read is ended, for its client to resume after its last id", () => {
    const object = new EntityObject();
    object.record(2);
    const feed = object.feed();
    const sink = new Sink();
    const stream = feed.openStream(sink, 0, { tenant: "t1", keyId: "k1" });
    object.failReads = 1;
    feed.pull(stream);
    expect(sink.closed).toBe(true);
  });

  it("is ended once its key is revoked", async () => {
    const object = new EntityObject();
    const feed = object.feed();
    const sink = new Sink();
    feed.openStream(sink, 0, { tenant: "t1", keyId: "k1" });
    object.standings.set("k1", "revoked");
    await feed.revalidate();
    expect(sink.closed).toBe(true);
  });
});

describe("the L1 switch (test-only)", () => {
  it("pushes events that do not continue the cursor, which the rule refuses", async () => {
    const object = new EntityObject();
    const feed = object.feed({ livePushIgnoresCursor: true });
    const socket = object.newSocket();
    object.failReads = 1;
    feed.openWebSocket(socket, 0, { tenant: "t1", keyId: "k1" });
    await settle();
    object.record(1);
    feed.publish(object.record(1));
    expect(socket.sent).toEqual([2]);
  });
});
