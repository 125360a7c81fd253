// A live read of a Durable Stream ends once the key that opened it lapses (standing-watch.ts),
// shown on the Worker's SSE loop (serveReadOnlyStream) over a source in memory, in Node.
import { describe, expect, it } from "vitest";
import type { Standing } from "../../src/core/live/live-feed-host.js";
import { serveReadOnlyStream, type LogSource } from "../../src/core/streams/read-only-stream.js";
import { StandingWatch } from "../../src/core/streams/standing-watch.js";

const EVERY_MS = 5;

/** One message (key 1), then nothing new: a wait lasts as long as it is allowed to. */
const oneMessage: LogSource = async (after, waitMs) => {
  if (after < 1) return { messages: [{ key: 1, json: '{"n":1}' }], tail: 1 };
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  return { messages: [], tail: 1 };
};

/** Standing answers in turn (the last one repeats); an Error is a check that failed. */
function answers(...sequence: (Standing | Error)[]): { check: () => Promise<Standing>; asked: () => number } {
  let asked = 0;
  return {
    check: async () => {
      const next = sequence[Math.min(asked++, sequence.length - 1)];
      if (next instanceof Error) throw next;
      return next ?? "ok";
    },
    asked: () => asked,
  };
}

/** An SSE read from the start whose connection would otherwise last a minute. */
function sseRead(standing: ReturnType<typeof answers> | undefined, sseMaxMs = 60_000): Promise<Response> {
  return serveReadOnlyStream(new Request("https://factline.test/s?offset=-1&live=sse"), oneMessage, {
    longPollTimeoutMs: 20_000,
    sseMaxMs,
    etagPrefix: "test",
    ...(standing ? { standing: { check: standing.check, everyMs: EVERY_MS } } : {}),
  });
}

describe("a live read and the standing of its key", () => {
  it("sends what there is, then ends at the first check that finds the key revoked", async () => {
    const standing = answers("ok", "ok", "revoked");
    const body = await (await sseRead(standing)).text();

    expect(body).toContain('data:[{"n":1}]');
    expect(standing.asked()).toBe(3);
  });

  it("goes on through checks that fail, and ends at the next that finds the tenant suspended", async () => {
    const standing = answers(new Error("gate unreachable"), new Error("gate unreachable"), "suspended");
    await (await sseRead(standing)).text();

    expect(standing.asked()).toBe(3);
  });

  it("is not asked after when no key opened the read: it lasts its connection's time", async () => {
    const body = await (await sseRead(undefined, 30)).text();

    expect(body).toContain('data:[{"n":1}]');
  });

  it("asks only once a check is due, and says when the next one is", async () => {
    const standing = answers("revoked");
    const watch = new StandingWatch({ check: standing.check, everyMs: 100 }, 1_000);

    expect(await watch.lapsed(1_099)).toBe(false);
    expect(standing.asked()).toBe(0);
    expect(watch.msUntilDue(1_040)).toBe(60);
    expect(await watch.lapsed(1_100)).toBe(true);
    expect(watch.msUntilDue(1_250)).toBe(1);
  });
});
