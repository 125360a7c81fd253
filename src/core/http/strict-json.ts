// JSON that means one thing, and means the same thing at every later hop. JSON.parse accepts
// texts that do not: a key given twice (`{"a":1,"a":2}` — RFC 8259 §4 leaves the meaning to the
// parser; JSON.parse keeps the last, others the first), a `__proto__` key (an own property after
// JSON.parse, the prototype after an assignment or a spread elsewhere), a string with a lone
// UTF-16 surrogate (`"\ud800"`: TextEncoder, D1 and the queue turn it into U+FFFD), and a number
// beyond ±(2^53 − 1) or out of range (`9007199254740993` reads as …992, `1e400` as Infinity,
// which JSON.stringify writes as null). `strictJsonProblem` finds the first such thing in a text
// that JSON.parse has already accepted.

/** Why a well-formed JSON text was refused, for a 400's detail. */
export type StrictJsonError =
  | { readonly kind: "duplicate-key"; readonly key: string }
  | { readonly kind: "proto-key" }
  | { readonly kind: "lone-surrogate" }
  | { readonly kind: "unsafe-number"; readonly literal: string };

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * The first reason `text` (already accepted by JSON.parse) is ambiguous or would change at a later
 * hop, or undefined. Iterative, so a deeply nested body cannot exhaust the stack.
 */
export function strictJsonProblem(text: string): StrictJsonError | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let expectKey = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    switch (c) {
      case 0x20:
      case 0x09:
      case 0x0a:
      case 0x0d:
      case 0x3a: // whitespace, ':'
        i++;
        continue;
      case 0x7b: // {
        open.push(new Set());
        expectKey = true;
        i++;
        continue;
      case 0x5b: // [
        open.push(null);
        i++;
        continue;
      case 0x7d:
      case 0x5d: // } ]
        open.pop();
        expectKey = false;
        i++;
        continue;
      case 0x2c: // ,
        expectKey = open[open.length - 1] instanceof Set;
        i++;
        continue;
      case 0x22: {
        // "
        const end = stringEnd(text, i);
        const value = JSON.parse(text.slice(i, end)) as string;
        if (LONE_SURROGATE.test(value)) return { kind: "lone-surrogate" };
        const keys = open[open.length - 1];
        if (expectKey && keys) {
          if (value === "__proto__") return { kind: "proto-key" };
          if (keys.has(value)) return { kind: "duplicate-key", key: value };
          keys.add(value);
          expectKey = false;
        }
        i = end;
        continue;
      }
      case 0x74:
      case 0x6e: // true, null
        i += 4;
        continue;
      case 0x66: // false
        i += 5;
        continue;
      default: {
        NUMBER.lastIndex = i;
        const literal = NUMBER.exec(text)?.[0];
        // Unreachable for a text JSON.parse accepted; refuse rather than loop.
        if (!literal) return { kind: "unsafe-number", literal: text.slice(i, i + 20) };
        const n = Number(literal);
        if (!Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER)
          return { kind: "unsafe-number", literal: literal.slice(0, 40) };
        i += literal.length;
      }
    }
  }
  return undefined;
}

/** Index just past the closing quote of the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i += 2;
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return text.length;
}

/** A sentence for a client, naming what was refused. */
export function describeStrictJsonError(e: StrictJsonError): string {
  switch (e.kind) {
    case "duplicate-key":
      return `the body names the key ${JSON.stringify(e.key.slice(0, 64))} twice in one object`;
    case "proto-key":
      return 'the body has a "__proto__" key, which means a prototype to JavaScript';
    case "lone-surrogate":
      return "the body has a string with a lone UTF-16 surrogate (\\ud800-\\udfff unpaired)";
    case "unsafe-number":
      return `the number ${e.literal} is beyond ±9007199254740991 (2^53 - 1) and would not survive a round trip`;
  }
}
