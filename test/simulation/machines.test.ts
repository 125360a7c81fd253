// Specifications of the pure protocol machines that production and the simulator share:
// the outbox relay (src/core/outbox/relay.ts), the consumer's per-entity planning
// (src/core/consumer/entity-plan.ts) and the entity command step (src/core/entity/command-step.ts).
import { describe, expect, it } from "vitest";
import { commandStep, type CommandStepInput } from "../../src/core/entity/command-step.js";
import {
  onFailure,
  planSagas,
  planTarget,
  repairComplete,
  type EntityFacts,
} from "../../src/core/consumer/entity-plan.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import {
  acknowledge,
  batchAccepted,
  batchLength,
  handOffFailed,
  onSendRefused,
  packHandOffs,
  probeDue,
  RELAY_CURSORS_AT_START,
  RELAY_POLICY,
  saveAfterSend,
} from "../../src/core/outbox/relay.js";
import { HLC_ZERO } from "../../src/core/protocol/hlc.js";
import { livePush } from "../../src/core/live/subscription.js";
import {
  afterSwitch,
  chooseGenerations,
  keptByCleanup,
  switchAllowed,
} from "../../src/core/projection/rebuild-rules.js";
import { inventory } from "../../src/domain/inventory.js";

const fact = (seq: number, type = "Restocked"): RecordedEvent => ({
  seq,
  type,
  schemaVersion: 1,
  data: { quantity: 1 },
  meta: {
    eventId: `e${seq}`,
    tenant: "t",
    entityType: "inventory",
    entityId: "s",
    hlc: "0",
    recordedAt: "2026-01-01T00:00:00.000Z",
    correlationId: "c",
    causationId: null,
    idempotencyKey: null,
    traceparent: null,
  },
});
const facts = (own: number[], repaired: number[] = []): EntityFacts => ({
  events: new Map(own.map((s) => [s, fact(s)])),
  repaired: new Map(repaired.map((s) => [s, fact(s)])),
});

