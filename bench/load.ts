// A bounded load generator: `concurrency` keep-alive HTTP/1.1 connections to 127.0.0.1 each
// sending one request after another until the time or request budget is spent. Latency is
// measured per request from send to the end of the response body.
import http from "node:http";
import { WORKER_METRIC } from "./worker-timing.js";

export interface LoadRequest {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface LoadSpec {
  readonly port: number;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly maxRequests: number;
  /** The i-th request of the run (0-based, in send order). */
  readonly request: (i: number) => LoadRequest;
  /** Check that 429/503 answers carry Retry-After (counted in `withoutRetryAfter`). */
  readonly withRetryAfter?: boolean;
}

export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Latencies of the successful (2xx) requests, in milliseconds. */
  readonly latenciesMs: readonly number[];
  readonly elapsedMs: number;
  /** 429 and 503 answers that carried no Retry-After (every shed answer must carry one). */
  readonly withoutRetryAfter?: number;
}

const HOST = "127.0.0.1";

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let issued = 0;
  let ok = 0;
  let failed = 0;
  let withoutRetryAfter = 0;
  const start = performance.now();
  const deadline = start + spec.durationMs;

  async function worker(): Promise<void> {
    while (issued < spec.maxRequests && performance.now() < deadline) {
      const req = spec.request(issued++);
      const t0 = performance.now();
      const { status, retryAfter } = await sendDetailed(agent, spec.port, req).catch(() => ({
        status: 0,
        retryAfter: false,
      }));
      if ((status === 429 || status === 503) && !retryAfter) withoutRetryAfter++;
      const t1 = performance.now();
      statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      if (status >= 200 && status < 300) {
        ok++;
        latencies.push(t1 - t0);
      } else {
        failed++;
      }
    }
  }

  await Promise.all(Array.from({ length: spec.concurrency }, () => worker()));
  const elapsedMs = performance.now() - start;
  agent.destroy();
  return {
    ok,
    failed,
    statuses,
    latenciesMs: latencies,
    elapsedMs,
    ...(spec.withRetryAfter ? { withoutRetryAfter } : {}),
  };
}

export interface OpenLoadSpec {
  readonly port: number;
  /** Requests offered per second, on a fixed schedule whatever the answers (an open loop). */
  readonly ratePerS: number;
  readonly durationMs: number;
  /** Requests outstanding at most; one due beyond it is not sent and counted in `notSent`. */
  readonly maxOutstanding: number;
  readonly request: (i: number) => LoadRequest;
}

export interface OpenLoadResult extends LoadResult {
  /** Requests the schedule offered. */
  readonly offered: number;
  /** Of those, not sent because `maxOutstanding` were already waiting (the client's cap, not the server's answer). */
  readonly notSent: number;
  /** Latencies of the shed answers (429/503), ms. */
  readonly shedLatenciesMs: readonly number[];
  /** How late each request left against its schedule, ms: the load generator falling behind. */
  readonly sendLagsMs: readonly number[];
  /** Of the successful answers, the Worker's own share of their latency (Server-Timing `worker`), ms. */
  readonly workerLatenciesMs: readonly number[];
}

/**
 * An open loop: requests leave on a fixed schedule (`ratePerS`) whether or not earlier ones were
 * answered, as independent clients would send them, so offering twice what the server can serve
 * really offers twice (closed-loop clients slow down with the server and never overload it).
 * Latency is from each request's scheduled time to the end of its answer, so a client that falls
 * behind its schedule counts against the server, not in its favour (no coordinated omission).
 */
export async function runOpenLoad(spec: OpenLoadSpec): Promise<OpenLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.maxOutstanding });
  const latencies: number[] = [];
  const shedLatencies: number[] = [];
  const sendLags: number[] = [];
  const workerLatencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  let withoutRetryAfter = 0;
  let outstanding = 0;
  let offered = 0;
  let notSent = 0;
  const answers: Promise<void>[] = [];
  const start = performance.now();
  const intervalMs = 1000 / spec.ratePerS;

  const one = async (i: number, scheduled: number): Promise<void> => {
    outstanding++;
    sendLags.push(performance.now() - scheduled);
    const answer: Answer = await sendDetailed(agent, spec.port, spec.request(i)).catch(() => ({
      status: 0,
      retryAfter: false,
    }));
    const { status, retryAfter } = answer;
    outstanding--;
    const latency = performance.now() - scheduled;
    const label = answer.problem ? `${status} ${answer.problem}` : String(status);
    statuses[label] = (statuses[label] ?? 0) + 1;
    if (status >= 200 && status < 300) {
      ok++;
      latencies.push(latency);
      if (answer.workerMs !== undefined) workerLatencies.push(answer.workerMs);
    } else {
      failed++;
      if (isShed(label)) {
        shedLatencies.push(latency);
        if (!retryAfter) withoutRetryAfter++;
      }
    }
  };

  while (performance.now() - start < spec.durationMs) {
    const due = Math.floor((performance.now() - start) / intervalMs) + 1;
    while (offered < due) {
      const scheduled = start + offered * intervalMs;
      if (outstanding >= spec.maxOutstanding) notSent++;
      else answers.push(one(offered, scheduled));
      offered++;
    }
    await new Promise((r) => setTimeout(r, Math.max(1, Math.min(5, intervalMs))));
  }
  await Promise.all(answers);
  const elapsedMs = performance.now() - start;
  agent.destroy();
  return {
    ok,
    failed,
    statuses,
    latenciesMs: latencies,
    elapsedMs,
    withoutRetryAfter,
    offered,
    notSent,
    shedLatenciesMs: shedLatencies,
    sendLagsMs: sendLags,
    workerLatenciesMs: workerLatencies,
  };
}

