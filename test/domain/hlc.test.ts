// Hybrid logical clocks: an effect is always stamped after its cause, the encoding stays fixed
// width whatever the inputs, and a cause's clock is accepted only within the drift bound.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compareHlc,
  decodeHlc,
  decodeStoredHlc,
  encodeHlc,
  MAX_CAUSE_DRIFT_MS,
  MAX_LOGICAL,
  parseCauseClock,
  tick,
  type Hlc,
} from "../../src/core/protocol/hlc.js";

const NOW = Date.UTC(2026, 11, 1);
const hlc = (maxWall = NOW + MAX_CAUSE_DRIFT_MS): fc.Arbitrary<Hlc> =>
  fc.record({ wall: fc.integer({ min: 0, max: maxWall }), logical: fc.integer({ min: 0, max: MAX_LOGICAL }) });

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

  it("carries a logical part that would need a seventh digit into the wall part", () => {
    const full = { wall: 1_000, logical: MAX_LOGICAL };
    const next = tick(full, 1_000, full);
    expect(next).toEqual({ wall: 1_001, logical: 0 });
    expect(encodeHlc(next)).toBe("000000000001001.000000");
  });

  it("always issues a clock after the last one and the cause, encoded in fixed width in the same order", () => {
    fc.assert(
      fc.property(hlc(), hlc(), fc.integer({ min: 0, max: NOW }), (last, cause, now) => {
        const next = tick(last, now, cause);
        expect(compareHlc(next, last)).toBeGreaterThan(0);
        expect(compareHlc(next, cause)).toBeGreaterThan(0);
        const [a, b, c] = [encodeHlc(last), encodeHlc(cause), encodeHlc(next)];
        expect(c).toMatch(/^\d{15}\.\d{6}$/);
        expect(a < c && b < c).toBe(true);
        expect(decodeHlc(c)).toEqual(next);
      }),
    );
  });

  it("accepts a cause up to 5 minutes ahead of the local wall clock and refuses one beyond", () => {
    expect(parseCauseClock(encodeHlc({ wall: NOW + MAX_CAUSE_DRIFT_MS, logical: 999_999 }), NOW)).toMatchObject({
      ok: true,
    });
    expect(parseCauseClock(encodeHlc({ wall: NOW + MAX_CAUSE_DRIFT_MS + 1, logical: 0 }), NOW)).toEqual({
      ok: false,
      error: "too-far-ahead",
    });
    expect(parseCauseClock("999999999999999.999999", NOW)).toEqual({ ok: false, error: "too-far-ahead" });
    expect(parseCauseClock(encodeHlc({ wall: 0, logical: 1 }), NOW)).toMatchObject({ ok: true });
  });

  it("refuses a cause that is not exactly the fixed-width form", () => {
    for (const text of [
      "",
      "1.1",
      "999999999999999.1000000",
      "00000000000001.000000",
      " 000000000000001.000000",
      "000000000000001.00000a",
      "1e14.000000",
    ]) {
      expect(parseCauseClock(text, NOW), text).toEqual({ ok: false, error: "malformed" });
    }
  });

  it("fails loudly on a stored clock that does not decode, instead of restarting from zero", () => {
    expect(() => decodeStoredHlc("999999999999999.1000000")).toThrow(/does not decode/);
    expect(decodeStoredHlc("000000000000005.000001")).toEqual({ wall: 5, logical: 1 });
  });
});
