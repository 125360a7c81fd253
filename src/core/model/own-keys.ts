// Own-key lookups in records keyed by strings a client chose (order ids, SKUs, task keys). A plain
// object looked up with `record[key]` or `key in record` answers for `toString`, `constructor`, `__proto__`… from
// Object.prototype; these helpers only ever see the record's own keys. They keep records plain
// objects, so entity state stays JSON (snapshots, the wire) and survives a round trip unchanged:
// a computed key or a spread defines `__proto__` as an own property, and JSON.parse restores it as one.

/** The value stored under `key`, or undefined; never an inherited member of Object.prototype. */
export function ownValue<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** true when `key` is one of the record's own keys (not an inherited member). */
export function hasOwnKey(record: Readonly<Record<string, unknown>>, key: string): boolean {
  return Object.hasOwn(record, key);
}

/** A copy of `record` with `key` set to `value` (an own property, whatever the key). */
export function withEntry<V>(record: Readonly<Record<string, V>>, key: string, value: V): Record<string, V> {
  return { ...record, [key]: value };
}

/** A copy of `record` without `key`. */
export function withoutEntry<V>(record: Readonly<Record<string, V>>, key: string): Record<string, V> {
  const { [key]: _dropped, ...rest } = record;
  return rest;
}