describe("outbox relay", () => {
  it("sets an acknowledgement deadline when a batch is accepted, and clears it once all is acknowledged", () => {
    const sent = batchAccepted(RELAY_CURSORS_AT_START, 3, 1_000);
    expect(sent).toMatchObject({ sentUpTo: 3, redeliverAt: 1_000 + RELAY_POLICY.ackTimeoutMs });
    expect(acknowledge(sent, 3, 2_000)).toMatchObject({ ackedUpTo: 3, redeliverAt: null });
  });

  it("ignores an acknowledgement it already has", () => {
    const acked = acknowledge(RELAY_CURSORS_AT_START, 2, 0);
    expect(acked && acknowledge(acked, 1, 0)).toBeNull();
  });

  it("keeps an acknowledgement beyond what it recorded as sent", () => {
    expect(acknowledge(RELAY_CURSORS_AT_START, 5, 0)).toMatchObject({ ackedUpTo: 5, sentUpTo: 0 });
  });

  it("probes with the newest unacknowledged fact once the deadline passed, and doubles the next timeout", () => {
    const sent = batchAccepted(RELAY_CURSORS_AT_START, 4, 0);
    expect(probeDue(sent, RELAY_POLICY.ackTimeoutMs - 1)).toBeNull();
    const probe = probeDue(sent, RELAY_POLICY.ackTimeoutMs);
    expect(probe?.seq).toBe(4);
    const resent = probe && batchAccepted(probe.cursors, 4, 100_000);
    expect(resent?.redeliverAt).toBe(100_000 + 2 * RELAY_POLICY.ackTimeoutMs);
  });

  it("takes an accepted batch out of the outbox, which is the log from its pendingFrom cursor on", () => {
    expect(RELAY_CURSORS_AT_START.pendingFrom).toBe(1);
    const sent = batchAccepted(RELAY_CURSORS_AT_START, 3, 0);
    expect(sent.pendingFrom).toBe(4);
    // An older batch accepted late (a re-send) never puts newer facts back.
    expect(batchAccepted(sent, 2, 0).pendingFrom).toBe(4);
  });

  it("puts a probe's fact back at the head of the outbox, before facts not sent yet", () => {
    const sent = batchAccepted(RELAY_CURSORS_AT_START, 4, 0);
    const probe = probeDue(sent, RELAY_POLICY.ackTimeoutMs);
    expect(probe?.cursors.pendingFrom).toBe(4);
    expect(probe && batchAccepted(probe.cursors, 6, RELAY_POLICY.ackTimeoutMs).pendingFrom).toBe(7);
  });

  it("takes what the consumer acknowledged out of the outbox", () => {
    expect(acknowledge(RELAY_CURSORS_AT_START, 5, 0)?.pendingFrom).toBe(6);
    const sent = batchAccepted(RELAY_CURSORS_AT_START, 8, 0);
    expect(acknowledge(sent, 5, 0)?.pendingFrom).toBe(9);
  });

  it("leaves an accepted batch's cursors for its acknowledgement to write, unless none will come or a batch's worth would stay unwritten", () => {
    const saved = RELAY_CURSORS_AT_START;
    expect(saveAfterSend(saved, batchAccepted(saved, RELAY_POLICY.batchMessages, 0))).toBe(false);
    expect(saveAfterSend(saved, batchAccepted(saved, RELAY_POLICY.batchMessages + 1, 0))).toBe(true);
    const acked = acknowledge(saved, 3, 0) ?? saved;
    expect(saveAfterSend(saved, batchAccepted(acked, 3, 0))).toBe(true);
  });

  it("fills a batch up to the queue's byte limit, and always takes one message", () => {
    expect(batchLength([100_000, 100_000, 100_000])).toBe(2);
    expect(batchLength([RELAY_POLICY.batchBytes + 1])).toBe(1);
  });

  it("packs hand-offs of many entities into as few sends as the queue's message and byte limits allow, never splitting one", () => {
    const one = [400];
    expect(packHandOffs([one, one, one])).toEqual([[0, 1, 2]]);
    expect(packHandOffs([Array(60).fill(400), Array(60).fill(400), one])).toEqual([[0], [1, 2]]);
    expect(packHandOffs([[150_000], [150_000], [50_000]])).toEqual([[0], [1, 2]]);
    expect(packHandOffs([])).toEqual([]);
  });

  it("puts a failed hand-off back into the outbox, not counted as sent, but never what the consumer acknowledged", () => {
    const handedOff = batchAccepted(RELAY_CURSORS_AT_START, 4, 0);
    expect(handOffFailed(handedOff, 3)).toMatchObject({ pendingFrom: 3, sentUpTo: 2 });
    const acked = acknowledge(handedOff, 3, 0) ?? handedOff;
    expect(handOffFailed(acked, 2)).toMatchObject({ pendingFrom: 4, sentUpTo: 1 });
    expect(handOffFailed(handOffFailed(handedOff, 1) ?? handedOff, 3)).toBeNull();
  });

  it("halves a batch refused for its size, parks a lone fact, and retries anything else", () => {
    expect(onSendRefused(10, true, false)).toEqual({ kind: "halve", batchCap: 5 });
    expect(onSendRefused(1, true, false)).toEqual({ kind: "park" });
    expect(onSendRefused(1, true, true)).toEqual({ kind: "retry" });
    expect(onSendRefused(10, false, false)).toEqual({ kind: "retry" });
  });
});

describe("consumer planning", () => {
  it("skips a generation whose checkpoint is at or past the batch", () => {
    expect(planTarget(facts([2, 3]), 3, 3, false)).toEqual({ kind: "skip" });
  });

  it("applies the contiguous facts after the checkpoint", () => {
    const plan = planTarget(facts([3, 2]), 1, 3, false);
    expect(plan.kind === "apply" && plan.events.map((e) => e.seq)).toEqual([2, 3]);
  });

  it("repairs a gap from the log, and leaves a building generation's gap to the rebuilder", () => {
    expect(planTarget(facts([3]), 1, 3, false)).toEqual({ kind: "repair", from: 1, upTo: 3 });
    expect(planTarget(facts([3]), 1, 3, true)).toEqual({ kind: "leave-to-rebuilder" });
  });

  it("hands the sagas facts from their own checkpoint, repairing what the batch lacks (F5)", () => {
    const concerns = (): boolean => true;
    expect(planSagas(facts([3]), 1, true, concerns)).toEqual({ kind: "repair", from: 1, upTo: 3 });
    const plan = planSagas(facts([3], [2]), 1, true, concerns);
    expect(plan.kind === "deliver" && plan.events.map((e) => e.seq)).toEqual([2, 3]);
  });

  it("advances the sagas' checkpoint without a delivery when no saga follows the facts", () => {
    expect(planSagas(facts([1, 2]), 0, true, () => false)).toEqual({ kind: "advance", upTo: 2 });
    expect(planSagas(facts([1, 2]), 0, false, () => true)).toEqual({ kind: "none" });
  });

  it("accepts a read-back only when it covers the range exactly", () => {
    expect(repairComplete([fact(2), fact(3)], 1, 3)).toBe(true);
    expect(repairComplete([fact(3)], 1, 3)).toBe(false);
  });

  it("retries a failure with growing delay and dead-letters it on the last attempt", () => {
    expect(onFailure(1).kind).toBe("retry");
    expect(onFailure(5)).toEqual({ kind: "dead-letter" });
  });
});

