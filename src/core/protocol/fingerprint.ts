// The fingerprint an Idempotency-Key is bound to: the command name and its body in canonical
// JSON (keys sorted), so the same request re-sent with other whitespace or key order still
// matches, and any change of meaning does not.
import { sha256Hex } from "../security/api-key.js";

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function commandFingerprint(command: string, body: unknown): Promise<string> {
  return sha256Hex(`${command}\n${canonicalJson(body)}`);
}
