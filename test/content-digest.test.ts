// A body sent with `Content-Digest` or `Repr-Digest` (RFC 9530) is checked against the bytes that
// arrived: a body cut short on the way (a chunked body ending early reads as a clean end) or
// changed is refused with 400 and nothing is done, whichever route it reaches, even one that never
// reads its body.
import { describe, expect, it } from "vitest";
import { admin } from "./support/admin.js";
import { ADMIN_TOKEN, call, newTenant, tenantClient } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";
const ORIGIN = "https://factline.test";

/** `sha-256=:…:` (or another algorithm) of `text`, as RFC 9530 writes it. */
async function digestOf(text: string, algorithm: "SHA-256" | "SHA-512" = "SHA-256"): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest(algorithm, new TextEncoder().encode(text)));
  return `${algorithm.toLowerCase()}=:${btoa(String.fromCharCode(...bytes))}:`;
}

/** A body of unknown length (sent chunked) that carries `text`. */
function chunkedBody(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });
}

async function expectProblem(res: Response, kind: string, detail: string): Promise<void> {
  expect(res.status).toBe(400);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(await res.json()).toMatchObject({ type: `${PROBLEMS}${kind}`, detail: expect.stringContaining(detail) });
}

async function setup() {
  const tenant = await newTenant("digest");
  const auth = { authorization: `Bearer ${tenant.apiKey}` };
  const restock = (body: BodyInit, headers: Record<string, string>) =>
    call("/v1/entities/inventory/sku-d/commands/restock", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", ...headers },
      body,
    });
  const events = async () => {
    const res = await tenantClient(tenant.apiKey).get("/v1/entities/inventory/sku-d/events");
    return res.status === 404 ? [] : ((await res.json()) as { events: unknown[] }).events;
  };
  return { auth, restock, events };
}

describe("commands sent with a digest", () => {
  it("accepts a command whose body matches its Content-Digest", async () => {
    const { restock, events } = await setup();
    const body = '{"quantity": 5}';
    const res = await restock(body, { "content-digest": await digestOf(body) });
    expect(res.status).toBe(200);
    expect(await events()).toHaveLength(1);
  });

  it("refuses a command whose body arrived cut short, and records nothing", async () => {
    const { restock, events } = await setup();
    // What a client hashed, and the part that reached the Worker: both valid JSON.
    const sent = `{"quantity": 5}${" ".repeat(64)}`;
    const arrived = '{"quantity": 5}';
    const res = await restock(chunkedBody(arrived), { "content-digest": await digestOf(sent) });
    await expectProblem(res, "digest-mismatch", "Content-Digest sha-256");
    expect(await events()).toHaveLength(0);
  });

  it("checks Repr-Digest as it checks Content-Digest", async () => {
    const { restock, events } = await setup();
    const res = await restock('{"quantity": 5}', { "repr-digest": await digestOf('{"quantity": 6}') });
    await expectProblem(res, "digest-mismatch", "Repr-Digest sha-256");
    expect(await events()).toHaveLength(0);
  });

  it("refuses a body when any of the checked algorithms it names disagrees", async () => {
    const { restock } = await setup();
    const body = '{"quantity": 5}';
    const both = `${await digestOf(body)}, ${await digestOf("something else", "SHA-512")}`;
    await expectProblem(await restock(body, { "content-digest": both }), "digest-mismatch", "sha-512");
    const right = `${await digestOf(body, "SHA-512")}, md5=:AAAAAAAAAAAAAAAAAAAAAA==:`;
    expect((await restock(body, { "content-digest": right })).status).toBe(200);
  });

  it("refuses a digest field it cannot check instead of accepting the body unchecked", async () => {
    const { restock, events } = await setup();
    const body = '{"quantity": 5}';
    const cases: [header: string, detail: string][] = [
      ["sha-256=not base64 at all", "not a structured-field dictionary"],
      ['sha-256="a string"', "must be a byte sequence"],
      ["sha-256=(:AAAA: :AAAA:)", "must be a byte sequence"],
      ["md5=:AAAAAAAAAAAAAAAAAAAAAA==:", "names no algorithm checked here"],
      ["", "names no algorithm checked here"],
    ];
    for (const [header, detail] of cases)
      await expectProblem(await restock(body, { "content-digest": header }), "malformed-request", detail);
    expect(await events()).toHaveLength(0);
  });
});

