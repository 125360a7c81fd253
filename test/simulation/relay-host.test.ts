// Specifications of the outbox relay's effect sequence (src/core/outbox/relay-host.ts), which the
// Durable Object and the simulator both run: when a send starts, what a batch holds, when the
// outbox and the cursors move, what a failure, an acknowledgement, a missing acknowledgement and a
// size refusal do, and what a fresh incarnation picks up. The ports here are plain in-memory
// storage, a scripted queue and a hand-moved clock.
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { RELAY_CURSORS_AT_START, RELAY_POLICY, type RelayCursors } from "../../src/core/outbox/relay.js";
import {
  OutboxRelayHost,
  type ParkedFact,
  type RelayOutcome,
  type RelayPorts,
} from "../../src/core/outbox/relay-host.js";
import { factMessage, type FactsQueueMessage } from "../../src/core/protocol/cloud-event.js";
import type { HandOff } from "../../src/core/protocol/entity-protocol.js";

const NOW = 1_767_225_600_000;

/** One entity's durable storage, its queue and alarm, and a clock, as a relay host sees them. */
class Entity {
  readonly log: RecordedEvent[] = [];
  readonly parked = new Map<number, ParkedFact>();
  cursors: RelayCursors = RELAY_CURSORS_AT_START;
  /** Writes of the cursors (production: a `relay_state` row written each). */
  saves = 0;
  now = NOW;
  alarm: number | null = null;
  /** Batches the queue accepted, each as the seqs it carried (a notice as `p<seq>`). */
  readonly accepted: string[][] = [];
  /** Decides each send: an error refuses it, undefined accepts it. */
  refuse: (messages: readonly FactsQueueMessage[]) => Error | undefined = () => undefined;
  /** Sends in progress that the test releases by hand, when set. */
  hold: (() => void)[] | null = null;
  readonly background: Promise<RelayOutcome>[] = [];
  readonly reported: string[] = [];

  /** Records facts 1..n more, `bytes` of data each, as a command's transaction does. */
  record(n: number, dataBytes = 10): { event: RecordedEvent; message: ReturnType<typeof factMessage> }[] {
    const facts = [];
    for (let i = 0; i < n; i++) {
      const seq = this.log.length + 1;
      const event: RecordedEvent = {
        seq,
        type: "Restocked",
        schemaVersion: 1,
        data: { note: "x".repeat(dataBytes) },
        meta: {
          eventId: `ev-${seq}`,
          tenant: "t",
          entityType: "inventory",
          entityId: "s1",
          hlc: `hlc-${seq}`,
          recordedAt: new Date(this.now).toISOString(),
          correlationId: "c",
          causationId: null,
          idempotencyKey: null,
          traceparent: null,
        },
      };
      this.log.push(event);
      facts.push({ event, message: factMessage(event) });
    }
    return facts;
  }

  ports(): RelayPorts {
    return {
      storage: {
        readCursors: () => this.cursors,
        saveCursors: (c) => {
          this.cursors = c;
          this.saves++;
        },
        parked: (first, last) => new Map([...this.parked].filter(([seq]) => seq >= first && seq <= last)),
        park: (fact) => {
          if (!this.parked.has(fact.seq)) this.parked.set(fact.seq, fact);
        },
      },
      head: () => this.log.length,
      read: (after, upTo) => this.log.slice(after, upTo),
      send: async (messages) => {
        if (this.hold) await new Promise<void>((release) => this.hold?.push(release));
        const refused = this.refuse(messages);
        if (refused) throw refused;
        this.accepted.push(messages.map((m) => ("kind" in m ? `p${m.seq}` : String(m.seq))));
      },
      afterSend: () => {},
      sleep: async () => {},
      now: () => this.now,
      setAlarm: (at) => {
        this.alarm = at;
      },
      deleteAlarm: () => {
        this.alarm = null;
      },
      background: (work) => {
        this.background.push(work);
      },
      parked: (fact, cause) => this.reported.push(`${fact.seq} ${cause.kind}`),
    };
  }

