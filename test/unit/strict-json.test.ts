// The strict-JSON check (src/core/http/strict-json.ts): no false alarms on JSON that means one thing,
// and every repeated key found, at any depth and in any spelling.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { strictJsonProblem } from "../../src/core/http/strict-json.js";

const key = fc.string({ unit: "grapheme", maxLength: 8 }).filter((k) => k !== "__proto__");
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }),
    fc.string({ unit: "grapheme", maxLength: 12 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  ),
}));

describe("strict JSON", () => {
  it("finds nothing wrong in JSON that means one thing, however it is spaced", () => {
    fc.assert(
      fc.property(value, fc.constantFrom(undefined, 1, "\t"), (v, space) => {
        expect(strictJsonProblem(JSON.stringify(v, null, space))).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it("finds a key repeated in any object, at any depth, whatever its escaping", () => {
    fc.assert(
      fc.property(
        fc.dictionary(key, value, { minKeys: 1, maxKeys: 4 }),
        fc.nat({ max: 3 }),
        fc.boolean(),
        (obj, depth, escaped) => {
          const repeated = Object.keys(obj)[0] ?? "";
          // Every UTF-16 code unit as a \uXXXX escape: the same key, spelled differently.
          const units = Array.from(
            { length: repeated.length },
            (_, i) => `\\u${repeated.charCodeAt(i).toString(16).padStart(4, "0")}`,
          );
          const spelled = escaped ? `"${units.join("")}"` : JSON.stringify(repeated);
          let text = `${JSON.stringify(obj).slice(0, -1)},${spelled}:0}`;
          for (let i = 0; i < depth; i++) text = `{"wrap":[${text}]}`;
          expect(strictJsonProblem(text)).toEqual({ kind: "duplicate-key", key: repeated });
        },
      ),
      { numRuns: 300 },
    );
  });
});
