// The dashboard in a real browser against the real platform (wrangler dev): the operator signs
// in, creates a tenant and keys, the tenant's command shows up in the entity browser and (live)
// in its views and timeline; a fact the consumer keeps failing on becomes a dead letter that the
// operator replays once the fault is gone; then a tenant admin signs in and cannot see any other
// tenant.
// Screenshots of each page go to test-results/screenshots/.
import { mkdirSync } from "node:fs";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalPlatform, type LocalPlatform } from "./local-platform.js";

const SHOTS = "test-results/screenshots";
let platform: LocalPlatform;
let page: Page;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

async function command(apiKey: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${platform.url}/v1/entities/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("the tenant admin dashboard", () => {
  const tenant = `acme-${Date.now().toString(36)}`;
  const other = `globex-${Date.now().toString(36)}`;
  let tenantKey = "";

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    platform = await startLocalPlatform();
    page = await platform.browser.newPage();
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (e) => console.error("page error:", e.message));
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it("lets the operator sign in and create a tenant whose key is shown once", async () => {
    await platform.open(page, "/dashboard");
    await expect.poll(() => page.url()).toContain("/dashboard/sign-in");
    await shot("01-sign-in");
    await page.getByLabel("Admin token or tenant API key").fill(platform.adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Tenants", level: 1 }).waitFor();

    await page.getByLabel("Id").fill(tenant);
    await page.getByLabel("Name").fill("Acme Corp");
    await page.getByRole("button", { name: "Create tenant" }).click();
    tenantKey = (await page.locator("#new-api-key").textContent())?.trim() ?? "";
    expect(tenantKey).toMatch(/^fl_[0-9a-f]{16}_/);
    await page
      .getByRole("row", { name: new RegExp(tenant) })
      .getByRole("link", { name: tenant })
      .waitFor();
    await shot("02-tenants");
  });

  it("issues and revokes a second key from the tenant overview", async () => {
    await page
      .getByRole("row", { name: new RegExp(tenant) })
      .getByRole("link", { name: tenant })
      .click();
    await page.getByRole("button", { name: "Issue a new key" }).click();
    const second = (await page.locator("#new-api-key").textContent())?.trim() ?? "";
    expect(second).toMatch(/^fl_/);
    expect(second).not.toBe(tenantKey);
    const secondId = second.split("_")[1] ?? "";
    await page.getByRole("button", { name: `Revoke key ${secondId}` }).click();
    await page
      .getByRole("row", { name: new RegExp(secondId) })
      .getByText("revoked")
      .waitFor();
    const refused = await command(second, "inventory/sku-1/commands/restock", { quantity: 1 });
    expect(refused.status).toBe(401);
    await shot("03-overview-keys");
  });

  it("shows a command's entity, its timeline growing live, and its state at a past version", async () => {
    expect((await command(tenantKey, "inventory/sku-1/commands/restock", { quantity: 5 })).status).toBe(200);
    await page.getByRole("link", { name: "Entities" }).click();
    await page.getByLabel("Entity type").selectOption("inventory");
    await page.getByLabel("Entity id").fill("sku-1");
    await page.getByRole("button", { name: "Show" }).click();
    await page.getByRole("heading", { name: /Current state, version \d/ }).waitFor();
    const before = await page.locator("#timeline > li").count();

    expect((await command(tenantKey, "inventory/sku-1/commands/restock", { quantity: 3 })).status).toBe(200);
    await expect.poll(() => page.locator("#timeline > li").count(), { timeout: 10_000 }).toBe(before + 1);
    await page.locator("#state-note").getByRole("link").waitFor();
    await shot("04-entity-timeline");

    await page.getByRole("link", { name: "state at version 1", exact: true }).click();
    await page.getByRole("heading", { name: /State at version 1 \(of \d\)/ }).waitFor();
    expect(await page.locator("#entity-state").textContent()).toContain('"onHand": 5');
  });

  it("updates a view live as facts are applied", async () => {
    await page.getByRole("link", { name: "Views" }).click();
    const onHand = page.locator('table[data-view="inventory"] tbody tr', { hasText: "sku-1" }).locator("td").nth(1);
    await expect.poll(() => onHand.textContent(), { timeout: 15_000 }).toBe("8");
    expect((await command(tenantKey, "inventory/sku-1/commands/restock", { quantity: 2 })).status).toBe(200);
    await expect.poll(() => onHand.textContent(), { timeout: 15_000 }).toBe("10");
    await shot("05-views-live");
  });

  it("shows live metrics on the overview, and the projections and dead-letter pages", async () => {
    await page.getByRole("link", { name: "Overview" }).click();
    const commands = page.locator('[data-stat="Commands (30 min)"]');
    await expect.poll(async () => Number(await commands.textContent()), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    const seen = Number(await commands.textContent());
    expect((await command(tenantKey, "inventory/sku-2/commands/restock", { quantity: 1 })).status).toBe(200);
    await expect.poll(async () => Number(await commands.textContent()), { timeout: 15_000 }).toBeGreaterThan(seen);
    await shot("06-overview");

    await page.getByRole("link", { name: "Projections" }).click();
    await page.getByRole("rowheader", { name: "inventory" }).waitFor();
    await page.getByRole("button", { name: "Rebuild inventory from the entity logs" }).click();
    await page.getByText("Rebuild started").waitFor();
    await shot("07-projections");
    await page.getByRole("link", { name: "Dead letters" }).click();
    await page.getByText("No dead letters.").waitFor();
    await shot("08-dead-letters");
  });

  it("shows a fact the consumer gave up on as a dead letter, and applies it when the operator replays it", async () => {
    const broken = { tenant, entityType: "inventory", entityId: "sku-3" };
    await platform.failConsumer(broken, true);
    expect((await command(tenantKey, "inventory/sku-3/commands/restock", { quantity: 4 })).status).toBe(200);
    // The dead-letter page is live: the letter appears once the consumer's last retry has failed.
    const letter = page.getByRole("row", { name: /inventory\/sku-3 #1/ });
    await letter.getByText("injected fault at consumer.apply").waitFor({ timeout: 75_000 });
    expect(await letter.getByRole("cell").nth(1).textContent()).toBe("5");
    const unapplied = await fetch(`${platform.url}/v1/views/inventory/sku-3`, {
      headers: { authorization: `Bearer ${tenantKey}` },
    });
    expect(unapplied.status).toBe(404);
    await shot("09-dead-letter");

    await platform.failConsumer(broken, false);
    await letter.getByRole("button", { name: "Replay inventory/sku-3 #1" }).click();
    await page.getByRole("status").getByText("Replayed").waitFor();
    await page.getByText("No dead letters.").waitFor();
    await shot("10-dead-letter-replayed");

    await page.getByRole("link", { name: "Views" }).click();
    const onHand = page.locator('table[data-view="inventory"] tbody tr', { hasText: "sku-3" }).locator("td").nth(1);
    await expect.poll(() => onHand.textContent(), { timeout: 15_000 }).toBe("4");
  }, 120_000);

  it("is keyboard navigable and fits a phone screen", async () => {
    await page.goto(`${platform.url}/dashboard/t/${tenant}`);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe("Skip to content");
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await shot("11-overview-phone");
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  it("signs out, and a tenant admin then sees only their own tenant", async () => {
    const created = await fetch(`${platform.url}/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${platform.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ id: other, name: "Globex" }),
    });
    expect(created.status).toBe(201);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.goto(`${platform.url}/dashboard/tenants`);
    await expect.poll(() => page.url()).toContain("/dashboard/sign-in");

    await page.getByLabel("Admin token or tenant API key").fill(tenantKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: /Acme Corp/ }).waitFor();
    expect(await page.getByRole("link", { name: "Tenants" }).count()).toBe(0);
    await shot("12-tenant-admin");

    const otherOverview = await page.goto(`${platform.url}/dashboard/t/${other}`);
    expect(otherOverview?.status()).toBe(404);
    expect(await page.content()).not.toContain("Globex");
    const tenants = await page.goto(`${platform.url}/dashboard/tenants`);
    expect(tenants?.status()).toBe(404);
    expect(await page.content()).not.toContain(other);
  });
});