  /**
   * The facts still to send, the log from the `pendingFrom` cursor on: as `relay` holds its cursors,
   * or as storage holds them (what an object restarted now would send).
   */
  outbox(relay?: OutboxRelayHost): number[] {
    return this.log.slice((relay?.cursors ?? this.cursors).pendingFrom - 1).map((e) => e.seq);
  }

  /** A relay as a freshly woken object builds it over this storage. */
  relay(policy = RELAY_POLICY): OutboxRelayHost {
    return new OutboxRelayHost(this.ports(), policy);
  }

  /** One command's transaction and commit: the facts recorded (which stages them), then handed to the relay. */
  commit(relay: OutboxRelayHost, n: number, dataBytes = 10): void {
    relay.committed(this.record(n, dataBytes));
  }

  /** Lets the sends held so far go on, and holds no more. */
  release(): void {
    const held = this.hold ?? [];
    this.hold = null;
    for (const go of held) go();
  }

  async settled(): Promise<RelayOutcome[]> {
    return Promise.all(this.background);
  }
}

/** An entity whose relay has sent the `n` facts of one commit, none of them acknowledged yet. */
async function sent(n: number): Promise<{ entity: Entity; relay: OutboxRelayHost }> {
  const entity = new Entity();
  const relay = entity.relay();
  entity.commit(relay, n);
  await entity.settled();
  return { entity, relay };
}

/** An entity whose queue refuses every send, after one commit's send failed. */
async function failedSend(): Promise<{ entity: Entity; relay: OutboxRelayHost; outcome?: RelayOutcome }> {
  const entity = new Entity();
  entity.refuse = () => new Error("queue unavailable");
  const relay = entity.relay();
  entity.commit(relay, 1);
  const [outcome] = await entity.settled();
  return { entity, relay, outcome };
}

/** Size refusals in the queue's own words. */
function tooLarge(): Error {
  return new Error("message size of 130000 bytes exceeds limit of 128000");
}

describe("sending on commit", () => {
  it("sends a commit's facts at once and only then moves the outbox and sent cursors past them", async () => {
    const entity = new Entity();
    const relay = entity.relay();
    entity.commit(relay, 2);
    expect(entity.outbox(relay)).toEqual([1, 2]);
    expect(await entity.settled()).toEqual([{ sent: 2, redelivered: 0 }]);
    expect(entity.accepted).toEqual([["1", "2"]]);
    expect(entity.outbox(relay)).toEqual([]);
    expect(relay.cursors.sentUpTo).toBe(2);
  });

  it("arms the alarm as a safety net before the send, so an object evicted mid-send still sends", () => {
    const entity = new Entity();
    entity.hold = [];
    entity.commit(entity.relay(), 1);
    expect(entity.alarm).toBe(NOW + RELAY_POLICY.safetyNetMs);
    expect(entity.accepted).toEqual([]);
  });

  it("starts no second send while one is in flight: facts committed meanwhile leave in its next batch", async () => {
    const entity = new Entity();
    entity.hold = [];
    const relay = entity.relay();
    entity.commit(relay, 1);
    entity.commit(relay, 2);
    expect(entity.background).toHaveLength(1);
    entity.release();
    await entity.settled();
    expect(entity.accepted).toEqual([["1"], ["2", "3"]]);
  });

  it("keeps a batch within the queue's message count and sends the rest in the same run", async () => {
    const { entity } = await sent(150);
    expect(entity.accepted.map((b) => b.length)).toEqual([100, 50]);
  });

  it("keeps a batch within the queue's byte limit as the queue counts them", async () => {
    const entity = new Entity();
    const relay = entity.relay({ ...RELAY_POLICY, batchBytes: 2_000 });
    entity.commit(relay, 6, 400);
    await entity.settled();
    expect(entity.accepted.map((b) => b.length)).toEqual([2, 2, 2]);
  });
});

