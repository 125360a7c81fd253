// One Durable Stream (PROTOCOL.md): a SQLite Durable Object per (tenant, stream name) that serves
// the whole protocol for its URL — create, append (with Stream-Seq and idempotent producers),
// close, delete, HEAD, and reads in catch-up, long-poll and SSE modes. The Worker's route
// (stream-routes.ts) authenticates, names the object and forwards the request; the rules live as
// pure functions in src/core/streams.
//
// Single writer: every append is validated and committed in one synchronous step (no await between
// reading the state and writing it), so retries and racing twins are judged against the committed
// state. Forks copy the inherited messages at creation (copy-on-fork, §4.2 allows it) and count
// themselves in their source (`ref_count`), so a deleted source with live forks is soft-deleted
// (410) and purged when its last fork goes. Long-poll and SSE readers wait in memory for the next
// append; the object stays in memory while they are connected.
//
// A sliding `Stream-TTL` counts idle time (PROTOCOL.md §5.1: "a stream with active live readers
// will not expire"): every read and write restarts it when it starts, a live read (a parked
// long-poll, an open SSE connection) holds the stream for as long as it waits, and restarts the TTL
// again when it leaves. So the stream expires a whole TTL after its last request or its last live
// reader left, whichever is later. An absolute `Stream-Expires-At` is a deadline no reader moves.
import { DurableObject } from "cloudflare:workers";
import { problem, problemResponse, type Problem, type ProblemKind } from "../../src/core/http/problem.js";
import { IF_NONE_MATCH_RULE, notModified } from "../../src/core/protocol/if-none-match.js";
import { utf8Length } from "../../src/core/protocol/cloud-event.js";
import { alarmTime } from "../../src/core/runtime/alarm-time.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { readCacheControl } from "../../src/core/streams/cache-control.js";
import { cursorProblem, responseCursor } from "../../src/core/streams/cursor.js";
import { expiryTime, forkLifetime, isExpired } from "../../src/core/streams/expiry.js";
import { jsonArray, jsonMessages } from "../../src/core/streams/json-mode.js";
import {
  formatOffset,
  offsetOfAnotherGeneration,
  offsetPastTail,
  parseReadStart,
} from "../../src/core/streams/offsets.js";
import { judgeProducer, type ProducerClaim } from "../../src/core/streams/producer.js";
import { concatBytes, readBodyWithin } from "../../src/core/http/bounded-body.js";
import { base64, controlEvent, sseEvent } from "../../src/core/streams/sse-events.js";
import { pushBody, SSE_STALL_KEEPALIVES } from "../../src/core/streams/push-body.js";
import { keyStandingCheck, StandingWatch } from "../../src/core/streams/standing-watch.js";
import { READ_QUERY_RULES } from "../../src/core/streams/stream-openapi.js";
import {
  type ForkRequest,
  isJsonType,
  isProblem,
  isTextType,
  mediaType,
  parseAppend,
  parseCreate,
  type AppendRequest,
} from "../../src/core/streams/stream-request.js";
import { durableStreamStub, tenantGateStub } from "../stubs.js";
import { STREAM_FORK_SOURCE_HEADER, STREAM_KEY_HEADER, STREAM_TENANT_HEADER } from "./stream-names.js";
import { producerTuple, StreamStorage, type StoredMessage, type StreamMeta } from "./stream-storage.js";

/** Largest body one append (or a create's initial body) may carry: under SQLite's 2 MB row limit. */
export const MAX_APPEND_BYTES = 1024 * 1024;
/** Bytes one catch-up read or SSE data event carries at most (at least one message). */
export const MAX_READ_BYTES = 1024 * 1024;
/** Bytes a fork may inherit: they are copied over RPC (limit 32 MiB a message) into the fork's own SQLite. */
export const MAX_FORK_COPY_BYTES = 16 * 1024 * 1024;
/** An SSE connection is closed after this long so CDNs can collapse readers (§10.2); clients resume. */
export const SSE_MAX_CONNECTION_MS = 60_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a source answers a fork: the messages to inherit and the lifetime to inherit, or why not. */
export type ForkSnapshot =
  | {
      readonly ok: true;
      readonly contentType: string;
      readonly ttlSeconds: number | undefined;
      readonly expiresAt: string | undefined;
      readonly offset: number;
      readonly messages: readonly StoredMessage[];
      /** The first `subOffset` bytes or JSON messages of the next append, when asked for. */
      readonly prefix: Uint8Array | string | undefined;
    }
  | { readonly ok: false; readonly kind: ProblemKind; readonly detail: string };

/** A protocol response as it crosses RPC, its body as bytes (SSE reads, whose bodies stream, go over `fetch`). */
export interface WireResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | null;
}

