// factline/client's size budget (issue #18): bundled for browsers, minified and gzipped, within
// 15 kB with idb and its own checks included. A size, not a timing: the same source always
// bundles to the same bytes. The view feed's checks once pulled the whole of zod in (99 kB).
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundleForBrowser } from "../../scripts/build-demo.js";

const BUDGET_BYTES = 15_000;

describe("factline/client's bundle", () => {
  it("stays within 15 kB minified and gzipped", async () => {
    const script = await bundleForBrowser(join(import.meta.dirname, "..", "..", "client", "index.ts"));
    expect(gzipSync(script, { level: 9 }).byteLength).toBeLessThanOrEqual(BUDGET_BYTES);
  });
});
