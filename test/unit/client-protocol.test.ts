// The pure rules under the offline client, as specifications: the entity's client-session rule
// (src/core/protocol/client-session.ts), the client's confirmed-state mirror
// (client/entity-mirror.ts) and its Server-Sent Events parser (client/event-stream.ts).
import { describe, expect, it } from "vitest";
import { applyConfirmed, optimisticState } from "../../client/entity-mirror.js";
import { sseParser } from "../../client/event-stream.js";
import {
  classifySessionCommand,
  CLIENT_SESSION_RETENTION_MS,
  recordAnswer,
  type SessionRecord,
} from "../../src/core/protocol/client-session.js";
import { inventory } from "../../src/domain/inventory.js";

const NOW = 1_800_000_000_000;
const id = (seq: number) => ({ session: "session-0000000000000001", seq });
const decided = (seq: number, at = NOW): SessionRecord =>
  recordAnswer(id(seq), "fp", { kind: "applied", version: seq, events: 1 }, at);

describe("the client-session rule", () => {
  it("decides a session's first command", () => {
    expect(classifySessionCommand(undefined, id(1), "fp", NOW)).toEqual({ kind: "new" });
  });

  it("decides a command numbered above the last one decided", () => {
    expect(classifySessionCommand(decided(4), id(9), "fp2", NOW)).toEqual({ kind: "new" });
  });

  it("answers the last command decided again from the record", () => {
    expect(classifySessionCommand(decided(4), id(4), "fp", NOW)).toEqual({
      kind: "replay",
      answer: { kind: "applied", version: 4, events: 1 },
    });
  });

  it("refuses the last number with another command or body", () => {
    expect(classifySessionCommand(decided(4), id(4), "other", NOW)).toMatchObject({
      kind: "reused",
      problem: { status: 422 },
    });
  });

  it("answers a number below the last one decided as a duplicate", () => {
    expect(classifySessionCommand(decided(4), id(3), "fp", NOW)).toMatchObject({
      kind: "duplicate",
      problem: { status: 409 },
    });
  });

  it("keeps a record for the whole retention and forgets it after", () => {
    expect(classifySessionCommand(decided(4, NOW - CLIENT_SESSION_RETENTION_MS), id(4), "fp", NOW).kind).toBe("replay");
    expect(classifySessionCommand(decided(4, NOW - CLIENT_SESSION_RETENTION_MS - 1), id(4), "fp", NOW).kind).toBe(
      "new",
    );
  });
});

describe("the client's confirmed state", () => {
  const empty = { version: 0, state: inventory.initialState() };
  const restocked = (seq: number, quantity: number) => ({ seq, type: "Restocked", data: { quantity, source: "t" } });

  it("applies each event once, skipping those already in", () => {
    const once = applyConfirmed(inventory, empty, [restocked(1, 2), restocked(2, 3)]).confirmed;
    const again = applyConfirmed(inventory, once, [restocked(2, 3), restocked(3, 4)]);
    expect(again).toMatchObject({ confirmed: { version: 3, state: { onHand: 9 } }, gap: false });
  });

  it("stops at a missing event and says so", () => {
    expect(applyConfirmed(inventory, empty, [restocked(1, 2), restocked(3, 4)])).toMatchObject({
      confirmed: { version: 1, state: { onHand: 2 } },
      gap: true,
    });
  });

  it("applies the waiting commands on top, predicting the rejections its decide gives", () => {
    const pending = [
      { seq: 1, entityType: "inventory", entityId: "s", command: "restock", body: { quantity: 2 }, madeAt: 0 },
      {
        seq: 2,
        entityType: "inventory",
        entityId: "s",
        command: "reserve",
        body: { orderId: "o", quantity: 5 },
        madeAt: 0,
      },
    ];
    const { state, predictions } = optimisticState(inventory, empty, pending);
    expect(state).toMatchObject({ onHand: 2, reserved: 0 });
    expect(predictions).toMatchObject([
      { seq: 1, rejection: null },
      { seq: 2, rejection: { code: "insufficient-stock" } },
    ]);
  });
});

describe("the Server-Sent Events parser", () => {
  it("joins data lines, keeps the id and skips comments, across chunk boundaries", () => {
    const parse = sseParser();
    expect(parse(": subscribed\nretry: 1000\n\nid: 7\nda")).toEqual([]);
    expect(parse('ta: {"a":\ndata: 1}\n\n')).toEqual([{ id: "7", data: '{"a":\n1}' }]);
  });

  it("reads CRLF line ends and drops a message with no data", () => {
    expect(sseParser()("id: 3\r\n\r\ndata: x\r\n\r\n")).toEqual([{ id: "3", data: "x" }]);
  });
});
