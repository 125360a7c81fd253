// What "plain JSON" means for the values a domain hands the runtime to store (event data, the
// initial state, snapshots of state, saga contexts and tasks, service results): only null,
// booleans, finite numbers, strings, arrays of elements only, and objects whose prototype is
// Object's, with enumerable string keys only.
// Anything else changes on the JSON round trip that storage makes (a Date becomes a string, an
// undefined field vanishes, NaN becomes null, a Map becomes {}), so the memory image would differ
// from what a restart reads back. One checker for the runtime and the test kits.

/** The deepest nesting looked into: deeper is refused, so a cycle (which JSON.stringify throws on) ends the walk. */
export const MAX_JSON_DEPTH = 1000;

/**
 * Where `value` stops being plain JSON, or null when it is plain JSON: a sentence such as
 * `data.at is a Date`, `data.kind is undefined`, `state.total is NaN` or `context.items[2] is a
 * function`, its path rooted at `root`. The first offence found (depth first, in key order).
 * JSON.stringify writes an object's own enumerable string keys and an array's elements only, so
 * any other property (a symbol, a non-enumerable one, a RegExp match's `index`) is an offence, as
 * is a hole in an array (written as null); -0 passes (JSON writes 0, which compares equal); a
 * getter is read as the value it gives. No path is built unless something is found: this runs
 * on every recorded event (src/core/entity/command-step.ts), about 0.15 µs for a typical one.
 */
export function jsonIssue(value: unknown, root: string): string | null {
  const found = offence(value, 0);
  if (found === null) return null;
  // A cycle's path is a thousand steps long: the outermost ones say where it starts.
  const shown = found.path.slice(-MAX_PATH_SHOWN).reverse();
  const more = found.path.length > shown.length ? "…" : "";
  return `${root}${shown.map(segment).join("")}${more} ${found.what}`;
}

/** The most path segments a finding names. */
const MAX_PATH_SHOWN = 16;

interface Offence {
  /** Innermost first (built as the walk unwinds). */
  readonly path: (string | number)[];
  readonly what: string;
}

function offence(value: unknown, depth: number): Offence | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : { path: [], what: `is ${value}` };
    case "undefined":
      return { path: [], what: "is undefined" };
    case "object": {
      if (value === null) return null;
      if (depth >= MAX_JSON_DEPTH)
        return { path: [], what: `nests deeper than ${MAX_JSON_DEPTH} levels (or is cyclic)` };
      const proto: unknown = Object.getPrototypeOf(value);
      if (Array.isArray(value)) {
        if (proto !== Array.prototype) return { path: [], what: `is ${describe(proto)}` };
        for (let i = 0; i < value.length; i++) {
          // JSON writes a hole as null.
          if (!Object.hasOwn(value, i)) return within(i, { path: [], what: "is a hole in a sparse array" });
          const inner = offence(value[i], depth + 1);
          if (inner) return within(i, inner);
        }
        // Index keys and `length` only: JSON writes an array's elements and drops anything else
        // (a RegExp match's `index`, say).
        const extra = hiddenKey(value, value.length + 1);
        return extra === null
          ? null
          : { path: [], what: `is an array with a property besides its elements (${extra})` };
      }
      // A null prototype too: JSON reads it back with Object's, and Workers RPC cannot carry it.
      if (proto !== Object.prototype) return { path: [], what: `is ${describe(proto)}` };
      const record = value as Readonly<Record<string, unknown>>;
      const keys = Object.keys(record);
      for (const key of keys) {
        const inner = offence(record[key], depth + 1);
        if (inner) return within(key, inner);
      }
      const hidden = hiddenKey(record, keys.length);
      return hidden === null ? null : { path: [], what: `has a property JSON does not write (${hidden})` };
    }
    default:
      return { path: [], what: `is a ${typeof value}` };
  }
}

/**
 * A key of `value` that JSON.stringify skips, when it has more own keys than the `written` it
 * writes: a symbol, or a non-enumerable (or, for an array, non-index) property. Null otherwise.
 */
function hiddenKey(value: object, written: number): string | null {
  const symbol = Object.getOwnPropertySymbols(value)[0];
  if (symbol !== undefined) return `the symbol ${symbol.description ?? ""}`;
  const names = Object.getOwnPropertyNames(value);
  if (names.length === written) return null;
  const skipped = Array.isArray(value)
    ? names.find((name) => name !== "length" && !/^(?:0|[1-9]\d*)$/.test(name))
    : names.find((name) => !Object.prototype.propertyIsEnumerable.call(value, name));
  return skipped === undefined ? null : JSON.stringify(skipped);
}

/** `inner`, found under `key` of its container. */
function within(key: string | number, inner: Offence): Offence {
  inner.path.push(key);
  return inner;
}

/** "a Date", "an Instant", or "an object of another class" for a prototype without a named constructor. */
function describe(proto: unknown): string {
  if (proto === null) return "an object with a null prototype";
  const ctor: unknown =
    proto !== null && typeof proto === "object"
      ? Object.getOwnPropertyDescriptor(proto, "constructor")?.value
      : undefined;
  const name = typeof ctor === "function" ? ctor.name : "";
  if (name === "") return "an object of another class than Object";
  return `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`;
}

function segment(key: string | number): string {
  if (typeof key === "number") return `[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
