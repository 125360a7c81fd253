// Hybrid logical clocks: an effect is always stamped after its cause.
import { describe, expect, it } from "vitest";
import { compareHlc, decodeHlc, encodeHlc, tick } from "../../src/core/hlc.js";

describe("hybrid logical clock", () => {
  it("stamps an effect after its cause even when the local wall clock is behind", () => {
    const cause = { wall: 5_000, logical: 3 };
    const effect = tick({ wall: 1_000, logical: 0 }, 1_000, cause);
    expect(compareHlc(effect, cause)).toBeGreaterThan(0);
  });

  it("keeps increasing when the wall clock stands still", () => {
    const a = tick({ wall: 0, logical: 0 }, 7, undefined);
    const b = tick(a, 7, undefined);
    expect(compareHlc(b, a)).toBeGreaterThan(0);
  });

  it("encodes so that string order is clock order", () => {
    const a = encodeHlc({ wall: 99, logical: 12 });
    const b = encodeHlc({ wall: 100, logical: 1 });
    expect(a < b).toBe(true);
    expect(decodeHlc(a)).toEqual({ wall: 99, logical: 12 });
  });
});
