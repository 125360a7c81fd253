// A read-only JSON Durable Stream (PROTOCOL.md §5.5-5.8, §9.1) over any ordered source of
// messages keyed by a number — an entity's log (key = seq) or a view's change feed (key = change
// id). It answers catch-up reads, long-polls, SSE and HEAD from a `LogSource`; a source need not
// number its messages densely. Never closed. Pure over web standards (Request/Response/streams):
// the Worker's routes supply the source and the settings.
import { concatBytes } from "../http/bounded-body.js";
import { problem, problemResponse } from "../http/problem.js";
import { IF_NONE_MATCH_RULE, notModified } from "../protocol/if-none-match.js";
import { readCacheControl } from "./cache-control.js";
import { cursorProblem, responseCursor } from "./cursor.js";
import { jsonArray } from "./json-mode.js";
import { formatOffset, offsetPastTail, parseLogReadStart } from "./offsets.js";
import { pushBody, SSE_STALL_KEEPALIVES } from "./push-body.js";
import { controlEvent, sseEvent } from "./sse-events.js";
import { StandingWatch, type StandingCheck } from "./standing-watch.js";
import { READ_QUERY_RULES } from "./stream-openapi.js";

/** One message: its key (the offset after it names it) and its JSON text. */
export interface LogMessage {
  readonly key: number;
  readonly json: string;
}

/**
 * Where a stream's messages come from: those after `after` (oldest first, a bounded page), and the
 * key of the newest message (the tail). With `waitMs` > 0 and nothing after `after`, it may wait up
 * to that long for the next.
 */
export type LogSource = (after: number, waitMs: number) => Promise<LogPage>;

/** A page a {@link LogSource} answers: messages after the asked position, and the tail's key. */
export interface LogPage {
  readonly messages: readonly LogMessage[];
  readonly tail: number;
}

/** How a read-only stream answers. */
export interface ReadOnlyStreamOptions {
  /** Long-poll wait, and the SSE keep-alive interval (ms). */
  readonly longPollTimeoutMs: number;
  /** An SSE connection ends after this long (§10.2); the client resumes and is authenticated again. */
  readonly sseMaxMs: number;
  /** Names the stream in ETags (any stable string). */
  readonly etagPrefix: string;
  /** Called once, just before a long-poll parks to wait for new messages. */
  readonly onPark?: () => void;
  /**
   * The key that opened the read, asked after while an SSE read lasts: the read ends once it has
   * lapsed. Absent for reads no key opened. (A long-poll ends within its timeout anyway.)
   */
  readonly standing?: StandingCheck;
}