/**
 * The problem name given to wrangler dev's 503 "Your worker restarted mid-request". Its proxy
 * answers so to any request but GET or HEAD whose forwarding to the Worker's runtime failed with
 * a network error, restart or not: its restart check compares the request's whole URL with the
 * runtime's base URL (path "/"), which never match elsewhere (wrangler 4.86 ProxyWorker). Such an
 * answer is a connection lost between two local processes, never the Worker's.
 */
const DEV_PROXY_LOST = "wrangler-proxy-lost-connection";

/** Whether a status label (`runOpenLoad`'s `statuses` keys) is wrangler dev's proxy's own 503. */
export function fromDevProxy(label: string): boolean {
  return label === `503 ${DEV_PROXY_LOST}`;
}

/** Whether a status label is a shed answer: 429 or 503 from the Worker (not the dev proxy's). */
export function isShed(label: string): boolean {
  return /^(429|503)\b/.test(label) && !fromDevProxy(label);
}

/** Shed answers among status labels and their counts. */
export function shedCount(statuses: Readonly<Record<string, number>>): number {
  return Object.entries(statuses).reduce((n, [label, count]) => (isShed(label) ? n + count : n), 0);
}

/** One request; resolves to the status once the body has been read in full. */
export async function send(agent: http.Agent | undefined, port: number, req: LoadRequest): Promise<number> {
  return (await sendDetailed(agent, port, req)).status;
}

/** An answer as the load generator keeps it. */
interface Answer {
  readonly status: number;
  readonly retryAfter: boolean;
  /** The problem type's last path segment, DEV_PROXY_LOST, or the start of a body that is no problem. */
  readonly problem?: string;
  /** The Worker's own time, ms, when the answer carried a Server-Timing `worker` entry. */
  readonly workerMs?: number;
}

/** The bench Worker's own entry in a Server-Timing header's value: `worker;dur=<ms>`. */
const WORKER_TIMING = new RegExp(`(?:^|,)\\s*${WORKER_METRIC};dur=([\\d.]+)`);

/** One request; its status, Retry-After and Server-Timing, once the body has been read. */
function sendDetailed(agent: http.Agent | undefined, port: number, req: LoadRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const r = http.request(
      {
        host: HOST,
        port,
        method: req.method,
        path: req.path,
        agent,
        headers: {
          ...req.headers,
          ...(body ? { "content-type": "application/json", "content-length": body.length } : {}),
        },
        timeout: 30_000,
      },
      (res) => {
        // Error answers are read to name their problem type (the last path segment of `type`).
        const chunks: Buffer[] = [];
        const failing = (res.statusCode ?? 0) >= 400;
        res.on("data", (chunk: Buffer) => (failing ? chunks.push(chunk) : undefined));
        res.on("end", () => {
          const text = failing ? Buffer.concat(chunks).toString("utf8") : "";
          // Not a Factline problem: name it by the start of its body (a proxy's or the runtime's answer).
          const problem = failing
            ? (/"type":"[^"]*\/([^"/]+)"/.exec(text)?.[1] ??
              (res.statusCode === 503 && text.startsWith("Your worker restarted mid-request")
                ? DEV_PROXY_LOST
                : JSON.stringify(text.slice(0, 40))))
            : undefined;
          const timing = res.headers["server-timing"];
          const workerMs =
            timing === undefined ? Number.NaN : Number(WORKER_TIMING.exec([timing].flat().join(","))?.[1]);
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers["retry-after"] !== undefined,
            ...(problem ? { problem } : {}),
            ...(Number.isFinite(workerMs) ? { workerMs } : {}),
          });
        });
        res.on("error", reject);
      },
    );
    r.on("timeout", () => r.destroy(new Error("request timed out")));
    r.on("error", reject);
    if (body) r.write(body);
    r.end();
  });
}

/** One JSON request on a fresh connection (control calls, not measured); throws unless 2xx. */
export function requestJson<T>(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: HOST,
        port,
        method,
        path,
        agent: false,
        headers: {
          ...headers,
          ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300)
            reject(new Error(`${method} ${path} answered ${status}: ${text.slice(0, 300)}`));
          else resolve(JSON.parse(text) as T);
        });
      },
    );
    r.on("timeout", () => r.destroy(new Error(`${method} ${path} timed out`)));
    r.on("error", reject);
    if (payload) r.write(payload);
    r.end();
  });
}
