// The offline-first inventory board (/demo) in two real browser contexts on one tenant against the
// real platform (wrangler dev): one goes offline, makes ten changes, reloads the page while
// offline and comes back online; every change is applied exactly once, in order; the other
// context sees the first's online changes live and the synced ones after; the change that became
// impossible while offline is shown as rejected and the board shows the server's truth.
// Screenshots go to test-results/screenshots/demo-*.png.
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, startLocalPlatform, type LocalPlatform } from "./local-platform.js";

const SHOTS = "test-results/screenshots";
const SKU = "widget";
/** The longest any step may take to show up (a bound, not a speed assertion). */
const WITHIN = { timeout: 20_000, interval: 200 };

let platform: LocalPlatform;
let browser: Browser;
let apiKey = "";
let first: { context: BrowserContext; page: Page };
let second: { context: BrowserContext; page: Page };

async function openBoard(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (e) => console.error("page error:", e.message));
  // A fresh context's first load fetches the page, its script and its service worker from a
  // wrangler dev that a busy machine (CI beside other suites) may answer slowly: a wider bound.
  await platform.open(page, `/demo#key=${apiKey}`, 60_000);
  // The service worker controls the page: it can be reloaded offline.
  await page.locator("body[data-offline-ready=true]").waitFor();
  return { context, page };
}

const field = (page: Page, name: string) => page.locator(`[data-sku="${SKU}"] [data-field="${name}"]`);
const number = async (page: Page, name: string) => Number(await field(page, name).textContent());
const queued = async (page: Page) => Number(await page.locator("#queue-length").textContent());

async function restock(page: Page, quantity: number): Promise<void> {
  await page.getByLabel(`Restock quantity for ${SKU}`).fill(String(quantity));
  await page.getByRole("button", { name: `Restock ${SKU}` }).click();
}

async function reserve(page: Page, quantity: number): Promise<void> {
  await page.getByLabel(`Reserve quantity for ${SKU}`).fill(String(quantity));
  await page.getByRole("button", { name: `Reserve ${SKU}` }).click();
}

