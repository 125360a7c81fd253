// What a reader of an entity's log (the consumer's gap repair, a rebuild) makes of the entity's
// answer to `events`: a page, nothing more to read, or a failure that says why.
import { describe, expect, it } from "vitest";
import { problem } from "../../src/core/http/problem.js";
import { pageOrNothing } from "../../src/core/protocol/entity-protocol.js";

describe("a reader of an entity's log", () => {
  it("takes the page the entity answered", () => {
    const page = { events: [], next: null };
    expect(pageOrNothing({ ok: true, page })).toBe(page);
  });

  it("has nothing more to read when the entity has no events or its cursor is past the head", () => {
    expect(pageOrNothing(null)).toBeNull();
    expect(pageOrNothing({ ok: false, problem: problem("cursor-past-end", "after 9, head 3") })).toBeNull();
  });

  it("fails with the entity's reason when its log cannot be read on, rather than taking it for read to its end", () => {
    const unliftable = problem("state-unfoldable", "ledgers l1: Paid (seq 3) cannot be lifted to its current version");
    expect(() => pageOrNothing({ ok: false, problem: unliftable })).toThrow(
      "ledgers l1: Paid (seq 3) cannot be lifted to its current version",
    );
  });
});
