// Reading a request body into memory without holding more than a bound: the one reader behind the
// JSON API's bodies, the dashboard's forms, the Durable Streams appends and the digest check
// (content-digest.ts), which runs before any of them.
import { problem, type Problem } from "./problem.js";

/** The bytes of `parts`, one after another. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * How much of an over-large request body is still read, and dropped, before it is cancelled
 * (bytes, counted from its start; 64 MiB). Answering before an upload ends makes many clients see
 * a reset connection instead of the 413 (RFC 9110 §15.5.14), and locally a request body cancelled
 * part-way broke the connection between wrangler's proxy and the runtime, so that the next request
 * of any client got a plain-text 503 or no answer. Cloudflare refuses a body over 100 MB at its
 * edge (Workers limits, request body size), so the drain is bounded there too.
 */
export const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

/** A request body read whole, or the problem that refuses it. */
export type BodyRead =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly problem: Problem };

/**
 * The whole body of `request` (empty for none), or `payload-too-large` (413) over `limit` bytes: a
 * declared `Content-Length` over it is refused unread; a body within its declared length is read
 * whole (the runtime enforces the length); a body of unknown length (chunked) is counted as it
 * streams in (`readBodyWithin`).
 */
export async function readRequestBody(request: Request, limit: number): Promise<BodyRead> {
  const tooLarge = (): BodyRead => ({
    ok: false,
    problem: problem("payload-too-large", `the body may be at most ${limit} bytes`),
  });
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) return tooLarge();
  let bytes: Uint8Array | undefined = new Uint8Array();
  if (request.body !== null)
    bytes = declared !== null ? new Uint8Array(await request.arrayBuffer()) : await readBodyWithin(request.body, limit);
  if (bytes === undefined || bytes.byteLength > limit) return tooLarge();
  return { ok: true, bytes };
}

/**
 * The whole of `body` (empty for none), or undefined when it is over `limit` bytes. No more than
 * `limit` bytes are kept. Past `limit` the rest is read and dropped up to `drainLimit` bytes in all
 * (default `DRAIN_LIMIT_BYTES`), and only a body longer than that is cancelled part-way.
 */
export async function readBodyWithin(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  drainLimit = DRAIN_LIMIT_BYTES,
): Promise<Uint8Array | undefined> {
  if (body === null) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > Math.max(limit, drainLimit)) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    if (size <= limit) chunks.push(value);
  }
  return size > limit ? undefined : concatBytes(chunks);
}
