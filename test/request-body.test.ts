// Reading a JSON request body (src/core/request-body.ts): one UTF-8 decoder serves every request,
// so refusing one body must leave it able to read the next.
import { describe, expect, it } from "vitest";
import { readJsonBody } from "../src/core/request-body.js";

const post = (body: BodyInit) => new Request("https://factline.test/", { method: "POST", headers: { "content-type": "application/json" }, body });

describe("request bodies", () => {
  it("refuses a body that is not valid UTF-8, then reads the next valid one", async () => {
    const bad = await readJsonBody(post(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])));
    expect(bad).toMatchObject({ ok: false, problem: { type: expect.stringContaining("malformed-request") } });
    expect(await readJsonBody(post('{"quantity":"é"}'))).toEqual({ ok: true, value: { quantity: "é" } });
  });

  it("refuses a body over the limit before parsing it", async () => {
    const big = await readJsonBody(post(JSON.stringify({ pad: "x".repeat(100) })), 64);
    expect(big).toMatchObject({ ok: false, problem: { type: expect.stringContaining("payload-too-large") } });
  });
});