/** The RPC surface one stream object offers the route and its forks. */
export interface DurableStreamRpc {
  /**
   * Serves one protocol request but an SSE read (the route has authenticated it and named the
   * tenant in its headers); an SSE read would be buffered until its connection ends.
   */
  serve(method: string, url: string, headers: Record<string, string>, body: Uint8Array | null): Promise<WireResponse>;
  forkSnapshot(
    offset: ForkRequest["offset"],
    subOffset: number,
    contentType: string | undefined,
  ): Promise<ForkSnapshot>;
  releaseFork(): Promise<void>;
  /** Serves any protocol request, an SSE read included, as a `Request` carrying the same headers. */
  fetch(request: Request): Promise<Response>;
}

export class DurableStreamHost extends DurableObject<Env> implements DurableStreamRpc {
  readonly #store: StreamStorage;
  /** Readers waiting for the next change (append, close, delete). */
  #waiters = new Set<() => void>();
  /**
   * Live reads in progress (parked long-polls, open SSE connections). In memory only: they are
   * requests this object is serving, so a restart ends them as well.
   */
  #liveReaders = 0;
  /** Serializes creates and deletes, which await other objects (a fork's source). */
  #exclusive: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new StreamStorage(ctx.storage.sql);
  }

  override async fetch(request: Request): Promise<Response> {
    const tenant = request.headers.get(STREAM_TENANT_HEADER);
    if (tenant === null) return problemResponse(problem("internal", "stream request without tenant"));
    switch (request.method) {
      case "PUT":
        return this.#serially(() => this.#create(request, tenant));
      case "POST":
        return this.#append(request, tenant);
      case "GET":
        return this.#read(request, tenant);
      case "HEAD":
        return this.#head(tenant);
      case "DELETE":
        return this.#serially(() => this.#delete(tenant));
      default:
        return problemResponse(problem("method-not-allowed", `${request.method} is not part of the protocol`), {
          allow: "GET, HEAD, PUT, POST, DELETE",
        });
    }
  }

  override async alarm(): Promise<void> {
    const meta = await this.#current(this.#tenantOf());
    if (meta === undefined || meta.softDeleted) return;
    // Readers parked on the stream are using it: its TTL restarts instead of running out. Stored
    // (not only held in memory), so a restart of the object, which drops them, counts the TTL from
    // here rather than from the request that started their wait.
    if (this.#heldByReaders(meta)) this.#touch(meta);
    const at = expiryTime(meta, this.#store.meta()?.touchedAt ?? meta.touchedAt);
    if (at !== undefined) await this.ctx.storage.setAlarm(alarmTime(at));
  }

  // ---- RPC ---------------------------------------------------------------------------------------

  // RPC rather than `fetch`: measured faster for the small requests appends are (docs/performance.md).
  async serve(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Uint8Array | null,
  ): Promise<WireResponse> {
    const tenant = Object.hasOwn(headers, STREAM_TENANT_HEADER) ? headers[STREAM_TENANT_HEADER] : undefined;
    // Appends, the hot path, skip building a Request around bytes the route already holds.
    const res =
      method === "POST" && tenant !== undefined && body !== null && body.byteLength <= MAX_APPEND_BYTES
        ? await this.#appendBytes(new Headers(headers), body, tenant)
        : await this.fetch(new Request(url, { method, headers, body }));
    const raw = rawBodies.get(res);
    return {
      status: res.status,
      headers: Object.fromEntries(res.headers),
      body: raw ?? (res.body === null ? null : new Uint8Array(await res.arrayBuffer())),
    };
  }

  async forkSnapshot(
    offset: ForkRequest["offset"],
    subOffset: number,
    contentType: string | undefined,
  ): Promise<ForkSnapshot> {
    const meta = await this.#current(this.#tenantOf());
    if (meta === undefined) return { ok: false, kind: "not-found", detail: "the source stream does not exist" };
    if (meta.softDeleted)
      return { ok: false, kind: "conflict", detail: "the source stream was deleted; it cannot be forked" };
    if (contentType !== undefined && mediaType(contentType) !== mediaType(meta.contentType)) {
      return { ok: false, kind: "content-type-mismatch", detail: `the source stream is ${meta.contentType}` };
    }
    const other = offset && offsetOfAnotherGeneration(offset.generation, meta.generation, "Stream-Fork-Offset");
    if (other) return { ok: false, ...other };
    const at = offset?.count ?? meta.tail;
    if (at > meta.tail)
      return { ok: false, kind: "malformed-request", detail: "Stream-Fork-Offset is beyond the source stream's tail" };
    let prefix: Uint8Array | string | undefined;
    if (subOffset > 0) {
      const next = this.#store.read(at, 0, at + 1)[0];
      if (next === undefined)
        return {
          ok: false,
          kind: "malformed-request",
          detail: "Stream-Fork-Sub-Offset names a position past the source's data",
        };
      if (isJsonType(meta.contentType)) {
        const values = JSON.parse(`[${textOf(next.data)}]`) as unknown[];
        if (subOffset > values.length)
          return {
            ok: false,
            kind: "malformed-request",
            detail: "Stream-Fork-Sub-Offset is past the next append's messages",
          };
        prefix = values
          .slice(0, subOffset)
          .map((v) => JSON.stringify(v))
          .join(",");
      } else {
        const bytes = bytesOf(next.data);
        if (subOffset > bytes.byteLength)
          return {
            ok: false,
            kind: "malformed-request",
            detail: "Stream-Fork-Sub-Offset is past the next append's bytes",
          };
        prefix = bytes.slice(0, subOffset);
        // A text stream's fork holds UTF-8 text too: its first message may not end inside a character.
        if (isTextType(meta.contentType)) {
          const text = storedForm(meta.contentType, prefix);
          if (text === undefined)
            return {
              ok: false,
              kind: "malformed-request",
              detail: "Stream-Fork-Sub-Offset falls inside a UTF-8 character of the next append",
            };
          prefix = text;
        }
      }
    }
    // The limit counts the UTF-8 bytes copied, the sub-offset's part of the next append included.
    // The read stops past it counting UTF-16 units, which never exceed a text's UTF-8 bytes.
    const messages = this.#store.read(0, MAX_FORK_COPY_BYTES + 1, at);
    const copied = messages.reduce((n, m) => n + byteLength(m.data), prefix === undefined ? 0 : byteLength(prefix));
    if ((messages.at(-1)?.seq !== at && at > 0) || copied > MAX_FORK_COPY_BYTES) {
      return {
        ok: false,
        kind: "payload-too-large",
        detail: `a fork copies the data it inherits, at most ${MAX_FORK_COPY_BYTES} bytes; fork at an earlier offset`,
      };
    }
    this.#store.addRef(1);
    return {
      ok: true,
      contentType: meta.contentType,
      ttlSeconds: meta.ttlSeconds,
      expiresAt: meta.expiresAt,
      offset: at,
      messages,
      prefix,
    };
  }

  async releaseFork(): Promise<void> {
    const meta = this.#store.meta();
    if (meta === undefined) return;
    const left = this.#store.addRef(-1);
    if (left === 0 && meta.softDeleted) await this.#purge(this.#tenantOf());
  }

  // ---- Create ----------------------------------------------------------------------------------

  async #create(request: Request, tenant: string): Promise<Response> {
    this.#rememberTenant(tenant);
    const body = await readBodyWithin(request.body, MAX_APPEND_BYTES);
    if (body === undefined) return tooLarge();
    const req = parseCreate(request.headers);
    if (isProblem(req)) return problemResponse(req);
    const existing = await this.#current(tenant);
    const sourceName = request.headers.get(STREAM_FORK_SOURCE_HEADER) ?? undefined;
    if (existing !== undefined) {
      if (existing.softDeleted)
        return answer("stream-exists", "a deleted stream still read by its forks holds this URL");
      const sameType =
        mediaType(req.contentType ?? (req.fork ? existing.contentType : "application/octet-stream")) ===
        mediaType(existing.contentType);
      const same =
        sameType &&
        req.ttlSeconds === existing.requestedTtlSeconds &&
        req.expiresAt === existing.requestedExpiresAt &&
        req.closed === existing.closed &&
        sourceName === existing.forkedFrom &&
        (req.fork?.offset === undefined || req.fork.offset.count === existing.forkOffset) &&
        (req.fork?.subOffset ?? 0) === existing.forkSubOffset;
      if (!same)
        return answer("stream-exists", "the stream exists with another content type, lifetime, closure or fork origin");
      return new Response(null, { status: 200, headers: this.#createdHeaders(existing) });
    }

    let contentType = req.contentType ?? "application/octet-stream";
    let initial: Uint8Array | string | undefined;
    const checkInitial = (type: string): Problem | undefined => {
      if (body.byteLength === 0) return undefined;
      if (!isJsonType(type)) {
        const stored = storedForm(type, body);
        if (stored === undefined) return notUtf8(type, "the initial body");
        initial = stored;
        return undefined;
      }
      const batch = jsonMessages(body, true);
      if (!batch.ok) return problem("malformed-request", "the initial body is not valid JSON");
      initial = batch.messages.length === 0 ? undefined : batch.messages.join(",");
      return undefined;
    };

    const now = Date.now();
    let tail = 0;
    let anchor: number | undefined;
    let inherited: readonly StoredMessage[] = [];
    let life = { ttlSeconds: req.ttlSeconds, expiresAt: req.expiresAt };
    if (req.fork !== undefined) {
      if (sourceName === undefined)
        return answer(
          "malformed-request",
          "Stream-Forked-From must be the path of a stream of this tenant (/v1/stream/{name})",
        );
      if (req.contentType !== undefined) {
        const bad = checkInitial(req.contentType);
        if (bad) return problemResponse(bad);
      }
      const source = durableStreamStub(this.env, tenant, sourceName);
      const snap = await source.forkSnapshot(req.fork.offset, req.fork.subOffset, req.contentType);
      if (!snap.ok) return answer(snap.kind, snap.detail);
      contentType = req.contentType ?? snap.contentType;
      if (req.contentType === undefined) {
        const bad = checkInitial(contentType);
        if (bad) {
          await source.releaseFork();
          return problemResponse(bad);
        }
      }
      life = forkLifetime(life, snap);
      anchor = snap.offset;
      // A sub-offset materializes the inherited part of the source's next append as the fork's own first message.
      inherited =
        snap.prefix !== undefined && sizeOf(snap.prefix) > 0
          ? [...snap.messages, { seq: snap.offset + 1, data: snap.prefix }]
          : snap.messages;
      tail = inherited.at(-1)?.seq ?? snap.offset;
      tail = Math.max(tail, snap.offset);
    } else {
      const bad = checkInitial(contentType);
      if (bad) return problemResponse(bad);
    }

    const meta: StreamMeta = {
      incarnation: crypto.randomUUID(),
      generation: this.#store.nextGeneration(),
      contentType,
      ttlSeconds: life.ttlSeconds,
      expiresAt: life.expiresAt,
      requestedTtlSeconds: req.ttlSeconds,
      requestedExpiresAt: req.expiresAt,
      closed: req.closed,
      closedBy: undefined,
      lastStreamSeq: undefined,
      tail: initial === undefined ? tail : tail + 1,
      touchedAt: now,
      forkedFrom: sourceName,
      forkOffset: anchor,
      forkSubOffset: req.fork?.subOffset ?? 0,
      refCount: 0,
      softDeleted: false,
    };
    this.#transaction(() => {
      this.#store.purge();
      this.#store.create(meta);
      for (const m of inherited) this.#store.insertMessage(m.seq, m.data);
      if (initial !== undefined) this.#store.insertMessage(tail + 1, initial);
    });
    const at = expiryTime(meta, now);
    // Bounded (an expiry past 1970 already, or parsed from a date the door let through): a
    // refused setAlarm here would fail a create whose writes have committed.
    if (at !== undefined) await this.ctx.storage.setAlarm(alarmTime(at));
    this.#wake();
    return new Response(null, { status: 201, headers: this.#createdHeaders(meta) });
  }

  #createdHeaders(meta: StreamMeta): Headers {
    const h = new Headers({ "content-type": meta.contentType, "stream-next-offset": offsetIn(meta, meta.tail) });
    if (meta.closed) h.set("stream-closed", "true");
    return h;
  }

  // ---- Append and close ------------------------------------------------------------------------

  async #append(request: Request, tenant: string): Promise<Response> {
    // The body is read before any refusal: an answer that leaves it unread fails the caller's upload.
    const body = await readBodyWithin(request.body, MAX_APPEND_BYTES);
    if (body === undefined) return tooLarge();
    return this.#appendBytes(request.headers, body, tenant);
  }

  async #appendBytes(headers: Headers, body: Uint8Array, tenant: string): Promise<Response> {
    const req = parseAppend(headers);
    if (isProblem(req)) return problemResponse(req);
    if (body.byteLength === 0 && !req.close)
      return answer(
        "malformed-request",
        "an append needs a body (an empty POST only closes, with Stream-Closed: true)",
      );
    if (body.byteLength > 0 && req.contentType === undefined)
      return answer("malformed-request", "an append with a body needs a Content-Type");
    const meta = await this.#current(tenant);
    if (meta === undefined) return answer("not-found", "no stream at this URL");
    if (meta.softDeleted) return answer("stream-gone", "the stream was deleted");
    const now = Date.now();
    return body.byteLength === 0 ? this.#closeOnly(meta, req, now) : this.#appendBody(meta, req, body, now);
  }

  #closeOnly(meta: StreamMeta, req: AppendRequest, now: number): Response {
    const p = req.producer;
    if (p === undefined) {
      this.#transaction(() => {
        if (!meta.closed) this.#store.advance(meta.tail, undefined, null, now);
        else this.#store.touch(now);
      });
      this.#wake();
      return new Response(null, { status: 204, headers: closedHeaders(meta) });
    }
    if (meta.closed) return this.#toClosed(meta, p);
    const verdict = judgeProducer(this.#store.producer(p.id), p);
    if (verdict.status === "duplicate")
      return new Response(null, {
        status: 204,
        headers: { ...closedHeaders(meta), ...producerHeaders(p.epoch, verdict.lastSeq) },
      });
    if (verdict.status !== "accepted") return producerRefusal(verdict);
    this.#transaction(() => {
      this.#store.saveProducer(p.id, verdict.next);
      this.#store.advance(meta.tail, undefined, producerTuple(p), now);
    });
    this.#wake();
    return new Response(null, {
      status: 204,
      headers: { ...closedHeaders(meta), ...producerHeaders(p.epoch, p.seq) },
    });
  }

  /**
   * A write to a closed stream: the request that closed it, sent again, and a producer's retry of
   * any append it already made are duplicates (204, Stream-Closed), so a producer can tell that its
   * write landed; a stale epoch is fenced (403); anything else is 409 stream-closed.
   */
  #toClosed(meta: StreamMeta, p: ProducerClaim | undefined): Response {
    if (p === undefined) return closedConflict(meta);
    if (meta.closedBy === producerTuple(p))
      return new Response(null, {
        status: 204,
        headers: { ...closedHeaders(meta), ...producerHeaders(p.epoch, p.seq) },
      });
    const verdict = judgeProducer(this.#store.producer(p.id), p);
    if (verdict.status === "stale-epoch") return producerRefusal(verdict);
    if (verdict.status === "duplicate")
      return new Response(null, {
        status: 204,
        headers: { ...closedHeaders(meta), ...producerHeaders(p.epoch, verdict.lastSeq) },
      });
    return closedConflict(meta);
  }

  #appendBody(meta: StreamMeta, req: AppendRequest, body: Uint8Array, now: number): Response {
    const p = req.producer;
    if (meta.closed) return this.#toClosed(meta, p);
    if (mediaType(req.contentType) !== mediaType(meta.contentType))
      return answer("content-type-mismatch", `the stream is ${meta.contentType}`);
    let accepted: ProducerClaim | undefined;
    let next: { epoch: number; lastSeq: number } | undefined;
    if (p !== undefined) {
      const verdict = judgeProducer(this.#store.producer(p.id), p);
      if (verdict.status === "duplicate")
        return new Response(null, { status: 204, headers: producerHeaders(p.epoch, verdict.lastSeq) });
      if (verdict.status !== "accepted") return producerRefusal(verdict);
      accepted = p;
      next = verdict.next;
    }
    if (req.streamSeq !== undefined && meta.lastStreamSeq !== undefined && req.streamSeq <= meta.lastStreamSeq) {
      return answer("stream-seq-regression", "Stream-Seq must be greater (byte-wise) than the last one appended");
    }
    let data: Uint8Array | string;
    if (isJsonType(meta.contentType)) {
      const batch = jsonMessages(body, false);
      if (!batch.ok)
        return answer(
          "malformed-request",
          batch.reason === "empty-array" ? "an empty JSON array appends nothing" : "the body is not valid JSON",
        );
      data = batch.messages.join(",");
    } else {
      const stored = storedForm(meta.contentType, body);
      if (stored === undefined) return problemResponse(notUtf8(meta.contentType, "the body"));
      data = stored;
    }
    const seq = meta.tail + 1;
    this.#transaction(() => {
      this.#store.insertMessage(seq, data);
      if (accepted !== undefined && next !== undefined) this.#store.saveProducer(accepted.id, next);
      this.#store.advance(seq, req.streamSeq, req.close ? (accepted ? producerTuple(accepted) : null) : undefined, now);
    });
    this.#wake();
    const h: Record<string, string> = { "stream-next-offset": offsetIn(meta, seq) };
    if (req.close) h["stream-closed"] = "true";
    if (accepted !== undefined) Object.assign(h, producerHeaders(accepted.epoch, accepted.seq));
    return new Response(null, { status: accepted ? 200 : 204, headers: h });
  }

  // ---- Delete and metadata ---------------------------------------------------------------------

  async #delete(tenant: string): Promise<Response> {
    const meta = await this.#current(tenant);
    if (meta === undefined) return answer("not-found", "no stream at this URL");
    if (meta.softDeleted) return answer("stream-gone", "the stream was deleted");
    if (meta.refCount > 0) this.#store.setSoftDeleted();
    else await this.#purge(tenant);
    this.#wake();
    return new Response(null, { status: 204 });
  }

  async #head(tenant: string): Promise<Response> {
    const meta = await this.#current(tenant);
    if (meta === undefined) return new Response(null, { status: 404, headers: { "cache-control": "no-store" } });
    if (meta.softDeleted) return new Response(null, { status: 410, headers: { "cache-control": "no-store" } });
    const h = new Headers({
      "content-type": meta.contentType,
      "stream-next-offset": offsetIn(meta, meta.tail),
      "cache-control": "no-store",
      etag: etag(meta, "-1", meta.tail, meta.closed),
    });
    if (meta.closed) h.set("stream-closed", "true");
    if (meta.ttlSeconds !== undefined) h.set("stream-ttl", String(meta.ttlSeconds));
    if (meta.expiresAt !== undefined) h.set("stream-expires-at", meta.expiresAt);
    return new Response(null, { status: 200, headers: h });
  }

  // ---- Reads -----------------------------------------------------------------------------------

  async #read(request: Request, tenant: string): Promise<Response> {
    const url = new URL(request.url);
    const rawOffset = url.searchParams.get("offset") ?? undefined;
    const live = url.searchParams.get("live");
    if (live !== null && live !== "long-poll" && live !== "sse")
      return answer("malformed-request", READ_QUERY_RULES.live);
    if (live !== null && rawOffset === undefined) return answer("malformed-request", `live=${live} needs an offset`);
    const cursor = url.searchParams.get("cursor");
    const badCursor = cursorProblem(cursor);
    if (badCursor) return problemResponse(badCursor);
    const start = parseReadStart(rawOffset);
    if (start === undefined) return answer("malformed-request", READ_QUERY_RULES.offset);
    const meta = await this.#current(tenant);
    if (meta === undefined) return answer("not-found", "no stream at this URL");
    if (meta.softDeleted) return answer("stream-gone", "the stream was deleted");
    if (start.kind === "after") {
      const other = offsetOfAnotherGeneration(start.generation, meta.generation);
      if (other) return answer(other.kind, other.detail);
      const pastTail = offsetPastTail(start.count, meta.tail, "stream", meta.generation);
      if (pastTail) return problemResponse(pastTail);
    }
    this.#touch(meta);
    const from = start.kind === "start" ? 0 : start.kind === "now" ? meta.tail : start.count;
    if (live === "sse") return this.#sse(meta, from, cursor, tenant, request.headers.get(STREAM_KEY_HEADER));

    if (start.kind === "now" && live === null) {
      const h = new Headers({
        "content-type": meta.contentType,
        "stream-next-offset": offsetIn(meta, meta.tail),
        "stream-up-to-date": "true",
        "cache-control": "no-store",
      });
      if (meta.closed) h.set("stream-closed", "true");
      return new Response(isJsonType(meta.contentType) ? "[]" : null, { status: 200, headers: h });
    }

    let current = meta;
    let messages = this.#store.read(from, MAX_READ_BYTES);
    if (live === "long-poll" && messages.length === 0 && from === meta.tail) {
      if (!meta.closed) {
        const timeoutMs = hostConfig(this.env, "durable-stream").streamLongPollTimeoutMs;
        this.#liveReaders++;
        await this.#waitForChange(timeoutMs);
        const after = await this.#leave(tenant);
        if (after === undefined) return answer("not-found", "the stream was deleted");
        if (after.softDeleted) return answer("stream-gone", "the stream was deleted");
        current = after;
        messages = this.#store.read(from, MAX_READ_BYTES);
      }
      if (messages.length === 0) {
        const h = new Headers({
          "stream-next-offset": offsetIn(current, from),
          "stream-up-to-date": "true",
          "cache-control": "no-store",
        });
        if (current.closed) h.set("stream-closed", "true");
        else h.set("stream-cursor", responseCursor(cursor, Date.now(), Math.random()));
        return new Response(null, { status: 204, headers: h });
      }
    }

    const next = messages.at(-1)?.seq ?? Math.max(from, current.tail);
    const upToDate = next >= current.tail;
    const eof = current.closed && upToDate;
    const tag = etag(current, rawOffset ?? "-1", next, eof);
    const h = new Headers({
      "content-type": current.contentType,
      "stream-next-offset": offsetIn(current, next),
      etag: tag,
    });
    if (upToDate) h.set("stream-up-to-date", "true");
    if (eof) h.set("stream-closed", "true");
    if (live === "long-poll" && !eof) h.set("stream-cursor", responseCursor(cursor, Date.now(), Math.random()));
    const now = Date.now();
    // A sliding TTL was restarted by this read (a long-poll's, again as it answers): it expires a whole TTL from now.
    const expiresAt = expiryTime(current, now);
    h.set(
      "cache-control",
      readCacheControl({
        data: messages.length > 0,
        longPoll: live === "long-poll",
        atOpenTail: upToDate && !current.closed,
        msLeft: expiresAt === undefined ? undefined : expiresAt - now,
      }),
    );
    const condition = request.headers.get("if-none-match");
    const unchanged = condition === null ? false : notModified(condition, tag);
    if (unchanged === undefined) return answer("malformed-request", IF_NONE_MATCH_RULE);
    if (unchanged)
      return new Response(null, {
        status: 304,
        headers: { etag: tag, "cache-control": h.get("cache-control") ?? "no-store" },
      });
    const bytes = renderBody(current.contentType, messages);
    const res = new Response(bytes, { status: 200, headers: h });
    // serve() hands these bytes on as they are, instead of reading them back out of the Response.
    rawBodies.set(res, bytes);
    return res;
  }

  /**
   * An SSE read from `from`: until the connection's time is up, the stream is closed or deleted,
   * or the key that opened it (`keyId`, asked after with the tenant's gate, as the entity's live
   * feeds do) has lapsed.
   */
  #sse(meta: StreamMeta, from: number, cursor: string | null, tenant: string, keyId: string | null): Response {
    const binary = !isTextType(meta.contentType);
    const config = hostConfig(this.env, "durable-stream");
    const timeoutMs = config.streamLongPollTimeoutMs;
    const { body, writer } = pushBody(SSE_STALL_KEEPALIVES * timeoutMs);
    const deadline = Date.now() + SSE_MAX_CONNECTION_MS;
    const standing = keyStandingCheck(tenantGateStub(this.env, tenant), tenant, keyId, config.liveRevalidateMs);
    const watch = standing && new StandingWatch(standing, Date.now());
    const run = async () => {
      let at = from;
      for (;;) {
        const current = await this.#current(tenant);
        if (current === undefined || current.softDeleted) break;
        const messages = this.#store.read(at, MAX_READ_BYTES);
        // A data event and its control event go out in one write, so no reader sees one without the other.
        const parts: Uint8Array[] = [];
        if (messages.length > 0) {
          parts.push(sseEvent("data", dataPayload(current.contentType, messages, binary)));
          at = messages.at(-1)?.seq ?? at;
        }
        const upToDate = at >= current.tail;
        const closed = current.closed && upToDate;
        parts.push(
          controlEvent(
            closed
              ? { streamNextOffset: offsetIn(current, at), streamClosed: true, upToDate: true }
              : {
                  streamNextOffset: offsetIn(current, at),
                  streamCursor: responseCursor(cursor, Date.now(), Math.random()),
                  ...(upToDate ? { upToDate: true as const } : {}),
                },
          ),
        );
        if (!(await writer.write(concatBytes(parts)))) break;
        if (closed || (await watch?.lapsed(Date.now()))) break;
        if (!upToDate) continue;
        const now = Date.now();
        if (now >= deadline) break;
        // No TTL restart at each keep-alive: the connection holds the stream while it is open.
        await this.#waitForChange(
          Math.min(timeoutMs, Math.max(1, deadline - now), watch?.msUntilDue(now) ?? Number.POSITIVE_INFINITY),
        );
      }
    };
    this.#liveReaders++;
    run()
      .catch(() => undefined)
      .finally(() => writer.close())
      .then(() => this.#leave(tenant))
      .catch(() => undefined);
    const h = new Headers({ "content-type": "text/event-stream", "cache-control": "no-cache" });
    if (binary) h.set("stream-sse-data-encoding", "base64");
    return new Response(body, { status: 200, headers: h });
  }

  // ---- Lifecycle -------------------------------------------------------------------------------

  /** The stream, or undefined when it does not exist; an expired stream is purged (or soft-deleted if forks read it). */
  async #current(tenant: string): Promise<StreamMeta | undefined> {
    const meta = this.#store.meta();
    if (meta === undefined || meta.softDeleted) return meta;
    // Held by live readers, a stream is in use however long ago its last request started (the
    // alarm may run late, so every request checks this, not only the alarm).
    if (!isExpired(meta, meta.touchedAt, Date.now()) || this.#heldByReaders(meta)) return meta;
    if (meta.refCount > 0) {
      this.#store.setSoftDeleted();
      this.#wake();
      return this.#store.meta();
    }
    await this.#purge(tenant);
    return undefined;
  }

  /** Restarts a sliding TTL (reads and writes do; HEAD does not). */
  #touch(meta: StreamMeta): void {
    if (meta.ttlSeconds !== undefined) this.#store.touch(Date.now());
  }

  /** True when live readers hold `meta`'s sliding TTL (never an absolute expiry, a deadline). */
  #heldByReaders(meta: StreamMeta): boolean {
    return this.#liveReaders > 0 && meta.expiresAt === undefined && meta.ttlSeconds !== undefined;
  }

  /**
   * A live reader (counted in `#liveReaders` when it started waiting) leaves: a sliding TTL restarts
   * now, its wait having counted as use, and the reader stops holding the stream. Answers the stream
   * as it is then (undefined once deleted or purged).
   */
  async #leave(tenant: string): Promise<StreamMeta | undefined> {
    try {
      const meta = await this.#current(tenant);
      if (meta === undefined || meta.softDeleted) return meta;
      this.#touch(meta);
      return this.#store.meta();
    } finally {
      this.#liveReaders--;
    }
  }

  async #purge(tenant: string): Promise<void> {
    const meta = this.#store.meta();
    this.#store.purge();
    this.#wake();
    await this.ctx.storage.deleteAlarm();
    if (meta?.forkedFrom !== undefined) await durableStreamStub(this.env, tenant, meta.forkedFrom).releaseFork();
  }

  #waitForChange(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  #wake(): void {
    const waiting = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiting) wake();
  }

  /** Runs `fn` as one SQLite transaction; on failure the cached meta row is re-read (the writes rolled back). */
  #transaction(fn: () => void): void {
    try {
      this.ctx.storage.transactionSync(fn);
    } catch (error) {
      this.#store.reload();
      throw error;
    }
  }

  /** Drops the in-memory copy of the stream's state (for writes made outside this class, e.g. bench seeding). */
  protected reloadState(): void {
    this.#store.reload();
  }

  #serially(task: () => Promise<Response>): Promise<Response> {
    const run = this.#exclusive.then(task, task);
    this.#exclusive = run.catch(() => undefined);
    return run;
  }

  // The tenant is part of the object's name; kept in storage so alarms and RPCs can address siblings.
  #rememberTenant(tenant: string): void {
    this.ctx.storage.kv.put("tenant", tenant);
  }

  #tenantOf(): string {
    return this.ctx.storage.kv.get<string>("tenant") ?? "";
  }
}