describe("entity command step", () => {
  const input = (over: Partial<CommandStepInput> = {}): CommandStepInput => ({
    entity: inventory,
    image: { state: inventory.initialState(), version: 0, hlc: HLC_ZERO },
    envelope: {
      tenant: "t",
      entityType: "inventory",
      entityId: "s1",
      command: "restock",
      data: { quantity: 5, source: "manual" },
      idempotencyKey: null,
      fingerprint: null,
      expectedVersion: null,
      causeHlc: null,
      correlationId: "c",
      causationId: null,
      traceparent: null,
    },
    now: 1_767_225_600_000,
    idempotency: null,
    backlog: 0,
    maxBacklog: 10,
    backlogRetryAfterS: 1,
    newEventId: () => "e1",
    ...over,
  });

  it("records stamped facts with the next seq, the new state and the response", () => {
    const step = commandStep(input());
    expect(step.kind).toBe("record");
    if (step.kind !== "record") return;
    expect(step.recorded.map((e) => [e.seq, e.type, e.meta.eventId])).toEqual([[1, "Restocked", "e1"]]);
    expect(step.image.version).toBe(1);
    expect(step.result.version).toBe(1);
  });

  it("replays the stored response for a known key and refuses a key reused with another body", () => {
    const result = { type: "inventory", id: "s1", version: 1, events: [] };
    expect(commandStep(input({ idempotency: { kind: "replay", result } }))).toEqual({ kind: "replay", result });
    const reused = commandStep(input({ idempotency: { kind: "mismatch" } }));
    expect(reused.kind === "refused" && reused.problem.status).toBe(422);
  });

  it("refuses with 412 when If-Match names another version", () => {
    const step = commandStep(input({ envelope: { ...input().envelope, expectedVersion: 3 } }));
    expect(step.kind === "refused" && step.problem.status).toBe(412);
  });

  it("sheds with 429 once the backlog is full", () => {
    const step = commandStep(input({ backlog: 10 }));
    expect(step.kind === "refused" && step.problem.status).toBe(429);
  });

  it("rejects with 422 what the entity's rules refuse, recording nothing", () => {
    const step = commandStep(
      input({ envelope: { ...input().envelope, command: "ship", data: { orderId: "toString" } } }),
    );
    expect(step.kind === "rejected" && step.problem.status).toBe(422);
  });
});

describe("projection rebuild rules", () => {
  const job = { generation: 3, previous: 1 };

  it("fills a generation above every one in use or with checkpoints left, recording the active one as previous", () => {
    expect(chooseGenerations({ active: 1, building: null }, 2)).toEqual({ generation: 3, previous: 1 });
    expect(chooseGenerations(null, null)).toEqual({ generation: 1, previous: 0 });
  });

  it("switches only while the active generation is still the previous one, its own is building, and none is behind", () => {
    expect(switchAllowed(job, { active: 1, building: 3 }, false)).toBe(true);
    expect(switchAllowed(job, { active: 1, building: 3 }, true)).toBe(false);
    expect(switchAllowed(job, { active: 3, building: null }, false)).toBe(false);
  });

  it("goes on to the cleanup when its switch already ran, so a repeated finish never treats its own generation as old (F3)", () => {
    expect(afterSwitch(job, { active: 3, building: null })).toBe("clear");
    expect(keptByCleanup(job)).toBe(3);
  });

  it("re-scans when the switch was held off, and abandons when someone else moved the generations", () => {
    expect(afterSwitch(job, { active: 1, building: 3 })).toBe("rescan");
    expect(afterSwitch(job, { active: 2, building: null })).toBe("abandon");
  });
});

describe("live subscription", () => {
  it("pushes recorded events that continue the cursor, skipping those it already has", () => {
    expect(livePush(2, [fact(2), fact(3), fact(4)])).toEqual({ kind: "push", from: 1, cursor: 4 });
    expect(livePush(4, [fact(3), fact(4)])).toEqual({ kind: "none" });
  });

  it("sends a subscriber whose cursor the events do not continue back to the log", () => {
    expect(livePush(2, [fact(4)])).toEqual({ kind: "catch-up" });
  });
});