describe("handing facts to a command's caller", () => {
  const seqs = (handOff: HandOff | undefined) => handOff?.messages.map((m) => m.body.seq);

  it("hands a commit's facts to the caller instead of sending them, and takes them out of the outbox", () => {
    const entity = new Entity();
    const relay = entity.relay();
    const handOff = relay.handOff(entity.record(2));
    expect(handOff?.fromSeq).toBe(1);
    expect(seqs(handOff)).toEqual([1, 2]);
    expect(entity.accepted).toEqual([]);
    expect(entity.background).toHaveLength(0);
    expect(entity.outbox(relay)).toEqual([]);
    expect(relay.cursors).toMatchObject({ sentUpTo: 2, redeliverAt: NOW + RELAY_POLICY.ackTimeoutMs });
  });

  it("arms a batch handed off whole only for its acknowledgement deadline: the safety net would find nothing to send", () => {
    const entity = new Entity();
    entity.relay().handOff(entity.record(2));
    expect(entity.alarm).toBe(NOW + RELAY_POLICY.ackTimeoutMs);
  });

  it("arms the safety net for what a hand-off leaves in the outbox", () => {
    const entity = new Entity();
    entity.hold = [];
    entity.relay().handOff(entity.record(150));
    expect(entity.alarm).toBe(NOW + RELAY_POLICY.safetyNetMs);
  });

  it("sends, from the alarm at the acknowledgement deadline, what an incarnation restarted before writing its cursors had handed off", async () => {
    const entity = new Entity();
    entity.relay().handOff(entity.record(2));
    expect(entity.saves).toBe(0);
    entity.now = entity.alarm ?? entity.now;
    expect(await entity.relay().alarmFired()).toEqual({ sent: 2, redelivered: 0 });
    expect(entity.accepted).toEqual([["1", "2"]]);
  });

  it("hands off the facts still pending before the commit's own, in log order", () => {
    const entity = new Entity();
    // Staged by an incarnation evicted before its send.
    entity.record(1);
    expect(seqs(entity.relay().handOff(entity.record(1)))).toEqual([1, 2]);
  });

  it("hands nothing off while a send of its own is in flight: that send's next batch takes the facts", () => {
    const entity = new Entity();
    entity.hold = [];
    const relay = entity.relay();
    entity.commit(relay, 1);
    expect(relay.handOff(entity.record(1))).toBeUndefined();
    expect(entity.outbox(relay)).toEqual([1, 2]);
  });

  it("hands nothing off while sends fail: the alarm sends with backoff", async () => {
    const { entity, relay } = await failedSend();
    expect(relay.handOff(entity.record(1))).toBeUndefined();
    expect(entity.outbox(relay)).toEqual([1, 2]);
  });

  it("hands off one batch within the queue's limits and sends the rest itself", async () => {
    const entity = new Entity();
    const relay = entity.relay();
    expect(seqs(relay.handOff(entity.record(150)))).toHaveLength(100);
    await entity.settled();
    expect(entity.accepted.map((b) => b.length)).toEqual([50]);
    expect(entity.outbox(relay)).toEqual([]);
  });

  it("puts the facts of a failed hand-off back into the outbox, not counted as sent, and sends them itself after a backoff", async () => {
    const entity = new Entity();
    const relay = entity.relay();
    relay.handOff(entity.record(2));
    await relay.handOffFailed(1);
    expect(entity.outbox()).toEqual([1, 2]);
    expect(entity.cursors).toMatchObject({ sentUpTo: 0, redeliverAt: null });
    // Re-armed for the backoff (full jitter: from 0 ms), before the commit's safety net.
    expect(entity.alarm).toBeGreaterThanOrEqual(NOW);
    expect(entity.alarm).toBeLessThan(NOW + RELAY_POLICY.safetyNetMs);
    expect(relay.handOff(entity.record(1))).toBeUndefined();
    expect(await relay.alarmFired()).toEqual({ sent: 3, redelivered: 0 });
    expect(entity.accepted).toEqual([["1", "2", "3"]]);
  });

  it("sends again only what the consumer has not acknowledged when a hand-off fails", async () => {
    const entity = new Entity();
    const relay = entity.relay();
    relay.handOff(entity.record(3));
    relay.acknowledge(2);
    await relay.handOffFailed(1);
    expect(entity.outbox()).toEqual([3]);
  });

  it("changes nothing when a failed hand-off was acknowledged meanwhile", async () => {
    const entity = new Entity();
    const relay = entity.relay();
    relay.handOff(entity.record(2));
    relay.acknowledge(2);
    const before = entity.cursors;
    await relay.handOffFailed(1);
    expect(entity.cursors).toEqual({ ...before, sentUpTo: 0 });
    expect(entity.outbox()).toEqual([]);
  });

  it("repairs a hand-off its caller never sent nor reported with the probe at the acknowledgement deadline", async () => {
    const entity = new Entity();
    const relay = entity.relay();
    relay.handOff(entity.record(2));
    entity.now += RELAY_POLICY.ackTimeoutMs;
    expect(await relay.alarmFired()).toEqual({ sent: 1, redelivered: 1 });
    expect(entity.accepted).toEqual([["2"]]);
  });
});

