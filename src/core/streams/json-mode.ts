// JSON mode (PROTOCOL.md §9.1): an `application/json` stream keeps message boundaries. A POST body
// that is an array is flattened one level (each element a message), an empty array is refused on
// append (allowed on create: an empty stream), and reads answer one JSON array of every message.
// Messages are stored as JSON text (a single value as sent, array elements re-serialized), so a
// read is a join, not a re-parse.

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
  return { ok: true, messages: value.map((item: unknown) => JSON.stringify(item)) };
}

/** One JSON array of the given message texts (§9.1.5). */
export function jsonArray(messages: readonly string[]): string {
  return `[${messages.join(",")}]`;
}
