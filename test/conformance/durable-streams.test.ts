// The official Durable Streams server conformance suite (@durable-streams/server-conformance-tests,
// pinned in package-lock.json), unmodified, against tenant streams at /v1/stream/{name} of a
// `wrangler dev` this file starts. The suite sends no credentials: a wrapper around `fetch` adds
// the tenant's API key to requests for that origin. The long-poll timeout is 1 s here so the
// suite's long-poll tests get their 204 well within their own timeouts. The optional webhook
// `subscriptions` group is off (Factline does not serve the reserved `__ds` subscription APIs).
import { readFileSync } from "node:fs";
import { runConformanceTests } from "@durable-streams/server-conformance-tests";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { authorizeFetch, startLocalWrangler, type LocalWrangler } from "./local-wrangler.js";

const config = { baseUrl: "" };
let platform: LocalWrangler | undefined;
let restoreFetch: (() => void) | undefined;
const tally = { passed: 0, failed: 0 };
const suiteVersion = (
  JSON.parse(readFileSync("node_modules/@durable-streams/server-conformance-tests/package.json", "utf8")) as {
    version: string;
  }
).version;

beforeAll(async () => {
  // The suite's CORS tests preflight from https://example.com: the tenant lists it, as one serving browsers there would.
  platform = await startLocalWrangler({ STREAM_LONG_POLL_TIMEOUT_MS: "1000" }, ["https://example.com"]);
  config.baseUrl = platform.url;
  restoreFetch = authorizeFetch(platform.url, platform.apiKey);
}, 120_000);

// Counts the suite's own outcomes, printed at the end so `npm test` shows how many of its tests pass.
beforeEach(({ onTestFinished }) => {
  onTestFinished(({ task }) => {
    if (task.result?.state === "pass") tally.passed++;
    else if (task.result?.state === "fail") tally.failed++;
  });
});

afterAll(async () => {
  console.log(
    `Durable Streams conformance suite ${suiteVersion}: ${tally.passed} passed, ${tally.failed} failed (subscriptions group off)`,
  );
  restoreFetch?.();
  await platform?.stop();
});

describe("Durable Streams conformance (official suite)", () => {
  runConformanceTests(config);
});

// Not part of the official suite: what the runtime logs when a reader leaves. A reader that left
// an idle SSE read used to surface, at the object's next write, as an uncaught "Network
// connection lost" in the runtime's log (cloudflare/workers-sdk#11071; push-body.ts). A reader
// that leaves while writes are flowing can still draw it from the local runtime (README, Durable
// Streams), so the check is of this one reader, not of the suite's.
describe("the runtime under SSE readers that leave", () => {
  it("logs no uncaught error when a reader leaves and the stream is then written", async () => {
    // Only what this test makes the runtime log: the suite before it is not its subject.
    const logFile = platform?.logFile ?? "";
    const logged = readFileSync(logFile, "utf8").length;
    const url = `${config.baseUrl}/v1/stream/leaving-reader`;
    expect((await fetch(url, { method: "PUT", headers: { "content-type": "text/plain" } })).status).toBe(201);
    const read = await fetch(`${url}?offset=-1&live=sse`);
    const reader = read.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    // An append wakes the object's loop at once, and its 1 s keep-alive writes again after it.
    expect(
      (await fetch(url, { method: "POST", headers: { "content-type": "text/plain" }, body: "after" })).status,
    ).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const uncaught = readFileSync(logFile, "utf8")
      .slice(logged)
      .split("\n")
      .filter((line) => /uncaught/i.test(line));
    expect(uncaught).toEqual([]);
  }, 30_000);
});
