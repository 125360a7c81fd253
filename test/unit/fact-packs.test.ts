// Facts travel the queue in packs (the CloudEvents JSON batch format), and a pack is consumed as
// one message per fact, settled together: these specify both halves.
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { packParts, settlePartsTogether } from "../../src/core/consumer/packed-message.js";
import {
  FACT_PACK_FACTS,
  factMessage,
  packFactMessages,
  parkedFactNotice,
  queueMessageBytes,
} from "../../src/core/protocol/cloud-event.js";

function fact(entityId: string, seq: number, note = ""): RecordedEvent {
  return {
    seq,
    type: "Restocked",
    schemaVersion: 1,
    data: { quantity: 1, note },
    meta: {
      eventId: `e-${entityId}-${seq}`,
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
}

const ids = (body: unknown) =>
  Array.isArray(body) ? body.map((f: { id: string }) => f.id) : (body as { id: string }).id;

describe("packing facts for the queue", () => {
  it("puts consecutive facts of any entities in one pack, in order", () => {
    const messages = [fact("a", 1), fact("b", 1), fact("a", 2)].map(factMessage);
    expect(packFactMessages(messages, 64_000).map(ids)).toEqual([["e-a-1", "e-b-1", "e-a-2"]]);
  });

  it("sends a lone fact as its plain CloudEvent, not a pack of one", () => {
    const [only] = packFactMessages([factMessage(fact("a", 1))], 64_000);
    expect(Array.isArray(only)).toBe(false);
    expect(ids(only)).toBe("e-a-1");
  });

  it("starts a new pack where the next fact would take it past the limit, as the queue counts bytes", () => {
    const messages = [1, 2, 3, 4, 5].map((seq) => factMessage(fact("a", seq, "é".repeat(300))));
    const limit = 2 * (messages[0]?.bytes ?? 0);
    const bodies = packFactMessages(messages, limit);
    for (const body of bodies) expect(queueMessageBytes(body)).toBeLessThanOrEqual(limit);
    expect(bodies.flatMap((b) => ids(b))).toEqual(["e-a-1", "e-a-2", "e-a-3", "e-a-4", "e-a-5"]);
    expect(bodies.length).toBeGreaterThan(1);
  });

  it("measures a pack exactly: its size is the size the queue counts", () => {
    const messages = [fact("a", 1, "ü"), fact("b", 2)].map(factMessage);
    const exact = queueMessageBytes(messages.map((m) => m.body));
    expect(packFactMessages(messages, exact)).toHaveLength(1);
    expect(packFactMessages(messages, exact - 1)).toHaveLength(2);
  });

  it("puts at most FACT_PACK_FACTS facts in one pack, however small", () => {
    const messages = Array.from({ length: 2 * FACT_PACK_FACTS + 1 }, (_, i) => factMessage(fact("a", i + 1)));
    const bodies = packFactMessages(messages, 64_000);
    expect(bodies.map((b) => (Array.isArray(b) ? b.length : 1))).toEqual([FACT_PACK_FACTS, FACT_PACK_FACTS, 1]);
  });

  it("sends a parked fact's notice alone, between the packs around it", () => {
    const notice = parkedFactNotice(fact("a", 2), 200_000, "too large", 0);
    const messages = [
      factMessage(fact("a", 1)),
      { body: notice, bytes: queueMessageBytes(notice) },
      factMessage(fact("a", 3)),
      factMessage(fact("b", 1)),
    ];
    const bodies = packFactMessages(messages, 64_000);
    expect(bodies[0]).toMatchObject({ id: "e-a-1" });
    expect(bodies[1]).toBe(notice);
    expect(bodies.slice(2).map(ids)).toEqual([["e-a-3", "e-b-1"]]);
  });
});

describe("consuming a pack", () => {
  const recorder = () => {
    const calls: string[] = [];
    return { calls, settle: { ack: () => calls.push("ack"), retry: (d: number) => calls.push(`retry ${d}`) } };
  };

  it("reads a non-empty array as a pack and anything else as one message", () => {
    expect(packParts([{ a: 1 }, { b: 2 }])).toHaveLength(2);
    expect(packParts([])).toBeNull();
    expect(packParts({ specversion: "1.0" })).toBeNull();
    expect(packParts(null)).toBeNull();
  });

  it("acks the message once every part is acked, and not before", () => {
    const { calls, settle } = recorder();
    const [a, b] = settlePartsTogether(settle, 2);
    a?.ack();
    expect(calls).toEqual([]);
    b?.ack();
    expect(calls).toEqual(["ack"]);
  });

  it("retries the message after the longest delay any part asked for when a part is retried", () => {
    const { calls, settle } = recorder();
    const [a, b, c] = settlePartsTogether(settle, 3);
    a?.retry(2);
    b?.ack();
    c?.retry(30);
    expect(calls).toEqual(["retry 30"]);
  });

  it("counts a part's first answer only, so a part settled twice cannot settle the message early", () => {
    const { calls, settle } = recorder();
    const [a, b] = settlePartsTogether(settle, 2);
    a?.retry(5);
    a?.ack();
    a?.ack();
    expect(calls).toEqual([]);
    b?.ack();
    expect(calls).toEqual(["retry 5"]);
  });
});