describe("the offline-first inventory board", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    platform = await startLocalPlatform();
    const created = await fetch(`${platform.url}/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${platform.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ id: `board-${Date.now().toString(36)}`, name: "Board" }),
    });
    apiKey = ((await created.json()) as { apiKey: string }).apiKey;
    browser = await chromium.launch(CHROMIUM);
    first = await openBoard();
    second = await openBoard();
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await platform?.stop();
  });

  it("shows one browser's changes in the other live", async () => {
    await first.page.getByLabel("SKU", { exact: true }).fill(SKU);
    await first.page.getByLabel("Initial stock").fill("20");
    await first.page.getByRole("button", { name: "Add SKU" }).click();
    await expect.poll(() => number(second.page, "onHand"), WITHIN).toBe(20);
    await restock(first.page, 5);
    await expect.poll(() => number(second.page, "onHand"), WITHIN).toBe(25);
    await expect.poll(() => queued(first.page), WITHIN).toBe(0);
    await second.page.screenshot({ path: `${SHOTS}/demo-1-live.png`, fullPage: true });
  });

  it("keeps ten changes made offline across a reload, then applies each once, in order, and shows what was rejected", async () => {
    await first.context.setOffline(true);
    await expect.poll(() => first.page.locator("#connection").textContent(), WITHIN).toBe("offline");
    // Ten changes offline: a reservation of nearly all the stock, then nine restocks.
    await reserve(first.page, 24);
    for (let quantity = 1; quantity <= 9; quantity++) await restock(first.page, quantity);
    await expect.poll(() => queued(first.page), WITHIN).toBe(10);
    expect(await number(first.page, "onHand")).toBe(25 + 45);
    expect(await number(first.page, "reserved")).toBe(24);
    // Meanwhile the second browser takes most of the stock: the first's reservation became impossible.
    await reserve(second.page, 20);
    await expect.poll(() => number(second.page, "available"), WITHIN).toBe(5);

    await first.page.reload();
    await expect.poll(() => queued(first.page), WITHIN).toBe(10);
    expect(await number(first.page, "onHand")).toBe(70);
    await first.page.screenshot({ path: `${SHOTS}/demo-2-offline-after-reload.png`, fullPage: true });

    await first.context.setOffline(false);
    await expect.poll(() => queued(first.page), { ...WITHIN, timeout: 60_000 }).toBe(0);
    // The reservation became impossible: shown as rejected; the board shows the server's truth.
    await expect
      .poll(() => first.page.locator("#rejections li").allTextContents(), WITHIN)
      .toEqual([expect.stringMatching(/reserve 24 on widget .*only 5 available/)]);
    await expect.poll(() => number(first.page, "reserved"), WITHIN).toBe(20);
    expect(await number(first.page, "onHand")).toBe(70);
    expect(await number(first.page, "available")).toBe(50);
    await first.page.screenshot({ path: `${SHOTS}/demo-3-synced-with-rejection.png`, fullPage: true });

    // The other browser sees the synced changes.
    await expect.poll(() => number(second.page, "onHand"), WITHIN).toBe(70);
    expect(await number(second.page, "available")).toBe(50);

    // The log: every change once, in the order it was made.
    const log = (await (
      await fetch(`${platform.url}/v1/entities/inventory/${SKU}/events?limit=100`, {
        headers: { authorization: `Bearer ${apiKey}` },
      })
    ).json()) as {
      events: { type: string; data: { quantity: number } }[];
    };
    expect(log.events.map((e) => `${e.type} ${e.data.quantity}`)).toEqual([
      "Restocked 20",
      "Restocked 5",
      "Reserved 20",
      ...Array.from({ length: 9 }, (_, i) => `Restocked ${i + 1}`),
    ]);
  });

  it("keeps the rejection across a reload until it is dismissed", async () => {
    await first.page.reload();
    const rejected = first.page.locator("#rejections li");
    await expect.poll(() => rejected.count(), WITHIN).toBe(1);
    await rejected.getByRole("button", { name: "Dismiss" }).click();
    await expect.poll(() => rejected.count(), WITHIN).toBe(0);
    await first.page.reload();
    await expect.poll(() => number(first.page, "onHand"), WITHIN).toBe(70);
    expect(await rejected.count()).toBe(0);
  });

  it("keeps commands flowing with more SKUs than a browser opens connections to one origin", async () => {
    // Chromium holds at most six connections to an HTTP/1.1 origin: a live stream per card used them up.
    const skus = Array.from({ length: 8 }, (_, i) => `bulk-${i + 1}`);
    for (const sku of skus) {
      await first.page.getByLabel("SKU", { exact: true }).fill(sku);
      await first.page.getByLabel("Initial stock").fill("3");
      await first.page.getByRole("button", { name: "Add SKU" }).click();
    }
    await expect.poll(() => queued(first.page), WITHIN).toBe(0);
    await first.page.getByLabel("Restock quantity for bulk-8").fill("4");
    await first.page.getByRole("button", { name: "Restock bulk-8" }).click();
    await expect.poll(() => queued(first.page), WITHIN).toBe(0);
    const onHand = second.page.locator('[data-sku="bulk-8"] [data-field="onHand"]');
    await expect.poll(async () => Number(await onHand.textContent()), WITHIN).toBe(7);
  });

  it("asks before a link's key replaces the key the board keeps", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await platform.open(page, `/demo#key=${apiKey}`, 60_000);
    await page.locator("#app:not([hidden])").waitFor();
    const stored = () => page.evaluate(() => localStorage.getItem("factline-demo-api-key"));
    const other = "fl_0123456789abcdef_someone-elses-key";
    page.once("dialog", (dialog) => void dialog.dismiss());
    await page.goto(`${platform.url}/demo#key=${other}`);
    await page.reload();
    expect(await stored()).toBe(apiKey);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.goto(`${platform.url}/demo#key=${other}`);
    await page.reload();
    expect(await stored()).toBe(other);
    await context.close();
  });
});
