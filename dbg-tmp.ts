import { chromium } from "playwright-core";
import { startLocalPlatform } from "./test/browser/local-platform.js";
const platform = await startLocalPlatform();
try {
  const created = await fetch(`${platform.url}/admin/tenants`, { method: "POST", headers: { authorization: `Bearer ${platform.adminToken}`, "content-type": "application/json" }, body: JSON.stringify({ id: "dbg", name: "Board" }) });
  const apiKey = ((await created.json()) as { apiKey: string }).apiKey;
  const page = await platform.browser.newPage();
  page.on("console", (m) => console.log("console:", m.type(), m.text()));
  page.on("pageerror", (e) => console.log("pageerror:", e.message));
  page.on("requestfailed", (r) => console.log("failed:", r.url(), r.failure()?.errorText));
  page.on("response", (r) => console.log("resp:", r.status(), r.url()));
  await page.goto(`${platform.url}/demo#key=${apiKey}`);
  await page.waitForTimeout(2000);
  await page.getByLabel("SKU", { exact: true }).fill("widget");
  await page.getByRole("button", { name: "Add SKU" }).click();
  await page.waitForTimeout(3000);
  await page.screenshot({ path: "/tmp/dbg.png", fullPage: true });
  console.log(await page.locator("main").innerHTML().then((h) => h.slice(0, 3000)));
} finally {
  await platform.stop();
}
