// endWhenStandingLapses (src/core/streams/standing-guard.ts): an SSE body piped through a guard
// that asks for the key's standing every interval, over plain web streams in Node.
import { describe, expect, it } from "vitest";
import type { Standing } from "../../src/core/live/live-feed-host.js";
import { endWhenStandingLapses } from "../../src/core/streams/standing-guard.js";

const EVERY_MS = 5;

/** An SSE answer whose body stays open until cancelled; `cancelled` settles when it is. */
function openSse(): { response: Response; write: (text: string) => void; cancelled: Promise<void> } {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let onCancel = () => {};
  const cancelled = new Promise<void>((resolve) => {
    onCancel = resolve;
  });
  const body = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    cancel: () => onCancel(),
  });
  return {
    response: new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } }),
    write: (text) => controller?.enqueue(new TextEncoder().encode(text)),
    cancelled,
  };
}

/** Standing answers in turn (the last one repeats); a thrown answer is a check that failed. */
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

describe("a stream guarded by its key's standing", () => {
  it("passes what the source writes until the key is revoked, then ends the body and cancels the source", async () => {
    const source = openSse();
    const standing = answers("ok", "ok", "revoked");
    const guarded = endWhenStandingLapses(source.response, standing.check, EVERY_MS);
    source.write("event: data\ndata: one\n\n");

    expect(await guarded.text()).toBe("event: data\ndata: one\n\n");
    await source.cancelled;
    expect(standing.asked()).toBe(3);
  });

  it("goes on through a check that fails, and ends at the next that answers suspended", async () => {
    const source = openSse();
    const standing = answers(new Error("gate unreachable"), new Error("gate unreachable"), "suspended");
    const guarded = endWhenStandingLapses(source.response, standing.check, EVERY_MS);

    expect(await guarded.text()).toBe("");
    expect(standing.asked()).toBe(3);
  });

  it("stops asking once the client has gone", async () => {
    const source = openSse();
    const standing = answers("ok");
    const guarded = endWhenStandingLapses(source.response, standing.check, EVERY_MS);
    await guarded.body?.cancel();
    await source.cancelled;
    const askedThen = standing.asked();

    await new Promise((resolve) => setTimeout(resolve, EVERY_MS * 10));
    expect(standing.asked()).toBeLessThanOrEqual(askedThen + 1);
  });

  it("returns answers that are not SSE, and streams no key opened, as they are", () => {
    const json = new Response("[]", { headers: { "content-type": "application/json" } });
    expect(endWhenStandingLapses(json, answers("revoked").check, EVERY_MS)).toBe(json);
    const operator = openSse().response;
    expect(endWhenStandingLapses(operator, undefined, EVERY_MS)).toBe(operator);
  });
});
