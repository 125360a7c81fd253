// What the bench Worker and the harness agree on for the overload phase: the header that asks the
// bench Worker for its own share of an answer's latency, the Server-Timing metric it answers with
// (W3C Server Timing), the path it answers at its entry as the transport floor, and the control
// that replays one request inside the isolate (the Worker's own CPU, transport left out). Plain
// constants and types, so both the Worker (workerd) and the harness (Node.js) import them.

/** A request carrying this header is answered with a Server-Timing `WORKER_METRIC` entry. */
export const TIMING_HEADER = "x-bench-worker-timing";

/** The Server-Timing metric: `worker;dur=<ms>`, from the request reaching the Worker's JavaScript to its answer's headers. */
export const WORKER_METRIC = "worker";

/** Answered 204 at the bench Worker's entry, body unread, before any router or middleware. */
export const FLOOR_PATH = "/bench-floor";

/** Replays `count` copies of one `DispatchRequest` inside the isolate (admin token required). */
export const DISPATCH_PATH = "/bench/control/dispatch";

/** One request as the dispatch control replays it. */
export interface DispatchRequest {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}
