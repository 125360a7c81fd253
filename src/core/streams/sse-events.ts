// Server-Sent Events framing for stream reads (PROTOCOL.md §5.8): `event: data` carries the
// stream's bytes (text, a JSON array, or base64 for binary types), `event: control` the position
// as JSON. Every line terminator inside a payload (CRLF, CR or LF) starts a new `data:` line, so a
// payload can never end an event early or inject one (no space after `data:`: clients strip one).

const encoder = new TextEncoder();

/** One SSE event of `type` carrying `payload`, as bytes ready to write. */
export function sseEvent(type: "data" | "control", payload: string): Uint8Array {
  const lines = payload.split(/\r\n|\r|\n/).map((line) => `data:${line}`);
  return encoder.encode(`event: ${type}\n${lines.join("\n")}\n\n`);
}

/** The position a control event reports (field names from §5.8). */
export interface ControlEvent {
  readonly streamNextOffset: string;
  /** Present while the stream is open. */
  readonly streamCursor?: string;
  readonly upToDate?: true;
  readonly streamClosed?: true;
}

/** The control event for `c`. */
export function controlEvent(c: ControlEvent): Uint8Array {
  return sseEvent("control", JSON.stringify(c));
}

/** Standard base64 (RFC 4648 §4) of `bytes`, for data events of binary streams. */
export function base64(bytes: Uint8Array): string {
  let binary = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}