describe("writing the cursors", () => {
  it("writes the cursors a send moved together with the acknowledgement that follows, not on their own", async () => {
    const { entity, relay } = await sent(2);
    expect(entity.saves).toBe(0);
    relay.acknowledge(2);
    expect(entity.saves).toBe(1);
    expect(entity.cursors).toMatchObject({ pendingFrom: 3, sentUpTo: 2, ackedUpTo: 2, redeliverAt: null });
  });

  it("writes them at once when everything sent is acknowledged already, since no acknowledgement will follow", async () => {
    const entity = new Entity();
    entity.hold = [];
    const relay = entity.relay();
    entity.commit(relay, 2);
    relay.acknowledge(2);
    entity.release();
    await entity.settled();
    expect(entity.cursors).toMatchObject({ pendingFrom: 3, sentUpTo: 2, ackedUpTo: 2, redeliverAt: null });
  });

  it("writes them once more than a batch's worth of sends would stay unwritten", async () => {
    const entity = new Entity();
    const relay = entity.relay({ ...RELAY_POLICY, batchMessages: 2 });
    for (let i = 0; i < 3; i++) {
      entity.commit(relay, 1);
      await Promise.all(entity.background);
    }
    expect(entity.accepted).toEqual([["1"], ["2"], ["3"]]);
    expect(entity.saves).toBe(1);
    expect(entity.cursors).toMatchObject({ pendingFrom: 4, sentUpTo: 3 });
  });

  it("keeps the alarm armed while sent cursors are unwritten, so a restarted object sends those facts again: duplicates, never a loss", async () => {
    const { entity } = await sent(2);
    expect(entity.alarm).not.toBeNull();
    entity.now = entity.alarm ?? entity.now;
    expect(await entity.relay().alarmFired()).toEqual({ sent: 2, redelivered: 0 });
    expect(entity.accepted).toEqual([
      ["1", "2"],
      ["1", "2"],
    ]);
  });

  it("writes them when the alarm fires before any acknowledgement, so a later restart sends nothing again", async () => {
    const { entity, relay } = await sent(2);
    entity.now = entity.alarm ?? entity.now;
    await relay.alarmFired();
    expect(entity.cursors).toMatchObject({ pendingFrom: 3, sentUpTo: 2, ackedUpTo: 0 });
    expect(await entity.relay().alarmFired()).toEqual({ sent: 0, redelivered: 0 });
  });

  it("takes what the consumer acknowledged out of a restarted object's outbox, so it is not sent again", async () => {
    const { entity } = await sent(2);
    const woken = entity.relay();
    woken.acknowledge(2);
    expect(entity.outbox()).toEqual([]);
    expect(await woken.alarmFired()).toEqual({ sent: 0, redelivered: 0 });
    expect(entity.accepted).toEqual([["1", "2"]]);
  });
});

