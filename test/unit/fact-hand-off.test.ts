// The facts entities hand to their commands' callers (src/core/outbox/fact-hand-off.ts), sent by
// the first caller of a linger window for every caller that joined it: one `sendBatch` for many
// entities, and a failed send reported to each entity in it, which then sends its facts itself.
import { afterEach, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { FactHandOff, type HandOffPorts } from "../../src/core/outbox/fact-hand-off.js";
import type { EntityAddress, HandOff } from "../../src/core/protocol/entity-protocol.js";
import { factMessage, type FactsQueueMessage } from "../../src/core/protocol/cloud-event.js";
import { armFault, InjectedFault } from "../../src/core/resilience/fault-injection.js";

const address = (entityId: string): EntityAddress => ({ tenant: "acme", entityType: "inventory", entityId });

function handOff(entityId: string, seq: number): HandOff {
  const event: RecordedEvent = {
    seq,
    type: "Restocked",
    schemaVersion: 1,
    data: { quantity: 1 },
    meta: {
      eventId: `${entityId}-${seq}`,
      tenant: "acme",
      entityType: "inventory",
      entityId,
      hlc: "1764547200000.000000",
      recordedAt: "2026-12-01T00:00:00.000Z",
      correlationId: "c-1",
      causationId: null,
      idempotencyKey: null,
      traceparent: null,
    },
  };
  return { fromSeq: seq, messages: [factMessage(event)] };
}

/** Ports whose linger ends when the test says so, recording sends and failure reports. */
function recordingPorts(options: { refuse?: boolean } = {}) {
  const sends: FactsQueueMessage[][] = [];
  const reported: string[] = [];
  let endLinger = () => {};
  const ports: HandOffPorts = {
    send: async (messages) => {
      if (options.refuse) throw new Error("the queue refused the batch");
      sends.push([...messages]);
    },
    reportFailure: async (a, fromSeq) => {
      reported.push(`${a.entityId}@${fromSeq}`);
    },
    wait: () =>
      new Promise<void>((resolve) => {
        endLinger = resolve;
      }),
  };
  return { ports, sends, reported, endLinger: () => endLinger() };
}

const disarms: (() => void)[] = [];
afterEach(() => {
  for (const disarm of disarms.splice(0)) disarm();
});

describe("a fact hand-off", () => {
  it("sends the facts of every caller that joined a linger window in one batch, sent by its first caller", async () => {
    const hand = new FactHandOff();
    const { ports, sends, endLinger } = recordingPorts();
    const first = hand.add(ports, address("a"), handOff("a", 1));
    await hand.add(ports, address("b"), handOff("b", 4));
    await hand.add(ports, address("c"), handOff("c", 2));
    expect(sends).toEqual([]);

    endLinger();
    await first;
    expect(sends.map((batch) => batch.map((m) => ("id" in m ? m.id : null)))).toEqual([["a-1", "b-4", "c-2"]]);
  });

  it("reports a refused send to every entity in it, with where its facts began", async () => {
    const hand = new FactHandOff();
    const { ports, reported, endLinger } = recordingPorts({ refuse: true });
    const first = hand.add(ports, address("a"), handOff("a", 1));
    void hand.add(ports, address("b"), handOff("b", 7));
    endLinger();
    await first;
    expect(reported).toEqual(["a@1", "b@7"]);
  });

  it("leaves out of the send, and reports, the entity whose send fails at its fault seam", async () => {
    disarms.push(
      armFault("relay.send", (ctx) => {
        if (ctx.entityId === "b") throw new InjectedFault("relay.send");
      }),
    );
    const hand = new FactHandOff();
    const { ports, sends, reported, endLinger } = recordingPorts();
    const first = hand.add(ports, address("a"), handOff("a", 1));
    void hand.add(ports, address("b"), handOff("b", 3));
    endLinger();
    await first;
    expect(sends.flat().map((m) => ("id" in m ? m.id : null))).toEqual(["a-1"]);
    expect(reported).toEqual(["b@3"]);
  });

  it("is settled once the window's send is done, and starts a new window for the next caller", async () => {
    const hand = new FactHandOff();
    const { ports, sends, endLinger } = recordingPorts();
    const first = hand.add(ports, address("a"), handOff("a", 1));
    const settled = hand.settled(async () => {});
    endLinger();
    await Promise.all([first, settled]);
    expect(sends).toHaveLength(1);

    const second = hand.add(ports, address("a"), handOff("a", 2));
    endLinger();
    await second;
    expect(sends).toHaveLength(2);
  });
});