describe("other bodies sent with a digest", () => {
  it("refuses a stream append that arrived cut short, leaving the stream as it was", async () => {
    const { auth } = await setup();
    const text = { ...auth, "content-type": "text/plain" };
    expect((await call("/v1/stream/digested", { method: "PUT", headers: text })).status).toBe(201);
    const append = (body: BodyInit, digest: string) =>
      call("/v1/stream/digested", { method: "POST", headers: { ...text, "content-digest": digest }, body });
    await expectProblem(
      await append(chunkedBody("ABCD"), await digestOf("ABCDEFGH")),
      "digest-mismatch",
      "Content-Digest",
    );
    expect((await append("ABCDEFGH", await digestOf("ABCDEFGH"))).status).toBe(204);
    const read = await call("/v1/stream/digested?offset=-1", { headers: auth });
    expect(await read.text()).toBe("ABCDEFGH");
  });

  it("refuses a dashboard form that does not match its digest, even with the right secret", async () => {
    const form = new URLSearchParams({ secret: ADMIN_TOKEN }).toString();
    const res = await call("/dashboard/sign-in", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: ORIGIN,
        "content-digest": await digestOf(`${form}x`),
      },
      body: form,
      redirect: "manual",
    });
    await expectProblem(res, "digest-mismatch", "Content-Digest");
    expect(res.headers.get("set-cookie")).toBeNull();
  });
});

describe("requests whose route never reads the body", () => {
  /** Suspends a fresh tenant with `body` and `digest`; the answer, and whether it got suspended. */
  async function suspend(body: BodyInit, digest: string) {
    const tenant = await newTenant("digest");
    const res = await call(`/admin/tenants/${tenant.id}/suspend`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-digest": digest },
      body,
    });
    const shown = (await (await admin("GET", `/tenants/${tenant.id}`)).json()) as { status: string };
    return { res, suspended: shown.status === "suspended" };
  }

  it("are refused when the body does not match its digest, and do nothing", async () => {
    const { res, suspended } = await suspend("ignored", await digestOf("something else"));
    await expectProblem(res, "digest-mismatch", "Content-Digest sha-256");
    expect(suspended).toBe(false);
  });

  it("are served when the body matches its digest", async () => {
    const { res, suspended } = await suspend("ignored", await digestOf("ignored"));
    expect(res.status).toBe(200);
    expect(suspended).toBe(true);
  });

  it("are refused with 413 past the largest body a route outside /v1 takes (64 KiB), and do nothing", async () => {
    const big = "x".repeat(64 * 1024 + 1);
    const { res, suspended } = await suspend(big, await digestOf(big));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ type: `${PROBLEMS}payload-too-large` });
    expect(suspended).toBe(false);
  });

  it("check a digest sent without a body as the digest of no content", async () => {
    const { auth } = await setup();
    const read = (digest: string) => call("/v1/views/inventory", { headers: { ...auth, "content-digest": digest } });
    expect((await read(await digestOf(""))).status).toBe(200);
    await expectProblem(await read(await digestOf("a body that never came")), "digest-mismatch", "Content-Digest");
  });
});

describe("the bound a digest's body is read to", () => {
  it("is a stream append's 1 MiB under /v1, once the key is admitted", async () => {
    const { auth } = await setup();
    const big = "x".repeat(200 * 1024);
    const headers = { ...auth, "content-type": "text/plain" };
    expect((await call("/v1/stream/digest-big", { method: "PUT", headers })).status).toBe(201);
    const res = await call("/v1/stream/digest-big", {
      method: "POST",
      headers: { ...headers, "content-digest": await digestOf(big) },
      body: big,
    });
    expect(res.status).toBe(204);
  });

  it("is never reached under /v1 without an admitted key: the key is refused first", async () => {
    const big = "x".repeat(200 * 1024);
    const res = await call("/v1/stream/digest-big", {
      method: "POST",
      headers: { "content-type": "text/plain", "content-digest": await digestOf(`${big}x`) },
      body: big,
    });
    expect(res.status).toBe(401);
  });
});
