// The platform as a browser test sees it: `wrangler dev` on a free 127.0.0.1 port over a fresh
// persisted state directory with the D1 migrations applied, and Debian's Chromium driven by
// playwright-core with a fresh profile. Both are torn down by `stop()`. wrangler runs production's
// own wrangler.toml (so bindings, queue settings and vars cannot drift) with one difference: its
// entry is worker/fault-worker.ts, production's Worker plus a control that makes the real facts
// consumer fail on one entity's facts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { applyMigrations, logTail, startDevServer } from "../../bench/dev-server.js";

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
  /**
   * `page.goto(path)` that, when the page's load does not come within `timeout` ms, fails naming
   * the page's requests still unanswered and wrangler's last log lines (the state directory and its
   * log are removed by `stop()`, so a failure on CI would otherwise leave nothing to read).
   */
  open(page: Page, path: string, timeout?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalPlatform(): Promise<LocalPlatform> {
  const state = mkdtempSync(join(tmpdir(), "factline-browser-state-"));
  const profile = mkdtempSync(join(tmpdir(), "factline-browser-profile-"));
  const adminToken = `browser-admin-${Math.random().toString(36).slice(2)}`;
  applyMigrations(undefined, state);
  // The entry argument replaces wrangler.toml's `main`; everything else comes from wrangler.toml.
  const dev = await startDevServer({
    entry: FAULT_WORKER,
    persistDir: state,
    adminToken,
    logFile: join(state, "wrangler.log"),
  });
  const url = `http://127.0.0.1:${dev.port}`;
  const browser = await chromium
    .launchPersistentContext(profile, { ...CHROMIUM, viewport: { width: 1200, height: 900 } })
    .catch(async (error: unknown) => {
      await dev.stop();
      throw error;
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
    async open(page, path, timeout) {
      const pending = new Map<object, string>();
      const track = (request: { method(): string; url(): string }) =>
        pending.set(request, `${request.method()} ${request.url()}`);
      const settle = (request: object) => pending.delete(request);
      page.on("request", track);
      page.on("requestfinished", settle);
      page.on("requestfailed", settle);
      try {
        await page.goto(`${url}${path}`, timeout === undefined ? {} : { timeout });
      } catch (error) {
        const waiting = [...pending.values()].join("\n  ") || "(none)";
        throw new Error(
          `${error instanceof Error ? error.message : String(error)}\nrequests unanswered:\n  ${waiting}\nwrangler's log:\n${logTail(join(state, "wrangler.log"))}`,
        );
      } finally {
        page.off("request", track);
        page.off("requestfinished", settle);
        page.off("requestfailed", settle);
      }
    },
    async stop() {
      await browser.close().catch(() => undefined);
      await dev.stop();
      rmSync(profile, { recursive: true, force: true });
      rmSync(state, { recursive: true, force: true });
    },
  };
}