describe("failed sends", () => {
  it("keeps the facts in the outbox and retries them from the alarm after a backoff", async () => {
    const { entity, relay, outcome } = await failedSend();
    expect(outcome?.error).toBe("queue unavailable");
    expect(entity.outbox()).toEqual([1]);
    // Re-armed for the backoff (full jitter: from 0 ms), before the commit's safety net.
    expect(entity.alarm).toBeGreaterThanOrEqual(NOW);
    expect(entity.alarm).toBeLessThan(NOW + RELAY_POLICY.safetyNetMs);

    entity.refuse = () => undefined;
    expect(await relay.alarmFired()).toEqual({ sent: 1, redelivered: 0 });
    expect(entity.outbox(relay)).toEqual([]);
  });

  it("leaves sends to the alarm while they fail: a commit starts none", async () => {
    const { entity, relay } = await failedSend();
    entity.commit(relay, 1);
    expect(entity.background).toHaveLength(1);
    expect(entity.outbox()).toEqual([1, 2]);
  });

  it("asks shed clients to wait longer while sends fail", async () => {
    const entity = new Entity();
    entity.refuse = () => new Error("queue unavailable");
    const relay = entity.relay();
    expect(relay.retryAfterSeconds()).toBe(1);
    entity.commit(relay, 1);
    await entity.settled();
    await relay.alarmFired();
    await relay.alarmFired();
    await relay.alarmFired();
    expect(relay.retryAfterSeconds()).toBeGreaterThan(1);
  });
});

describe("acknowledgements", () => {
  it("bounds the backlog by what the consumer acknowledged and clears the alarm once all is acknowledged", async () => {
    const { entity, relay } = await sent(3);
    expect(relay.backlog(3)).toBe(3);
    relay.acknowledge(3);
    expect(relay.backlog(3)).toBe(0);
    expect(entity.cursors.ackedUpTo).toBe(3);
    expect(entity.alarm).toBeNull();
  });

  it("keeps the alarm for the re-send deadline while part of what was sent is unacknowledged", async () => {
    const { entity, relay } = await sent(3);
    entity.now += 1_000;
    relay.acknowledge(2);
    expect(entity.alarm).toBe(entity.now + RELAY_POLICY.ackTimeoutMs);
  });
});

describe("probes", () => {
  it("re-sends only the newest unacknowledged fact once its acknowledgement is overdue", async () => {
    const { entity, relay } = await sent(3);
    entity.now += RELAY_POLICY.ackTimeoutMs;
    expect(await relay.alarmFired()).toEqual({ sent: 1, redelivered: 1 });
    expect(entity.accepted).toEqual([["1", "2", "3"], ["3"]]);
  });

  it("doubles the wait before the next probe while nothing is acknowledged", async () => {
    const { entity, relay } = await sent(1);
    entity.now += RELAY_POLICY.ackTimeoutMs;
    await relay.alarmFired();
    expect(entity.alarm).toBe(entity.now + 2 * RELAY_POLICY.ackTimeoutMs);
  });

  it("sends a probe and the facts committed after it in one run, leaving the outbox empty", async () => {
    const { entity, relay } = await sent(3);
    entity.now += RELAY_POLICY.ackTimeoutMs;
    entity.commit(relay, 150);
    expect(await entity.settled()).toEqual([
      { sent: 3, redelivered: 0 },
      { sent: 151, redelivered: 1 },
    ]);
    expect(entity.accepted.slice(1).map((b) => [b[0], b.length])).toEqual([
      ["3", 100],
      ["103", 51],
    ]);
    expect(entity.outbox(relay)).toEqual([]);
  });

  it("sends no probe before the deadline", async () => {
    const { entity, relay } = await sent(1);
    entity.now += RELAY_POLICY.ackTimeoutMs - 1;
    expect(await relay.alarmFired()).toEqual({ sent: 0, redelivered: 0 });
  });
});

