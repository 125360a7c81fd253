// Reading a JSON request body (src/core/http/request-body.ts): one UTF-8 decoder serves every request,
// so refusing one body must leave it able to read the next.
import { describe, expect, it } from "vitest";
import { readBodyWithin } from "../src/core/http/bounded-body.js";
import { readJsonBody } from "../src/core/http/request-body.js";
import { adminCall } from "./support/sagas.js";
import { call, newTenant, tenantClient } from "./support/api.js";

/** A stream of `chunks` that records how many of them were pulled and whether it was cancelled. */
function chunked(chunks: readonly string[]) {
  const seen = { pulled: 0, cancelled: false };
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[seen.pulled];
      if (next === undefined) controller.close();
      else {
        seen.pulled += 1;
        controller.enqueue(encoder.encode(next));
      }
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

const post = (body: BodyInit) =>
  new Request("https://factline.test/", { method: "POST", headers: { "content-type": "application/json" }, body });

describe("bounded body reads", () => {
  it("reads a body of chunks within the limit whole", async () => {
    const { stream } = chunked(["ab", "cd", "e"]);
    expect(new TextDecoder().decode(await readBodyWithin(stream, 5))).toBe("abcde");
  });

  it("refuses a body over the limit but reads the rest of it to its end, dropping it", async () => {
    const { stream, seen } = chunked(["abc", "def", "ghi", "jkl"]);
    expect(await readBodyWithin(stream, 5)).toBeUndefined();
    expect(seen).toEqual({ pulled: 4, cancelled: false });
  });

  it("cancels a body that goes on past the drain limit", async () => {
    const { stream, seen } = chunked(["abc", "def", "ghi", "jkl"]);
    expect(await readBodyWithin(stream, 5, 7)).toBeUndefined();
    // The stream may pull one chunk ahead of the reader; the last is never pulled.
    expect(seen.cancelled).toBe(true);
    expect(seen.pulled).toBeLessThan(4);
  });

  it("reads no body as empty", async () => {
    expect(await readBodyWithin(null, 5)).toEqual(new Uint8Array());
  });
});

describe("request bodies", () => {
  it("refuses a body that is not valid UTF-8, then reads the next valid one", async () => {
    const bad = await readJsonBody(post(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])));
    expect(bad).toMatchObject({ ok: false, problem: { type: expect.stringContaining("malformed-request") } });
    expect(await readJsonBody(post('{"quantity":"é"}'))).toEqual({
      ok: true,
      value: { quantity: "é" },
      text: '{"quantity":"é"}',
      empty: false,
    });
  });

  it("refuses a body over the limit before parsing it", async () => {
    const big = await readJsonBody(post(JSON.stringify({ pad: "x".repeat(100) })), 64);
    expect(big).toMatchObject({ ok: false, problem: { type: expect.stringContaining("payload-too-large") } });
  });

  it("refuses a key given twice in one object, which JSON leaves to the parser to pick", async () => {
    for (const text of ['{"a":1,"a":2}', '{"a":1,"\\u0061":2}', '{"x":{"b":1},"x":2}', '[{"k":1,"k":1}]']) {
      const read = await readJsonBody(post(text));
      expect(read, text).toMatchObject({
        ok: false,
        problem: { status: 400, detail: expect.stringContaining("twice") },
      });
    }
    expect(await readJsonBody(post('{"a":{"a":1},"b":[{"a":2},{"a":3}]}'))).toMatchObject({ ok: true });
  });

  it("refuses a __proto__ key at any depth", async () => {
    for (const text of ['{"__proto__":{"x":1}}', '{"items":[{"__proto__":null}]}', '{"\\u005f_proto__":1}']) {
      expect(await readJsonBody(post(text)), text).toMatchObject({
        ok: false,
        problem: { status: 400, detail: expect.stringContaining("__proto__") },
      });
    }
    expect(await readJsonBody(post('{"note":"__proto__"}'))).toMatchObject({ ok: true });
  });

  it("refuses a string with a lone surrogate, which a later hop would turn into U+FFFD", async () => {
    for (const text of ['{"s":"\\ud800"}', '{"s":"a\\udc00b"}', '{"\\ud83d":1}']) {
      expect(await readJsonBody(post(text)), text).toMatchObject({
        ok: false,
        problem: { status: 400, detail: expect.stringContaining("surrogate") },
      });
    }
    expect(await readJsonBody(post('{"s":"\\ud83d\\ude00"}'))).toMatchObject({ ok: true, value: { s: "\u{1f600}" } });
  });

  it("refuses a number beyond the safe integer range or out of range, which would not survive a round trip", async () => {
    for (const text of ['{"quantity":9007199254740993}', '{"n":-9007199254740992}', '{"n":1e400}', '{"n":1e16}']) {
      expect(await readJsonBody(post(text)), text).toMatchObject({
        ok: false,
        problem: { status: 400, detail: expect.stringContaining("2^53") },
      });
    }
    expect(await readJsonBody(post('{"n":9007199254740991,"m":-0.5,"e":1.5e3}'))).toMatchObject({ ok: true });
  });

  it("reads a deeply nested body without exhausting the stack", async () => {
    const deep = "[".repeat(20_000) + "]".repeat(20_000);
    expect(await readJsonBody(post(deep))).toMatchObject({ ok: true });
  });

  it("refuses a JSON body sent with a content coding, which would be recorded undecoded", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    for (const coding of ["br", "gzip", "identity, gzip"]) {
      const res = await api.command("inventory", "s1", "restock", { quantity: 1 }, { "content-encoding": coding });
      expect({ coding, status: res.status, type: ((await res.json()) as { type: string }).type }).toEqual({
        coding,
        status: 415,
        type: "https://factline.dev/problems/unsupported-media-type",
      });
    }
    expect(
      (await api.command("inventory", "s1", "restock", { quantity: 1 }, { "content-encoding": "identity" })).status,
    ).toBe(200);
  });

  it("refuses a JSON body declared in a charset other than UTF-8, and reads one declared as UTF-8", async () => {
    const api = tenantClient((await newTenant()).apiKey);
    for (const contentType of [
      "application/json; charset=iso-8859-1",
      'application/json;charset="utf-16"',
      "application/json; charset=",
    ]) {
      const res = await api.command("inventory", "s1", "restock", { quantity: 1 }, { "content-type": contentType });
      expect({ contentType, status: res.status }).toEqual({ contentType, status: 415 });
    }
    for (const contentType of ["application/json; charset=utf-8", 'application/json; charset="UTF-8"']) {
      expect(
        (await api.command("inventory", "s1", "restock", { quantity: 1 }, { "content-type": contentType })).status,
      ).toBe(200);
    }
  });

  it("reads a command sent with no body as empty data, with or without a JSON content type", async () => {
    const { apiKey } = await newTenant();
    const api = tenantClient(apiKey);
    const created = { customerId: "c1", items: [{ sku: "s1", quantity: 1, unitPrice: 1 }] };
    const cancel = (id: string, headers: Record<string, string>) =>
      call(`/v1/entities/orders/${id}/commands/cancel`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, ...headers },
      });
    for (const [id, headers] of [
      ["o-bare", {}],
      ["o-json", { "content-type": "application/json" }],
      ["o-length", { "content-length": "0" }],
    ] as const) {
      expect((await api.command("orders", id, "create", created)).status).toBe(200);
      const res = await cancel(id, headers);
      expect({ id, status: res.status }).toEqual({ id, status: 200 });
      expect(await res.json()).toMatchObject({
        events: [{ type: "OrderCancelled", data: { reason: "cancelled by request" } }],
      });
    }
    // An empty body declared as another type is refused like a full one of that type.
    const declared = await cancel("o-typed", { "content-type": "text/plain", "content-length": "0" });
    expect([declared.status, await declared.json()]).toMatchObject([
      415,
      { type: "https://factline.dev/problems/unsupported-media-type", detail: "send the body as application/json" },
    ]);
    // No body is empty data, not a way past the schema: a command that needs fields is refused for them.
    const needs = await call("/v1/entities/inventory/s1/commands/restock", {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}` },
    });
    expect(needs.status).toBe(400);
    expect(await needs.json()).toMatchObject({ type: "https://factline.dev/problems/validation-failed" });
  });

  it("applies the same body rules to the gateway controls an operator sets", async () => {
    const res = await adminCall("/admin/gateway/some-tenant/controls", {
      method: "PUT",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: JSON.stringify({ latencyMs: 0 }),
    });
    expect(res.status).toBe(415);
  });
});
