// The tenant API for one inventory entity (inventory/sku-1), as a fetch double for the client's
// tests. It answers as the real server does (test/entity-runtime.test.ts pins those answers),
// including for an entity with no events:
// - `GET /v1/entities/inventory/sku-1`: `{type, id, version, state}`; no events: 404 `not-found`;
// - `GET …/events?after=N` as JSON: `{events, next}`; no events: 404 `not-found`, whatever N;
//   events, and N past the latest: 400 `cursor-past-end`;
// - the same path as SSE: N past the latest (no events: any N above 0) is 400 `cursor-past-end`;
//   otherwise the backlog after N, then each event as it is recorded, the stream kept open (no
//   events and N = 0: an open, empty stream);
// - `POST …/commands/{command}`: decided by the inventory definition itself, answered
//   `{type, id, version, events}`, or 422 `business-rule` with the rejection's code.
import { isRejection } from "../../src/core/model/entity.js";
import { inventory } from "../../src/domain/inventory.js";

interface Recorded {
  readonly seq: number;
  readonly type: string;
  readonly data: unknown;
}

const problemHeaders = { "content-type": "application/problem+json" };

/** The real server's answer for an entity with no events (its read and its log pages alike). */
function notFound(): Response {
  return Response.json(
    { type: "https://factline.dev/problems/not-found", title: "Not found", status: 404, detail: "no inventory sku-1" },
    { status: 404, headers: problemHeaders },
  );
}

function pastEnd(after: number, latest: number): Response {
  return Response.json(
    {
      type: "https://factline.dev/problems/cursor-past-end",
      title: "The read starts past the end of the log",
      status: 400,
      detail: `inventory sku-1 has no event ${after}: its latest is ${latest}; resume after a seq it sent (0 reads from the first)`,
    },
    { status: 400, headers: problemHeaders },
  );
}

/** A body that sends `start`, then nothing more until `signal` aborts it (an answer broken off on the way). */
function stalledAfter(start: string, signal: AbortSignal | null | undefined): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(start));
      signal?.addEventListener("abort", () => controller.error(new DOMException("aborted", "AbortError")));
    },
  });
}

const sse = (event: Recorded) => new TextEncoder().encode(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);

/**
 * A server whose log for inventory/sku-1 holds restocks of `quantities` (none: the entity has no
 * events, as on a server wiped since). `commandsDown` answers commands 503 while true;
 * `commandStatus`, while set, answers them that status with no body, as something on the way
 * would (nothing decided); log pages wait for `pagesHeld` (when set) before they are delivered;
 * `streamsSilent` keeps the live streams open while true but sends nothing on them (a connection
 * gone half-open: no event, no heartbeat), the events they miss staying in the log;
 * `rejectionBodiesStalled` answers that many rejections with their status and the start of their
 * body, the rest never coming until the request is aborted. Records each
 * request as `METHOD path?query`.
 */
export function tenantApi(quantities: readonly number[]) {
  const log: Recorded[] = quantities.map((quantity, i) => ({ seq: i + 1, type: "Restocked", data: { quantity } }));
  const live = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const requests: string[] = [];
  const control: {
    commandsDown: boolean;
    commandStatus: number | undefined;
    pagesHeld: Promise<void> | undefined;
    streamsSilent: boolean;
    rejectionBodiesStalled: number;
  } = {
    commandsDown: false,
    commandStatus: undefined,
    pagesHeld: undefined,
    streamsSilent: false,
    rejectionBodiesStalled: 0,
  };
  const state = (): unknown => {
    let folded: unknown = inventory.initialState();
    for (const event of log) folded = inventory.evolve(folded, event);
    return folded;
  };

  const pageAfter = (after: number): Response => {
    // A page of a log with no events is not found before its position is looked at.
    if (log.length === 0) return notFound();
    if (after > log.length) return pastEnd(after, log.length);
    return Response.json({ events: log.slice(after), next: null });
  };

  const command = async (name: string, init: RequestInit | undefined): Promise<Response> => {
    if (control.commandsDown) return new Response(null, { status: 503 });
    if (control.commandStatus !== undefined) return new Response(null, { status: control.commandStatus });
    const parsed = inventory.parseCommand(name, JSON.parse(String(init?.body)));
    if (!parsed?.ok) throw new Error(`the double was sent ${name}, which does not parse`);
    const decision = inventory.decide(state(), parsed.command);
    if (isRejection(decision)) {
      const problem = {
        type: "https://factline.dev/problems/business-rule",
        title: "The command was rejected by a business rule",
        status: 422,
        detail: decision.detail,
        code: decision.code,
      };
      if (control.rejectionBodiesStalled > 0) {
        control.rejectionBodiesStalled--;
        return new Response(stalledAfter(JSON.stringify(problem).slice(0, 20), init?.signal), {
          status: 422,
          headers: problemHeaders,
        });
      }
      return Response.json(problem, { status: 422, headers: problemHeaders });
    }
    const events = decision.map((e, i): Recorded => ({ seq: log.length + 1 + i, type: e.type, data: e.data }));
    log.push(...events);
    if (!control.streamsSilent) for (const stream of live) for (const event of events) stream.enqueue(sse(event));
    return Response.json({ type: "inventory", id: "sku-1", version: log.length, events });
  };

  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    requests.push(`${init?.method ?? "GET"} ${url.pathname}${url.search}`);
    const path = url.pathname;
    if (path.startsWith("/v1/entities/inventory/sku-1/commands/")) return command(path.split("/").at(-1) ?? "", init);
    if (path === "/v1/entities/inventory/sku-1") {
      if (log.length === 0) return notFound();
      return Response.json({ type: "inventory", id: "sku-1", version: log.length, state: state() });
    }
    if (path !== "/v1/entities/inventory/sku-1/events") return new Response(null, { status: 404 });
    const after = Number(url.searchParams.get("after") ?? 0);
    if (new Headers(init?.headers).get("accept") !== "text/event-stream") {
      const page = pageAfter(after);
      // Answered as of the request, delivered when the test lets it through.
      await control.pagesHeld;
      return page;
    }
    if (after > log.length) return pastEnd(after, log.length);
    let opened: ReadableStreamDefaultController<Uint8Array> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        opened = controller;
        for (const event of log.slice(after)) controller.enqueue(sse(event));
        live.add(controller);
        init?.signal?.addEventListener("abort", () => {
          live.delete(controller);
          controller.error(new DOMException("aborted", "AbortError"));
        });
      },
      cancel() {
        if (opened) live.delete(opened);
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };

  return {
    fetch,
    requests,
    control,
    /** Sends every open live stream the server's heartbeat, an SSE comment (src/core/live/live-feed-host.ts). */
    heartbeat: () => {
      for (const stream of live) stream.enqueue(new TextEncoder().encode(": heartbeat\n\n"));
    },
    /** The log reads and streams asked for, in order. */
    streams: () => requests.filter((r) => r.includes("/events")).map((r) => r.replace(/^GET /, "")),
  };
}
