// If-Match and If-None-Match as RFC 9110 §13.1.1-2 define them, for entity versions: "*", lists,
// strong comparison for If-Match, weak for If-None-Match.
import { describe, expect, it } from "vitest";
import { ifMatchSatisfied, parseIfMatch } from "../../src/core/protocol/if-match.js";
import { ifNoneMatchSatisfied, parseIfNoneMatch } from "../../src/core/protocol/if-none-match.js";

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

describe("If-None-Match", () => {
  it("reads * as 'the entity exists', so a read of one that does is not modified", () => {
    const any = parseIfNoneMatch("*");
    expect(any).toEqual({ kind: "any" });
    expect(ifNoneMatchSatisfied(any!, 3)).toBe(false);
    expect(ifNoneMatchSatisfied(any!, 0)).toBe(true);
  });

  it("compares weakly: a weak tag names its version as a strong one does", () => {
    const list = parseIfNoneMatch('W/"5", "7",, "abc"');
    expect(list).toEqual({ kind: "versions", versions: [5, 7] });
    expect(ifNoneMatchSatisfied(list!, 5)).toBe(false);
    expect(ifNoneMatchSatisfied(list!, 7)).toBe(false);
    expect(ifNoneMatchSatisfied(list!, 6)).toBe(true);
  });

  it("refuses what is not an If-None-Match value, as If-Match does", () => {
    for (const value of ["", ",", "7", '"7', '*, "7"', '"7" "8"', 'w/"7"', "x".repeat(2000)]) {
      expect(parseIfNoneMatch(value), value).toBeUndefined();
    }
  });
});