/** Bodies of catch-up responses by response, so serve() need not copy them out again. */
const rawBodies = new WeakMap<Response, Uint8Array>();

function renderBody(contentType: string, messages: readonly StoredMessage[]): Uint8Array {
  if (isJsonType(contentType))
    return encoder.encode(jsonArray(messages.map((m) => textOf(m.data)).filter((t) => t !== "")));
  if (messages.every((m) => typeof m.data === "string"))
    return encoder.encode(messages.map((m) => textOf(m.data)).join(""));
  if (messages.length === 1 && messages[0] !== undefined) return bytesOf(messages[0].data);
  const parts = messages.map((m) => bytesOf(m.data));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function dataPayload(contentType: string, messages: readonly StoredMessage[], binary: boolean): string {
  if (isJsonType(contentType)) return jsonArray(messages.map((m) => textOf(m.data)).filter((t) => t !== ""));
  if (!binary && messages.every((m) => typeof m.data === "string")) return messages.map((m) => textOf(m.data)).join("");
  const bytes = renderBody(contentType, messages);
  return binary ? base64(bytes) : decoder.decode(bytes);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * How a message is stored: text for text and JSON streams (byte-exact: a BOM is kept), bytes for
 * every other type; undefined for bytes that are not UTF-8 on a text stream, which SSE would carry
 * altered (it sends text streams as UTF-8 text, §5.8), so they are refused.
 */
function storedForm(contentType: string, bytes: Uint8Array): Uint8Array | string | undefined {
  if (!isTextType(contentType)) return bytes;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The 400 for `what` (a body) that is not UTF-8, on a stream of `contentType`. */
function notUtf8(contentType: string, what: string): Problem {
  return problem(
    "malformed-request",
    `${what} is not valid UTF-8: a ${mediaType(contentType)} stream carries UTF-8 text (send other bytes as application/octet-stream)`,
  );
}

function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

function textOf(data: Uint8Array | string): string {
  return typeof data === "string" ? data : decoder.decode(data);
}

/** The bytes `data` takes as UTF-8 (a string's UTF-16 length undercounts them up to threefold). */
function byteLength(data: Uint8Array | string): number {
  return typeof data === "string" ? utf8Length(data) : data.byteLength;
}

function sizeOf(data: Uint8Array | string): number {
  return typeof data === "string" ? data.length : data.byteLength;
}

/** `"{incarnation}:{start}:{end}[:c]"`: varies with the range and with closure (§10.1). */
function etag(meta: StreamMeta, start: string, end: number, closed: boolean): string {
  return `"${meta.incarnation}:${start}:${offsetIn(meta, end)}${closed ? ":c" : ""}"`;
}

/** The offset after `count` messages of `meta`'s stream (of its generation: offsets.ts). */
function offsetIn(meta: StreamMeta, count: number): string {
  return formatOffset(count, meta.generation);
}

function answer(kind: ProblemKind, detail: string, headers: Record<string, string> = {}): Response {
  return problemResponse(problem(kind, detail), headers);
}

function tooLarge(): Response {
  return answer("payload-too-large", `a body may carry at most ${MAX_APPEND_BYTES} bytes`);
}

function closedHeaders(meta: StreamMeta): Record<string, string> {
  return { "stream-next-offset": offsetIn(meta, meta.tail), "stream-closed": "true" };
}

function producerHeaders(epoch: number, seq: number): Record<string, string> {
  return { "producer-epoch": String(epoch), "producer-seq": String(seq) };
}

function closedConflict(meta: StreamMeta): Response {
  return answer("stream-closed", "the stream is closed; nothing more can be appended", closedHeaders(meta));
}

function producerRefusal(verdict: ReturnType<typeof judgeProducer>): Response {
  switch (verdict.status) {
    case "stale-epoch":
      return answer("stale-producer-epoch", "a newer epoch of this producer has written", {
        "producer-epoch": String(verdict.currentEpoch),
      });
    case "epoch-must-start-at-zero":
      return answer("malformed-request", "a new Producer-Epoch must start at Producer-Seq 0");
    case "sequence-gap":
      return answer("producer-sequence-gap", `expected Producer-Seq ${verdict.expectedSeq}`, {
        "producer-expected-seq": String(verdict.expectedSeq),
        "producer-received-seq": String(verdict.receivedSeq),
      });
    default:
      return answer("internal", "unexpected producer verdict");
  }
}
