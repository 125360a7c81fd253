// A bounded load generator: `concurrency` keep-alive HTTP/1.1 connections to 127.0.0.1 each
// sending one request after another until the time or request budget is spent. Latency is
// measured per request from send to the end of the response body.
import http from "node:http";

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
      const { status, retryAfter } = await sendDetailed(agent, spec.port, req).catch(() => ({ status: 0, retryAfter: false }));
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
  return { ok, failed, statuses, latenciesMs: latencies, elapsedMs, ...(spec.withRetryAfter ? { withoutRetryAfter } : {}) };
}

/** One request; resolves to the status once the body has been read in full. */
export async function send(agent: http.Agent | undefined, port: number, req: LoadRequest): Promise<number> {
  return (await sendDetailed(agent, port, req)).status;
}

/** One request; its status and whether it carried Retry-After, once the body has been read. */
function sendDetailed(agent: http.Agent | undefined, port: number, req: LoadRequest): Promise<{ status: number; retryAfter: boolean }> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const r = http.request(
      {
        host: HOST,
        port,
        method: req.method,
        path: req.path,
        agent,
        headers: { ...req.headers, ...(body ? { "content-type": "application/json", "content-length": body.length } : {}) },
        timeout: 30_000,
      },
      (res) => {
        res.on("data", () => undefined);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] !== undefined }));
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
export function requestJson<T>(port: number, method: string, path: string, headers: Record<string, string>, body?: unknown, timeoutMs = 120_000): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: HOST,
        port,
        method,
        path,
        agent: false,
        headers: { ...headers, ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) reject(new Error(`${method} ${path} answered ${status}: ${text.slice(0, 300)}`));
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
