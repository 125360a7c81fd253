// What "plain JSON" means for the values a domain hands the runtime to store (event data, the
// initial state, snapshots of state, saga contexts and tasks, service results): only null,
// booleans, finite numbers, strings, arrays and objects whose prototype is Object's (or null).
// Anything else changes on the JSON round trip that storage makes (a Date becomes a string, an
// undefined field vanishes, NaN becomes null, a Map becomes {}), so the memory image would differ
// from what a restart reads back. One checker for the runtime and the test kits.

/** The deepest nesting looked into: deeper is refused, so a cycle (which JSON.stringify throws on) ends the walk. */
export const MAX_JSON_DEPTH = 1000;

/**
 * Where `value` stops being plain JSON, or null when it is plain JSON: a sentence such as
 * `data.at is a Date`, `data.kind is undefined`, `state.total is NaN` or `context.items[2] is a
 * function`, its path rooted at `root`. The first offence found (depth first, in key order).
 * Own enumerable string keys are what JSON.stringify reads, and all this looks at; -0 passes
 * (JSON writes 0, which compares equal). No path is built unless something is found: this runs
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
          const inner = offence(value[i], depth + 1);
          if (inner) return within(i, inner);
        }
        return null;
      }
      if (proto !== Object.prototype && proto !== null) return { path: [], what: `is ${describe(proto)}` };
      const record = value as Readonly<Record<string, unknown>>;
      for (const key of Object.keys(record)) {
        const inner = offence(record[key], depth + 1);
        if (inner) return within(key, inner);
      }
      return null;
    }
    default:
      return { path: [], what: `is a ${typeof value}` };
  }
}

/** "a Date", "an Instant", or "an object of another class" for a prototype without a named constructor. */
/** `inner`, found under `key` of its container. */
function within(key: string | number, inner: Offence): Offence {
  inner.path.push(key);
  return inner;
}

function describe(proto: unknown): string {
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
