// A local Factline for Node-side suites: `wrangler dev` of production's own wrangler.toml on a
// free 127.0.0.1 port over a fresh persisted state directory with the D1 migrations applied, one
// tenant created through the admin API and its API key returned. `stop()` ends the process group
// and removes the state. Extra `[vars]` (for example a short long-poll timeout) are passed with
// `--var`, so nothing in wrangler.toml drifts from production.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../bench/dev-server.js";

const WRANGLER = join(process.cwd(), "node_modules", "wrangler", "bin", "wrangler.js");

export interface LocalWrangler {
  readonly url: string;
  readonly tenant: string;
  readonly apiKey: string;
  stop(): Promise<void>;
}

/** Starts wrangler dev with `vars` set, waits for /healthz, and creates a tenant. */
export async function startLocalWrangler(vars: Readonly<Record<string, string>> = {}): Promise<LocalWrangler> {
  const state = mkdtempSync(join(tmpdir(), "factline-conformance-"));
  const adminToken = `conformance-admin-${Math.random().toString(36).slice(2)}`;
  const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" };
  const migrate = spawnSync(
    process.execPath,
    [WRANGLER, "d1", "migrations", "apply", "DB", "--local", "--persist-to", state],
    { env, encoding: "utf8" },
  );
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const varArgs = Object.entries({ ADMIN_TOKEN: adminToken, LOG_LEVEL: "error", ...vars }).flatMap(([k, v]) => [
    "--var",
    `${k}:${v}`,
  ]);
  let log = "";
  const dev = spawn(
    process.execPath,
    [
      WRANGLER,
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state,
      ...varArgs,
      "--show-interactive-dev-session=false",
    ],
    {
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  dev.stdout?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
  dev.stderr?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
  const stopDev = () => {
    if (dev.pid !== undefined && dev.exitCode === null) {
      try {
        process.kill(-dev.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  };
  try {
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (dev.exitCode !== null) throw new Error(`wrangler dev exited early:\n${log}`);
      if (Date.now() > deadline) throw new Error(`wrangler dev did not become healthy:\n${log}`);
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const tenant = `conformance-${Math.random().toString(36).slice(2, 8)}`;
    const res = await fetch(`${url}/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ id: tenant, name: "Conformance" }),
    });
    if (res.status !== 201) throw new Error(`creating the tenant answered ${res.status}: ${await res.text()}`);
    const { apiKey } = (await res.json()) as { apiKey: string };
    return {
      url,
      tenant,
      apiKey,
      async stop() {
        stopDev();
        await new Promise((r) => setTimeout(r, 300));
        rmSync(state, { recursive: true, force: true });
      },
    };
  } catch (error) {
    stopDev();
    throw error;
  }
}

/**
 * Wraps global `fetch` so every request to `origin` carries `Authorization: Bearer <apiKey>`
 * (the official suite sends no credentials); answers a function that restores the original.
 */
export function authorizeFetch(origin: string, apiKey: string): () => void {
  const original = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(origin)) return original(input, init);
    const headers = new Headers(input instanceof Request ? input.headers : undefined);
    for (const [k, v] of new Headers(init?.headers)) headers.set(k, v);
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${apiKey}`);
    return original(input, { ...init, headers });
  };
  return () => {
    globalThis.fetch = original;
  };
}
