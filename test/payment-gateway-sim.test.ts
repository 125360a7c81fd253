// The simulated payment gateway honours its contract like a real one: idempotency keys, refunds
// and voids, the decline rule, and validation of what it is sent. Reached through its binding.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { paymentGateway } from "../reference/payment-gateway-client.js";
import { call, newTenant } from "./support/api.js";
import { adminCall, gatewayLedger, setGateway } from "./support/sagas.js";

let merchants = 0;
function merchant(): { id: string; post(path: string, body: unknown, key?: string): Promise<Response> } {
  const id = `gw-${Date.now().toString(36)}-${merchants++}`;
  const stub = env.PAYMENT_GATEWAY.get(env.PAYMENT_GATEWAY.idFromName(id));
  return {
    id,
    post: (path, body, key) =>
      stub.fetch(`https://payment-gateway.invalid${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
        body: JSON.stringify(body),
      }),
  };
}

const charge = { reference: "o-1", amount: 25, currency: "EUR" };

describe("simulated payment gateway", () => {
  it("answers a repeated Idempotency-Key with the stored outcome and charges once", async () => {
    const gw = merchant();
    const first = (await (await gw.post("/charges", charge, "k-1")).json()) as { status: string; gatewayRef: string };
    const again = (await (await gw.post("/charges", charge, "k-1")).json()) as { status: string; gatewayRef: string };
    expect(first.status).toBe("approved");
    expect(again).toEqual(first);
    expect(await gatewayLedger(gw.id)).toHaveLength(1);
  });

  it("refuses a key reused for another charge (422) and a charge without a key or with a bad body (400)", async () => {
    const gw = merchant();
    await gw.post("/charges", charge, "k-1");
    expect((await gw.post("/charges", { ...charge, amount: 26 }, "k-1")).status).toBe(422);
    expect((await gw.post("/charges", charge)).status).toBe(400);
    expect((await gw.post("/charges", { ...charge, currency: "euro" }, "k-2")).status).toBe(400);
  });

  it("refuses a refund without an Idempotency-Key or with one past 255 characters (400)", async () => {
    const gw = merchant();
    expect((await gw.post("/refunds", { chargeKey: "k-1" })).status).toBe(400);
    expect((await gw.post("/refunds", { chargeKey: "k-1" }, "r".repeat(256))).status).toBe(400);
  });

  it("refunds through the client a charge whose key is 255 characters, the longest the gateway takes", async () => {
    const gw = merchant();
    const refund = await paymentGateway(env, gw.id, 1).refund("k".repeat(255));
    expect(refund.ok && refund.value.status).toBe("voided");
  });

  it("declines above the merchant's limit with 402, and a refund of a declined charge refunds nothing", async () => {
    const gw = merchant();
    await setGateway(gw.id, { declineAbove: 10 });
    const res = await gw.post("/charges", charge, "k-1");
    expect(res.status).toBe(402);
    expect(await res.json()).toMatchObject({ status: "declined" });
    expect(await (await gw.post("/refunds", { chargeKey: "k-1" }, "r-1")).json()).toMatchObject({
      status: "nothing-to-refund",
    });
  });

  it("voids a key refunded before its charge arrived, so the late charge is declined", async () => {
    const gw = merchant();
    expect(await (await gw.post("/refunds", { chargeKey: "k-1" }, "r-1")).json()).toMatchObject({ status: "voided" });
    const late = await gw.post("/charges", charge, "k-1");
    expect(late.status).toBe(402);
    expect((await gatewayLedger(gw.id)).filter((e) => e.status === "approved")).toEqual([]);
  });

  it("refunds an approved charge once, however often asked", async () => {
    const gw = merchant();
    await gw.post("/charges", charge, "k-1");
    await gw.post("/refunds", { chargeKey: "k-1" }, "r-1");
    expect(await (await gw.post("/refunds", { chargeKey: "k-1" }, "r-1")).json()).toMatchObject({ status: "refunded" });
    expect(await gatewayLedger(gw.id)).toMatchObject([{ key: "k-1", status: "approved", refunded: true }]);
  });

  it("rejects invalid controls through the admin API with problem+json 400", async () => {
    const res = await adminCall("/admin/gateway/some-merchant/controls", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ errorRate: 2 }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: "https://factline.dev/problems/validation-failed",
      errors: [{ path: "errorRate" }],
    });
    expect((await adminCall("/admin/gateway/NOT_A_TENANT/ledger")).status).toBe(400);
  });

  it("answers a malformed payment id on the settle route with 400", async () => {
    const tenant = await newTenant("gw");
    const res = await call("/v1/payments/bad%20id/settle", {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    expect(res.status).toBe(400);
  });
});