/** Answers a GET or HEAD of a read-only JSON stream from `source`. */
export async function serveReadOnlyStream(
  request: Request,
  source: LogSource,
  options: ReadOnlyStreamOptions,
): Promise<Response> {
  const url = new URL(request.url);
  if (request.method === "HEAD") {
    const { tail } = await source(Number.MAX_SAFE_INTEGER, 0);
    return new Response(null, {
      status: 200,
      headers: {
        "content-type": "application/json",
        "stream-next-offset": formatOffset(tail),
        "cache-control": "no-store",
      },
    });
  }
  const rawOffset = url.searchParams.get("offset") ?? undefined;
  const live = url.searchParams.get("live");
  if (live !== null && live !== "long-poll" && live !== "sse")
    return problemResponse(problem("malformed-request", READ_QUERY_RULES.live));
  if (live !== null && rawOffset === undefined)
    return problemResponse(problem("malformed-request", `live=${live} needs an offset`));
  const start = parseLogReadStart(rawOffset);
  if (start === undefined) return problemResponse(problem("malformed-request", READ_QUERY_RULES.offset));
  const cursor = url.searchParams.get("cursor");
  const badCursor = cursorProblem(cursor);
  if (badCursor) return problemResponse(badCursor);
  let after = start.kind === "after" ? start.count : 0;
  if (start.kind === "now") after = (await source(Number.MAX_SAFE_INTEGER, 0)).tail;
  // An offset past the tail is refused in every read mode, rather than echoed (the first page is kept).
  const first = start.kind === "after" ? await source(after, 0) : undefined;
  const pastTail = first === undefined ? undefined : offsetPastTail(after, first.tail);
  if (pastTail) return problemResponse(pastTail);
  if (live === "sse") return eventStream(source, after, cursor, options, first);
  if (start.kind === "now" && live === null) {
    return new Response("[]", {
      status: 200,
      headers: {
        "content-type": "application/json",
        "stream-next-offset": formatOffset(after),
        "stream-up-to-date": "true",
        "cache-control": "no-store",
      },
    });
  }
  let page = first ?? (await source(after, 0));
  if (live === "long-poll" && page.messages.length === 0) {
    options.onPark?.();
    page = await source(after, options.longPollTimeoutMs);
    if (page.messages.length === 0) {
      return new Response(null, {
        status: 204,
        headers: {
          "stream-next-offset": formatOffset(after),
          "stream-up-to-date": "true",
          "stream-cursor": responseCursor(cursor, Date.now(), Math.random()),
          "cache-control": "no-store",
        },
      });
    }
  }
  const next = page.messages.at(-1)?.key ?? after;
  const tag = `"${options.etagPrefix}:${rawOffset ?? "-1"}:${formatOffset(next)}"`;
  const headers = new Headers({
    "content-type": "application/json",
    "stream-next-offset": formatOffset(next),
    etag: tag,
  });
  if (next >= page.tail) headers.set("stream-up-to-date", "true");
  if (live === "long-poll") headers.set("stream-cursor", responseCursor(cursor, Date.now(), Math.random()));
  // These streams are never closed: an answer reaching the tail grows with the next message.
  headers.set(
    "cache-control",
    readCacheControl({
      data: page.messages.length > 0,
      longPoll: live === "long-poll",
      atOpenTail: next >= page.tail,
      msLeft: undefined,
    }),
  );
  const condition = request.headers.get("if-none-match");
  const unchanged = condition === null ? false : notModified(condition, tag);
  if (unchanged === undefined) return problemResponse(problem("malformed-request", IF_NONE_MATCH_RULE));
  if (unchanged)
    return new Response(null, {
      status: 304,
      headers: { etag: tag, "cache-control": headers.get("cache-control") ?? "no-store" },
    });
  return new Response(jsonArray(page.messages.map((m) => m.json)), { status: 200, headers });
}

/**
 * SSE: a data event per page, each followed by its control event in the same write, until the
 * connection's time is up or the key that opened it has lapsed.
 */
function eventStream(
  source: LogSource,
  from: number,
  cursor: string | null,
  options: ReadOnlyStreamOptions,
  first: LogPage | undefined,
): Response {
  const { body, writer } = pushBody(SSE_STALL_KEEPALIVES * options.longPollTimeoutMs);
  const deadline = Date.now() + options.sseMaxMs;
  const watch = options.standing && new StandingWatch(options.standing, Date.now());
  const run = async () => {
    let after = from;
    let waitMs = 0;
    let read = first;
    for (;;) {
      const page = read ?? (await source(after, waitMs));
      read = undefined;
      const parts: Uint8Array[] = [];
      if (page.messages.length > 0) {
        parts.push(sseEvent("data", jsonArray(page.messages.map((m) => m.json))));
        after = page.messages.at(-1)?.key ?? after;
      }
      const upToDate = after >= page.tail;
      parts.push(
        controlEvent({
          streamNextOffset: formatOffset(after),
          streamCursor: responseCursor(cursor, Date.now(), Math.random()),
          ...(upToDate ? { upToDate: true as const } : {}),
        }),
      );
      if (!(await writer.write(concatBytes(parts)))) break;
      if (Date.now() >= deadline || (await watch?.lapsed(Date.now()))) break;
      const now = Date.now();
      waitMs = upToDate
        ? Math.min(
            options.longPollTimeoutMs,
            Math.max(1, deadline - now),
            watch?.msUntilDue(now) ?? Number.POSITIVE_INFINITY,
          )
        : 0;
    }
  };
  run()
    .catch(() => undefined)
    .finally(() => writer.close());
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}
