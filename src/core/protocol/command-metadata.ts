// The metadata a command carries into every fact it records (correlation and causation ids,
// idempotency key, the cause's clock, the request id): each has one grammar and one length bound,
// checked where it enters — by the tenant API for a header, and again by the entity object for
// every envelope (sagas call it over RPC) — so nothing unbounded or ambiguous is ever recorded.
//
// The grammar is the same for every id: visible ASCII (0x21-0x7E), no space. A header sent twice
// reaches a Worker joined as "a, b", which this grammar refuses — a repeated header means two
// things, and recording either would be a guess.
import { toBase64Url } from "./base64url.js";
import { parseCauseClock, type CauseClockError } from "./hlc.js";
import { problem, type Problem } from "../http/problem.js";

/** Visible ASCII, no space: an id that means one thing in a header, a log and a CloudEvent. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** Length bounds, in bytes (= characters: the grammar is ASCII). */
export const METADATA_BOUNDS = {
  /** Factline-Correlation-Id (sagas send their id: tenant, saga name and instance id, ≤ ~200). */
  correlationId: 256,
  /** Factline-Causation-Id (usually the causing event's UUID). */
  causationId: 256,
  /** Idempotency-Key. */
  idempotencyKey: 255,
  /** x-request-id (the default correlation id). */
  requestId: 128,
} as const;

/** A recorded metadata value, by its name in the command envelope. */
export type MetadataField = keyof typeof METADATA_BOUNDS | "causeHlc";

/** A refused metadata value: which field, and a sentence a client can act on. */
export interface MetadataError {
  readonly field: MetadataField;
  readonly detail: string;
}

const LABELS: Record<MetadataField, string> = {
  correlationId: "Factline-Correlation-Id",
  causationId: "Factline-Causation-Id",
  idempotencyKey: "Idempotency-Key",
  requestId: "x-request-id",
  causeHlc: "Factline-Cause-Clock",
};

/** Checks one id-like value against its grammar and bound; undefined when it is fine. */
export function checkMetadataId(field: keyof typeof METADATA_BOUNDS, value: string): MetadataError | undefined {
  const max = METADATA_BOUNDS[field];
  if (value.length >= 1 && value.length <= max && VISIBLE_ASCII.test(value)) return undefined;
  return { field, detail: `${LABELS[field]} must be 1-${max} visible ASCII characters (no spaces; sent once)` };
}

/**
 * What breaks the Idempotency-Key grammar (`checkMetadataId`: 1-255 visible ASCII, no space) in
 * `key`, in words an app's author can act on, or null when it fits: `is empty`, `is 300
 * characters long`, or the first character outside it and where (`holds " " (U+0020) at
 * character 12`). For keys an app chose itself (a saga call's `idempotencyKey`), which are refused
 * rather than fitted (`fitIdempotencyKey`) since another system may share them.
 */
export function idempotencyKeyIssue(key: string): string | null {
  if (checkMetadataId("idempotencyKey", key) === undefined) return null;
  const max = METADATA_BOUNDS.idempotencyKey;
  if (key.length === 0) return "is empty";
  const chars = Array.from(key);
  const at = chars.findIndex((c) => !VISIBLE_ASCII.test(c));
  if (at < 0) return `is ${key.length} characters long, over ${max}`;
  const c = chars[at] ?? "";
  const code = (c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
  // A control character would print as nothing (DEL) or as an escape: named by its code alone.
  const shown = /\p{Cc}/u.test(c) ? `control character U+${code}` : `${JSON.stringify(c)} (U+${code})`;
  return `holds ${shown} at character ${at + 1}`;
}

/** Characters of the original kept in front of a fitted key's digest (`fitIdempotencyKey`). */
const FITTED_PREFIX = 200;

/**
 * A key derived from parts of any length or alphabet (a saga's id and an app's task key, a charge
 * key and a suffix), made to satisfy the Idempotency-Key grammar (`checkMetadataId`) that the
 * entity object and the reference gateway check. A key that already satisfies it is unchanged, so
 * keys in use before this rule keep naming their actions. Any other is
 * `<first 200 characters, each outside visible ASCII as "_">~<base64url SHA-256 of the whole key,
 * UTF-8>`: at most 244 characters, the same on every call (retries and redeliveries replay), and
 * different for two keys that differ anywhere, even past their first 200 characters.
 */
export async function fitIdempotencyKey(key: string): Promise<string> {
  if (checkMetadataId("idempotencyKey", key) === undefined) return key;
  const prefix = Array.from(key)
    .slice(0, FITTED_PREFIX)
    .map((c) => (VISIBLE_ASCII.test(c) ? c : "_"))
    .join("");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return `${prefix}~${toBase64Url(digest)}`;
}

const CLOCK_DETAIL: Record<CauseClockError, string> = {
  malformed: "Factline-Cause-Clock must be a hybrid logical clock as events carry it: 15 digits, '.', 6 digits",
  "too-far-ahead": "Factline-Cause-Clock is more than 5 minutes ahead of this server's clock",
};

/** The metadata fields of a command envelope that are recorded with its facts. */
export interface CommandMetadata {
  readonly idempotencyKey: string | null;
  readonly causeHlc: string | null;
  readonly correlationId: string;
  readonly causationId: string | null;
}

/**
 * Checks every recorded metadata value of a command against its bound, at `now` (epoch ms, for the
 * cause clock's drift bound). Returns the first refused field, or undefined when all are fine.
 */
export function checkCommandMetadata(m: CommandMetadata, now: number): MetadataError | undefined {
  const error =
    checkMetadataId("correlationId", m.correlationId) ??
    (m.causationId === null ? undefined : checkMetadataId("causationId", m.causationId)) ??
    (m.idempotencyKey === null ? undefined : checkMetadataId("idempotencyKey", m.idempotencyKey));
  if (error) return error;
  if (m.causeHlc !== null) {
    const clock = parseCauseClock(m.causeHlc, now);
    if (!clock.ok) return { field: "causeHlc", detail: CLOCK_DETAIL[clock.error] };
  }
  return undefined;
}

/** A refused value as a 400 `malformed-request` problem naming its header in `errors`. */
export function metadataProblem(error: MetadataError): Problem {
  return problem("malformed-request", error.detail, { errors: [{ path: LABELS[error.field], message: error.detail }] });
}
