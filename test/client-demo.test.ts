// The demo board's routes (/demo): a page that holds no secret, its bundled script and the
// service worker that keeps both for offline reloads; and pages may not shadow the platform.
import { describe, expect, it } from "vitest";
import { defineApp } from "../platform.js";
import { demoRoutes } from "../reference/demo/demo-routes.js";
import { call } from "./support/api.js";

describe("the demo board", () => {
  it("serves its page with a policy that allows only its own script and the API", async () => {
    const res = await call("/demo");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/demo/board.js">');
    expect(html).not.toMatch(/fl_[0-9a-f]{16}_/);
  });

  it("serves the board's script bundled with the client", async () => {
    const res = await call("/demo/board.js");
    expect(res.headers.get("content-type")).toContain("text/javascript");
    expect(await res.text()).toContain("factline-client-session");
  });

  it("serves a service worker allowed to control the page", async () => {
    const res = await call("/demo/sw.js");
    expect(res.headers.get("service-worker-allowed")).toBe("/demo");
    expect(await res.text()).toContain("caches.open");
  });

  it.each(["v1", "admin", "dashboard", "Demo"])("refuses a page mounted at /%s", (segment) => {
    expect(() => defineApp({ entities: [], projections: [], pages: { [segment]: demoRoutes } })).toThrow(
      /pages cannot be mounted/,
    );
  });
});
