// W3C Trace Context (traceparent): accepted from callers, generated when absent, and carried
// with a command's events through the outbox and the queue, so one trace id finds the journey.

// version-traceid-parentid-flags, lower-case hex; a future version may append fields after a dash.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export interface TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
}

// Two hex digits per byte value, so an id costs one table lookup per byte (ids are made per request).
const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

function randomHex(bytes: number): string {
  let hex = "";
  for (const b of crypto.getRandomValues(new Uint8Array(bytes))) hex += HEX_BYTE[b] ?? "";
  return hex;
}

/** A caller's traceparent, taken apart: its trace id, the caller's span (parent) id and flags. */
export interface ParsedTraceparent {
  readonly traceId: string;
  readonly parentId: string;
  readonly flags: string;
}

/**
 * Parses a `traceparent` header by the W3C Trace Context rules (§3.2): version `ff` is invalid,
 * version `00` has exactly four fields, a higher version may carry more after a dash; an all-zero
 * trace id or parent id is invalid. Answers null for anything invalid, which the caller must
 * treat as no header at all (a new trace), never continue.
 */
export function parseTraceparent(header: string | null | undefined): ParsedTraceparent | null {
  const m = header ? TRACEPARENT.exec(header.trim()) : null;
  if (!m) return null;
  const [, version = "", traceId = "", parentId = "", flags = "", rest] = m;
  if (version === "ff" || (version === "00" && rest !== undefined)) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return null;
  return { traceId, parentId, flags };
}

/** Continues the caller's trace with a new span, or starts a new trace when it sent no valid one. */
export function continueTrace(header: string | null | undefined): TraceContext {
  const caller = parseTraceparent(header);
  const traceId = caller?.traceId ?? randomHex(16);
  // Only the sampled bit is defined for version 00; the others are not ours to pass on.
  const flags = caller ? (parseInt(caller.flags, 16) & 1 ? "01" : "00") : "01";
  const spanId = randomHex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${flags}` };
}

/** The trace id of a valid traceparent, or null. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  return parseTraceparent(traceparent)?.traceId ?? null;
}
