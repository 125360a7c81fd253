// JSON mode (PROTOCOL.md §9.1): an `application/json` stream keeps message boundaries. A POST body
// that is an array is flattened one level (each element a message), an empty array is refused on
// append (allowed on create: an empty stream), and reads answer one JSON array of every message.
// Messages are stored as JSON text exactly as sent (a single value, or an array element's own
// text), so a read is a join, not a re-parse, and no message is changed on its way through:
// re-serializing would collapse a key given twice, turn 1e400 into null and round 2^53 + 1.

/** The messages a JSON body holds, as canonical JSON texts; `invalid` when it does not parse. */
export type JsonBatch =
  | { readonly ok: true; readonly messages: readonly string[] }
  | { readonly ok: false; readonly reason: "invalid-json" | "empty-array" };

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Splits a JSON body into its messages (§9.1.2); `allowEmpty` for a create's initial body (§9.1.3). */
export function jsonMessages(body: Uint8Array, allowEmpty: boolean): JsonBatch {
  let value: unknown;
  let text: string;
  try {
    text = decoder.decode(body);
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: "invalid-json" };
  }
  // A single value is kept as sent (it parsed, so it is one JSON text): no re-serialization on the append path.
  if (!Array.isArray(value)) return { ok: true, messages: [text.trim()] };
  if (value.length === 0 && !allowEmpty) return { ok: false, reason: "empty-array" };
  return { ok: true, messages: value.length === 0 ? [] : elementTexts(text) };
}

/**
 * The texts of a JSON array's elements, trimmed, in order. `text` must be an array JSON.parse has
 * accepted: only string boundaries and nesting need tracking to find the top-level commas.
 */
function elementTexts(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (c === "[" || c === "{") {
      depth++;
      if (depth === 1) start = i + 1;
    } else if (c === "]" || c === "}") {
      if (depth === 1) out.push(text.slice(start, i).trim());
      depth--;
    } else if (c === "," && depth === 1) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return out;
}

/** One JSON array of the given message texts (§9.1.5). */
export function jsonArray(messages: readonly string[]): string {
  return `[${messages.join(",")}]`;
}