describe("facts the queue cannot carry", () => {
  it("parks a fact over the message limit before sending and sends its notice in its place", async () => {
    const entity = new Entity();
    const relay = entity.relay({ ...RELAY_POLICY, messageBytes: 1_000 });
    entity.commit(relay, 1);
    entity.commit(relay, 1, 2_000);
    entity.commit(relay, 1);
    await entity.settled();
    expect(entity.accepted.flat()).toEqual(["1", "p2", "3"]);
    expect([...entity.parked.keys()]).toEqual([2]);
    expect(entity.reported).toEqual(["2 too-large"]);
    expect(relay.cursors.sentUpTo).toBe(3);
  });

  it("halves a batch the queue refuses for its size, and parks a fact it refuses on its own", async () => {
    const entity = new Entity();
    entity.refuse = (messages) => (messages.some((m) => !("kind" in m) && m.seq === 3) ? tooLarge() : undefined);
    entity.commit(entity.relay(), 4);
    await entity.settled();
    expect(entity.accepted).toEqual([["1", "2"], ["p3"], ["4"]]);
    expect(entity.reported).toEqual(["3 refused"]);
    expect(entity.parked.get(3)?.reason).toMatch(/^the queue refused it: message size/);
  });

  it("sends a parked fact's notice again, not the fact, when the fact must go again", async () => {
    const entity = new Entity();
    const relay = entity.relay({ ...RELAY_POLICY, messageBytes: 1_000 });
    entity.commit(relay, 1, 2_000);
    await entity.settled();
    entity.now += RELAY_POLICY.ackTimeoutMs;
    await relay.alarmFired();
    expect(entity.accepted).toEqual([["p1"], ["p1"]]);
    expect(entity.reported).toEqual(["1 too-large"]);
  });

  it("retries with backoff, parking nothing, when the queue refuses a lone notice for its size", async () => {
    const entity = new Entity();
    entity.refuse = tooLarge;
    const relay = entity.relay({ ...RELAY_POLICY, messageBytes: 1_000 });
    entity.commit(relay, 1, 2_000);
    const [outcome] = await entity.settled();
    expect(outcome?.error).toMatch(/exceeds limit/);
    expect(entity.outbox()).toEqual([1]);
    expect(entity.reported).toEqual(["1 too-large"]);
  });
});

describe("a fresh incarnation", () => {
  it("sends from the log, on its alarm, what an evicted incarnation staged and never sent", async () => {
    const entity = new Entity();
    entity.hold = [];
    entity.commit(entity.relay(), 2);
    // Evicted mid-send: that incarnation's send never completes; storage and alarm survive.
    const woken = entity.relay();
    entity.hold = null;
    expect(await woken.alarmFired()).toEqual({ sent: 2, redelivered: 0 });
    expect(entity.accepted).toEqual([["1", "2"]]);
    expect(woken.cursors.sentUpTo).toBe(2);
  });

  it("arms its own safety net when an alarm starts a run, so a run cut short is sent again from the next alarm", async () => {
    const entity = new Entity();
    entity.record(2);
    const woken = entity.relay();
    entity.alarm = null; // the alarm that woke it has fired
    entity.hold = [];
    void woken.alarmFired();
    // Evicted mid-send: the run never completes, and the fired alarm is spent.
    expect(entity.alarm).toBe(NOW + RELAY_POLICY.safetyNetMs);
    entity.hold = null;
    entity.now = NOW + RELAY_POLICY.safetyNetMs;
    const next = entity.relay();
    expect(await next.alarmFired()).toEqual({ sent: 2, redelivered: 0 });
    expect(entity.outbox(next)).toEqual([]);
  });

  it("reads its cursors back: the backlog survives an eviction", async () => {
    const { entity, relay } = await sent(3);
    relay.acknowledge(1);
    expect(entity.relay().backlog(3)).toBe(2);
  });

  it("re-sends a batch a crash left in the outbox after the queue accepted it: a duplicate, never a loss", async () => {
    const entity = new Entity();
    const ports = entity.ports();
    const crashed = new OutboxRelayHost({ ...ports, afterSend: () => new Promise<void>(() => {}) });
    crashed.committed(entity.record(1));
    await new Promise((r) => setTimeout(r, 0));
    expect(entity.outbox()).toEqual([1]);
    const woken = entity.relay();
    await woken.alarmFired();
    expect(entity.accepted).toEqual([["1"], ["1"]]);
    expect(entity.outbox(woken)).toEqual([]);
  });
});
