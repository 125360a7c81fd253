// If-Match as RFC 9110 §13.1.1 defines it, for entity versions: "*", lists, strong comparison.
import { describe, expect, it } from "vitest";
import { ifMatchSatisfied, parseIfMatch } from "../src/core/protocol/if-match.js";

describe("If-Match", () => {
  it("reads * as 'the entity exists'", () => {
    const any = parseIfMatch("*");
    expect(any).toEqual({ kind: "any" });
    expect(ifMatchSatisfied(any!, 0)).toBe(false);
    expect(ifMatchSatisfied(any!, 3)).toBe(true);
  });

  it("matches a list when any strong tag names the version", () => {
    const list = parseIfMatch(' "5" ,"7",, "9"');
    expect(list).toEqual({ kind: "versions", versions: [5, 7, 9] });
    expect(ifMatchSatisfied(list!, 7)).toBe(true);
    expect(ifMatchSatisfied(list!, 6)).toBe(false);
  });

  it("never matches a weak tag, nor a strong tag that is not a version", () => {
    expect(parseIfMatch('W/"7"')).toEqual({ kind: "versions", versions: [] });
    expect(parseIfMatch('"abc", W/"7", "07"')).toEqual({ kind: "versions", versions: [] });
  });

  it("ignores empty list elements before and after the tags alike", () => {
    for (const value of ['"4",', ', "4"', ',,"4" , ,', ' , "4", , "5" ']) {
      expect(parseIfMatch(value), value).toMatchObject({ kind: "versions", versions: expect.arrayContaining([4]) });
    }
  });

  it("refuses what is not an If-Match value", () => {
    for (const value of ["", ",", " , ,", "7", '"7', '*, "7"', '"7" "8"', 'w/"7"', '"a"b"', '"7";', "x".repeat(2000)]) {
      expect(parseIfMatch(value), value).toBeUndefined();
    }
  });
});
