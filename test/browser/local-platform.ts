// The platform as a browser test sees it: `wrangler dev` on a free 127.0.0.1 port over a fresh
// persisted state directory with the D1 migrations applied, and Debian's Chromium driven by
// playwright-core with a fresh profile. Both are torn down by `stop()`. wrangler runs production's
// own wrangler.toml (so bindings, queue settings and vars cannot drift) with one difference: its
// entry is worker/fault-worker.ts, production's Worker plus a control that makes the real facts
// consumer fail on one entity's facts.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { freePort } from "../../bench/dev-server.js";

const WRANGLER = join(process.cwd(), "node_modules", "wrangler", "bin", "wrangler.js");
const FAULT_WORKER = join(process.cwd(), "test", "browser", "worker", "fault-worker.ts");

/** Debian's Chromium, headless, with nothing that reaches beyond 127.0.0.1 (the machine's rules). */
export const CHROMIUM: { readonly executablePath: string; readonly headless: boolean; readonly args: string[] } = {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

export interface EntityAddress {
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
}

export interface LocalPlatform {
  readonly url: string;
  readonly adminToken: string;
  readonly browser: BrowserContext;
  /** Makes every attempt of the facts consumer to apply this entity's facts fail, or stops it. */
  failConsumer(entity: EntityAddress, failing: boolean): Promise<void>;
  stop(): Promise<void>;
}

async function waitForHealth(url: string, dev: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dev.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output()}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`wrangler dev did not become healthy:\n${output()}`);
}

export async function startLocalPlatform(): Promise<LocalPlatform> {
  const state = mkdtempSync(join(tmpdir(), "factline-browser-state-"));
  const profile = mkdtempSync(join(tmpdir(), "factline-browser-profile-"));
  const adminToken = `browser-admin-${Math.random().toString(36).slice(2)}`;
  const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" };

  const migrate = spawnSync(
    process.execPath,
    [WRANGLER, "d1", "migrations", "apply", "DB", "--local", "--persist-to", state],
    { env, encoding: "utf8" },
  );
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = "";
  const dev = spawn(
    process.execPath,
    // The entry argument replaces wrangler.toml's `main`; everything else comes from wrangler.toml.
    [
      WRANGLER,
      "dev",
      FAULT_WORKER,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state,
      "--var",
      `ADMIN_TOKEN:${adminToken}`,
      "--show-interactive-dev-session=false",
    ],
    { env, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  dev.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  dev.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
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
    await waitForHealth(url, dev, () => log, 60_000);
  } catch (error) {
    stopDev();
    throw error;
  }

  const browser = await chromium.launchPersistentContext(profile, {
    ...CHROMIUM,
    viewport: { width: 1200, height: 900 },
  });

  return {
    url,
    adminToken,
    browser,
    async failConsumer(entity, failing) {
      const res = await fetch(`${url}/__test/faults/consumer`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ ...entity, failing }),
      });
      if (res.status !== 204) throw new Error(`arming the consumer fault answered ${res.status}: ${await res.text()}`);
    },
    async stop() {
      await browser.close().catch(() => undefined);
      stopDev();
      await new Promise((r) => setTimeout(r, 300));
      rmSync(profile, { recursive: true, force: true });
      rmSync(state, { recursive: true, force: true });
    },
  };
}
