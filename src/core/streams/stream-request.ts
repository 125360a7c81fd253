// The request headers of the Durable Streams protocol (PROTOCOL.md §4.2, §5.1, §5.2, §5.2.1), parsed
// into plain data or refused with a problem naming the header. Pure: the host hands in a header
// getter (a `Headers` is one) and acts on the result.
import { z } from "zod";
import { problem, type Problem } from "../http/problem.js";
import { nonUtf8Charset } from "../http/request-body.js";
import { LATEST_EXPIRY, LATEST_EXPIRY_MS, MAX_TTL_SECONDS } from "./expiry.js";
import { offsetParts } from "./offsets.js";
import type { ProducerClaim } from "./producer.js";

/** Reads one request header (case-insensitive), null when absent; `Headers` satisfies it. */
export interface HeaderSource {
  get(name: string): string | null;
}

/** A stream's configuration as a `PUT` asks for it. */
export interface CreateRequest {
  /** As sent (the type stored and answered on reads); undefined when absent or not a media type. */
  readonly contentType: string | undefined;
  readonly ttlSeconds: number | undefined;
  /** RFC 3339, as sent (answered back verbatim on HEAD). */
  readonly expiresAt: string | undefined;
  readonly closed: boolean;
  readonly fork: ForkRequest | undefined;
}

/** `Stream-Forked-From` and its companions: the source's path, where to diverge, and how far into the next message. */
export interface ForkRequest {
  readonly sourcePath: string;
  /**
   * The source's offset to inherit up to, as its generation and message count (the source checks
   * the generation is its own); undefined: the source's tail.
   */
  readonly offset: { readonly generation: number; readonly count: number } | undefined;
  readonly subOffset: number;
}

/** What a `POST` declares besides its body. */
export interface AppendRequest {
  readonly contentType: string | undefined;
  readonly close: boolean;
  readonly streamSeq: string | undefined;
  readonly producer: ProducerClaim | undefined;
}

/** Longest `Producer-Id`, `Stream-Seq` and `Content-Type` accepted: they are stored, so bounded. */
export const MAX_TOKEN_LENGTH = 256;
const DECIMAL = /^(0|[1-9]\d*)$/;
const DIGITS = /^\d+$/;
// type/subtype, then nothing but parameters (RFC 9110 §8.3.1).
const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+[ \t]*(;.*)?$/;
// RFC 3339 date-time (§5.6) with a zone (`Z` or ±hh:mm), a real calendar date and time of day
// (no February 30th, no hour 24; a leap second's :60 is refused too: it has no instant here).
// zod's check wants `T` and `Z`; RFC 3339 also allows `t`, `z` and a space (§5.6 NOTE), mapped first.
const RFC3339 = z.iso.datetime({ offset: true });

/**
 * The protocol's request headers read here. The Fetch API joins a header sent on several lines
 * into one value with ", ", so a value holding ", " cannot be told from a header sent twice: it
 * is refused for every one of them (a number, date or offset so joined fails its own syntax
 * anyway; an opaque Producer-Id or Stream-Seq, a Content-Type with parameters, or
 * `Stream-Closed: true, true`, would not).
 */
const PROTOCOL_HEADERS = [
  "Content-Type",
  "Stream-TTL",
  "Stream-Expires-At",
  "Stream-Closed",
  "Stream-Forked-From",
  "Stream-Fork-Offset",
  "Stream-Fork-Sub-Offset",
  "Stream-Seq",
  "Producer-Id",
  "Producer-Epoch",
  "Producer-Seq",
] as const;

/** The media type of a `Content-Type` value, lower-cased, without parameters ("" when absent). */
export function mediaType(contentType: string | undefined | null): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** JSON mode (§9.1) applies to `application/json` streams. */
export function isJsonType(contentType: string | undefined): boolean {
  return mediaType(contentType) === "application/json";
}

/**
 * SSE carries `text/*` and JSON as UTF-8 text; every other type is base64-encoded (§5.8). So
 * these streams hold UTF-8 text only: another charset is refused (415) and a body that is not
 * UTF-8 too (400), rather than altered on its way out over SSE.
 */
export function isTextType(contentType: string | undefined): boolean {
  const t = mediaType(contentType);
  return t.startsWith("text/") || t === "application/json";
}

/** `Stream-Closed` counts only when it is exactly `true`, in any case (§4.1). */
export function closedHeader(value: string | null): boolean {
  return value !== null && value.toLowerCase() === "true";
}

/**
 * A request's `Content-Type`, trimmed (undefined when absent or blank), or the 400 refusing it: over
 * MAX_TOKEN_LENGTH characters, or not a media type (type/subtype). One rule for a `PUT`, where it
 * becomes the stream's type, and a `POST`, where it must match it.
 */
function contentTypeOf(h: HeaderSource): string | undefined | Problem {
  const raw = h.get("content-type");
  if (raw !== null && raw.length > MAX_TOKEN_LENGTH)
    return bad(`Content-Type must be at most ${MAX_TOKEN_LENGTH} characters`);
  const given = raw?.trim() || undefined;
  // Not silently the default: a stream's type decides how every read of it is framed, for good.
  if (given !== undefined && !MEDIA_TYPE.test(given))
    return bad("Content-Type must be a media type (type/subtype), or absent for application/octet-stream");
  if (given !== undefined && isTextType(given)) {
    const charset = nonUtf8Charset(given);
    // JSON is UTF-8 (RFC 8259 §8.1); text streams are read over SSE as UTF-8 text (§5.8).
    if (charset !== undefined)
      return problem(
        "unsupported-media-type",
        `charset ${charset || "(empty)"} is not supported: ${mediaType(given)} streams carry UTF-8 text (send other bytes as application/octet-stream)`,
      );
  }
  return given;
}

