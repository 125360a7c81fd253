// A local Factline for Node-side suites: `wrangler dev` of production's own wrangler.toml on a
// free 127.0.0.1 port over a fresh persisted state directory with the D1 migrations applied, one
// tenant created through the admin API and its API key returned. `stop()` ends the process group
// and removes the state. Extra `[vars]` (for example a short long-poll timeout) are passed with
// `--var`, so nothing in wrangler.toml drifts from production.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigrations, startDevServer } from "../../bench/dev-server.js";

export interface LocalWrangler {
  readonly url: string;
  readonly tenant: string;
  readonly apiKey: string;
  /** Everything wrangler and the runtime printed (LOG_LEVEL error: errors only); gone after `stop()`. */
  readonly logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts wrangler dev with `vars` set, waits for /healthz, and creates a tenant that lists
 * `corsOrigins` (a preflight is answered only for an origin some tenant lists).
 */
export async function startLocalWrangler(
  vars: Readonly<Record<string, string>> = {},
  corsOrigins: readonly string[] = [],
): Promise<LocalWrangler> {
  const state = mkdtempSync(join(tmpdir(), "factline-conformance-"));
  const adminToken = `conformance-admin-${Math.random().toString(36).slice(2)}`;
  applyMigrations(undefined, state);
  const dev = await startDevServer({
    persistDir: state,
    adminToken,
    logFile: join(state, "wrangler.log"),
    vars: { LOG_LEVEL: "error", ...vars },
  });
  const stop = async () => {
    await dev.stop();
    rmSync(state, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${dev.port}`;
  try {
    const tenant = `conformance-${Math.random().toString(36).slice(2, 8)}`;
    const res = await fetch(`${url}/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ id: tenant, name: "Conformance" }),
    });
    if (res.status !== 201) throw new Error(`creating the tenant answered ${res.status}: ${await res.text()}`);
    const { apiKey } = (await res.json()) as { apiKey: string };
    if (corsOrigins.length > 0) {
      const listed = await fetch(`${url}/admin/tenants/${tenant}/cors`, {
        method: "PUT",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ origins: corsOrigins }),
      });
      if (listed.status !== 200) throw new Error(`listing the tenant's origins answered ${listed.status}`);
    }
    return { url, tenant, apiKey, logFile: dev.logFile, stop };
  } catch (error) {
    await stop();
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
