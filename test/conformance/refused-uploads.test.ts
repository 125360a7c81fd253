// What a refused upload leaves behind on a real HTTP path (wrangler dev: its proxy, then the
// runtime). A body of unknown length (chunked) that the Worker stopped reading part-way through
// used to break the connection between wrangler's proxy and the runtime, so the next request of
// any client and any tenant got a plain-text 503 or no answer at all. These run in Node against a
// `wrangler dev` the file starts, since the Workers pool's in-process fetch has no such connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWrangler, type LocalWrangler } from "./local-wrangler.js";

let platform: LocalWrangler | undefined;

beforeAll(async () => {
  platform = await startLocalWrangler();
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

/** `text` as a stream of 8 KiB chunks: fetch sends a stream body chunked, with no Content-Length. */
function chunkedBody(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + 8192));
      at += 8192;
    },
  });
}

function restock(url: string, apiKey: string, body: BodyInit) {
  return fetch(`${url}/v1/entities/inventory/refused-upload/commands/restock`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body,
    duplex: "half",
    signal: AbortSignal.timeout(20_000),
  } as RequestInit);
}

describe("an upload refused for its size", () => {
  it("is answered 413 and leaves the next command to be served", async () => {
    const { url, apiKey } = platform ?? expect.unreachable("wrangler dev did not start");
    const oversized = JSON.stringify({ quantity: 1, note: "a".repeat(70_000) });
    for (let round = 0; round < 3; round++) {
      const refused = await restock(url, apiKey, chunkedBody(oversized));
      expect(refused.status).toBe(413);
      expect((await refused.json()) as unknown).toMatchObject({ type: expect.stringContaining("payload-too-large") });
      const next = await restock(url, apiKey, JSON.stringify({ quantity: 1 }));
      expect(next.status).toBe(200);
      await next.body?.cancel();
    }
  });

  it("is answered 413 with a declared length too, and leaves the next command to be served", async () => {
    const { url, apiKey } = platform ?? expect.unreachable("wrangler dev did not start");
    const refused = await restock(url, apiKey, JSON.stringify({ quantity: 1, note: "c".repeat(70_000) }));
    expect(refused.status).toBe(413);
    await refused.body?.cancel();
    const next = await restock(url, apiKey, JSON.stringify({ quantity: 1 }));
    expect(next.status).toBe(200);
    await next.body?.cancel();
  });

  it("leaves the next read to be answered", async () => {
    const { url, apiKey } = platform ?? expect.unreachable("wrangler dev did not start");
    const refused = await restock(url, apiKey, chunkedBody(JSON.stringify({ note: "b".repeat(70_000) })));
    expect(refused.status).toBe(413);
    await refused.body?.cancel();
    const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(20_000) });
    expect(health.status).toBe(200);
  });
});
