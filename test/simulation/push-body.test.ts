// The body an SSE loop writes into (push-body.ts): the reader's pace holds the loop back, and a
// reader that leaves ends it through a write answering false, never through a rejected promise.
// Also shown end to end: the Worker's SSE loop (serveReadOnlyStream) stops reading its source once
// the reader has gone.
import { describe, expect, it } from "vitest";
import { pushBody } from "../../src/core/streams/push-body.js";
import { serveReadOnlyStream, type LogSource } from "../../src/core/streams/read-only-stream.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (chunk: Uint8Array | undefined) => new TextDecoder().decode(chunk);

/** Whether `promise` has settled after the pending microtasks and one macrotask have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

describe("a push body", () => {
  it("holds a write until the reader has taken its bytes and asked for more", async () => {
    const { body, writer } = pushBody(60_000);
    const reader = body.getReader();
    const write = writer.write(bytes("a"));
    expect(text((await reader.read()).value)).toBe("a");
    expect(await settled(write)).toBe(false);
    const next = reader.read();
    expect(await write).toBe(true);
    void writer.write(bytes("b"));
    expect(text((await next).value)).toBe("b");
  });

  it("answers false to the write pending when the reader cancels, and to every later one", async () => {
    const { body, writer } = pushBody(60_000);
    const reader = body.getReader();
    const first = writer.write(bytes("a"));
    await reader.read();
    await reader.cancel("gone");
    expect(await first).toBe(false);
    expect(await writer.write(bytes("b"))).toBe(false);
  });

  it("answers false to a write its reader has not taken within the stall bound, and ends the body", async () => {
    const { body, writer } = pushBody(20);
    const reader = body.getReader();
    const first = writer.write(bytes("a"));
    await reader.read();
    // Connected, but reading no further: the runtime never asks for more.
    expect(await first).toBe(false);
    expect(await writer.write(bytes("b"))).toBe(false);
    await expect(reader.read()).rejects.toThrow(/took no bytes for 20 ms/);
  });

  it("ends the reader after what was written when closed, and closing twice is harmless", async () => {
    const { body, writer } = pushBody(60_000);
    void writer.write(bytes("last"));
    writer.close();
    writer.close();
    const reader = body.getReader();
    expect(text((await reader.read()).value)).toBe("last");
    expect((await reader.read()).done).toBe(true);
  });

  it("answers false to a write after close", async () => {
    const { writer } = pushBody(60_000);
    writer.close();
    expect(await writer.write(bytes("late"))).toBe(false);
  });
});

describe("the Worker's SSE loop", () => {
  it("stops asking its source for pages once the reader has gone", async () => {
    let asked = 0;
    // Always one new message, so the loop never waits: only the reader's departure can stop it.
    const endless: LogSource = async (after) => {
      asked++;
      return { messages: [{ key: after + 1, json: `{"n":${after + 1}}` }], tail: after + 2 };
    };
    const res = await serveReadOnlyStream(new Request("https://factline.test/s?offset=-1&live=sse"), endless, {
      longPollTimeoutMs: 1_000,
      sseMaxMs: 60_000,
      etagPrefix: "s",
    });
    const reader = res.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const after = asked;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(asked).toBe(after);
  });
});
