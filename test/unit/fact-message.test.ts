// A fact's queue message is built and measured once, when its entity decides; the relay sends that
// same message. These pin the measurement the decide-time check and the relay's batches share.
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { factMessage, QUEUE_LIMITS, toCloudEvent, utf8Length } from "../../src/core/protocol/cloud-event.js";

function fact(data: unknown): RecordedEvent {
  return {
    seq: 3,
    type: "Restocked",
    schemaVersion: 1,
    data,
    meta: {
      eventId: "e-1",
      tenant: "acme",
      entityType: "inventory",
      entityId: "sku-1",
      hlc: "1764547200000.000000",
      recordedAt: "2026-12-01T00:00:00.000Z",
      correlationId: "c-1",
      causationId: null,
      idempotencyKey: null,
      traceparent: null,
    },
  };
}

describe("a fact's queue message", () => {
  it("is the fact's CloudEvent", () => {
    const event = fact({ quantity: 2 });
    expect(factMessage(event).body).toEqual(toCloudEvent(event));
  });

  it("counts the UTF-8 bytes of its JSON plus the queue's per-message overhead", () => {
    const event = fact({ note: "caf\u00e9 \u20ac \u{1f600}" });
    const json = JSON.stringify(toCloudEvent(event));
    expect(factMessage(event).bytes).toBe(
      new TextEncoder().encode(json).byteLength + QUEUE_LIMITS.perMessageOverheadBytes,
    );
  });
});

describe("UTF-8 length without encoding", () => {
  it("agrees with TextEncoder on every kind of code unit, lone surrogates included", () => {
    for (const text of [
      "",
      "ascii",
      "\u00e9\u07ff",
      "\u0800\uffff",
      "\u{10000}\u{10ffff}",
      "\ud800",
      "a\udc00b",
      "\ud800\ud800\udc00",
      "x\ud83d",
    ]) {
      expect({ text, bytes: utf8Length(text) }).toEqual({ text, bytes: new TextEncoder().encode(text).byteLength });
    }
  });
});