/** The 400 for a protocol header whose value holds ", " (sent twice, PROTOCOL_HEADERS), or undefined. */
function repeatedHeader(h: HeaderSource): Problem | undefined {
  for (const name of PROTOCOL_HEADERS) {
    if (h.get(name)?.includes(", "))
      return bad(`${name} must be sent once, and hold no ", " (which cannot be told from the header sent twice)`);
  }
  return undefined;
}

/** `Stream-Expires-At` as sent, or the 400 refusing it: not an RFC 3339 instant, or after LATEST_EXPIRY. */
function expiresAtOf(raw: string): string | Problem {
  const normalized = raw.replace(/^(.{10})[t ]/, "$1T").replace(/z$/, "Z");
  if (!RFC3339.safeParse(normalized).success)
    return bad(
      "Stream-Expires-At must be an RFC 3339 timestamp of a real date and time (such as 2030-01-31T12:00:00Z)",
    );
  if (Date.parse(normalized) > LATEST_EXPIRY_MS)
    return bad(`Stream-Expires-At must be at most ${LATEST_EXPIRY}: the stream's expiry is armed as an alarm`);
  return raw;
}

/** Parses a `PUT`'s headers; a problem (400) names the first malformed one. */
export function parseCreate(h: HeaderSource): CreateRequest | Problem {
  const repeated = repeatedHeader(h);
  if (repeated) return repeated;
  const contentType = contentTypeOf(h);
  if (typeof contentType === "object") return contentType;
  const ttl = h.get("stream-ttl");
  const expires = h.get("stream-expires-at");
  if (ttl !== null && expires !== null) return bad("Stream-TTL and Stream-Expires-At are exclusive; send one");
  let ttlSeconds: number | undefined;
  if (ttl !== null) {
    if (!DECIMAL.test(ttl) || !Number.isSafeInteger(Number(ttl)))
      return bad("Stream-TTL must be a whole number of seconds without sign, leading zeros or exponent");
    ttlSeconds = Number(ttl);
    if (ttlSeconds > MAX_TTL_SECONDS)
      return bad(
        `Stream-TTL must be at most ${MAX_TTL_SECONDS} seconds (100 years): the stream's expiry is armed as an alarm`,
      );
  }
  if (expires !== null) {
    const checked = expiresAtOf(expires);
    if (typeof checked === "object") return checked;
  }
  const sourcePath = h.get("stream-forked-from");
  const forkOffset = h.get("stream-fork-offset");
  const subOffset = h.get("stream-fork-sub-offset");
  let fork: ForkRequest | undefined;
  if (sourcePath === null) {
    if (forkOffset !== null || subOffset !== null)
      return bad("Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From");
  } else {
    let offset: ForkRequest["offset"];
    if (forkOffset !== null) {
      offset = offsetParts(forkOffset);
      if (offset === undefined) return bad("Stream-Fork-Offset is not an offset this server issued");
    }
    let sub = 0;
    if (subOffset !== null) {
      if (!DECIMAL.test(subOffset) || !Number.isSafeInteger(Number(subOffset)))
        return bad("Stream-Fork-Sub-Offset must be a non-negative whole number");
      sub = Number(subOffset);
      if (sub > 0 && offset === undefined) return bad("Stream-Fork-Sub-Offset needs Stream-Fork-Offset");
    }
    fork = { sourcePath, offset, subOffset: sub };
  }
  return {
    contentType,
    ttlSeconds,
    expiresAt: expires ?? undefined,
    closed: closedHeader(h.get("stream-closed")),
    fork,
  };
}

/** Parses a `POST`'s headers; a problem (400) names the first malformed one. */
export function parseAppend(h: HeaderSource): AppendRequest | Problem {
  const repeated = repeatedHeader(h);
  if (repeated) return repeated;
  const contentType = contentTypeOf(h);
  if (typeof contentType === "object") return contentType;
  const id = h.get("producer-id");
  const epoch = h.get("producer-epoch");
  const seq = h.get("producer-seq");
  let producer: ProducerClaim | undefined;
  if (id !== null || epoch !== null || seq !== null) {
    if (id === null || epoch === null || seq === null)
      return bad("Producer-Id, Producer-Epoch and Producer-Seq go together");
    if (id === "" || id.length > MAX_TOKEN_LENGTH)
      return bad(`Producer-Id must be 1 to ${MAX_TOKEN_LENGTH} characters`);
    const e = DIGITS.test(epoch) ? Number(epoch) : Number.NaN;
    const s = DIGITS.test(seq) ? Number(seq) : Number.NaN;
    if (!Number.isSafeInteger(e)) return bad("Producer-Epoch must be a whole number up to 2^53-1");
    if (!Number.isSafeInteger(s)) return bad("Producer-Seq must be a whole number up to 2^53-1");
    producer = { id, epoch: e, seq: s };
  }
  const streamSeq = h.get("stream-seq") ?? undefined;
  if (streamSeq !== undefined && (streamSeq === "" || streamSeq.length > MAX_TOKEN_LENGTH))
    return bad(`Stream-Seq must be 1 to ${MAX_TOKEN_LENGTH} characters`);
  return {
    contentType,
    close: closedHeader(h.get("stream-closed")),
    streamSeq,
    producer,
  };
}

/** True when `x` is a problem rather than a parsed request. */
export function isProblem(x: object): x is Problem {
  return "status" in x && "type" in x;
}

function bad(detail: string): Problem {
  return problem("malformed-request", detail);
}
