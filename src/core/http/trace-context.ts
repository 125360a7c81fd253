// W3C Trace Context (traceparent): accepted from callers, generated when absent, and carried
// with a command's events through the outbox and the queue, so one trace id finds the journey.

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Continues the caller's trace with a new span, or starts a new trace. */
export function continueTrace(header: string | null | undefined): TraceContext {
  const m = header ? TRACEPARENT.exec(header.trim()) : null;
  const traceId = m?.[1] && !/^0+$/.test(m[1]) ? m[1] : randomHex(16);
  const flags = m?.[3] ?? "01";
  const spanId = randomHex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${flags}` };
}

export function traceIdOf(traceparent: string | null | undefined): string | null {
  return (traceparent && TRACEPARENT.exec(traceparent)?.[1]) || null;
}
