// The browser suite's fault control (test/browser/worker/fault-worker.ts), checked here inside
// workerd where it is cheap: it answers only the admin token, takes exactly one entity, and makes
// the real facts consumer fail on that entity's facts alone, until told to stop.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, newTenant, tenantClient } from "./support/api.js";
import { deliver, holdRelay, logOf } from "./support/facts.js";
import faultWorker from "./browser/worker/fault-worker.js";

const disarm: (() => void)[] = [];
afterEach(() => {
  while (disarm.length) disarm.pop()?.();
});

function control(body: unknown, token = ADMIN_TOKEN): Promise<Response> {
  const request = new Request("https://factline.test/__test/faults/consumer", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return Promise.resolve(faultWorker.fetch(request, env, createExecutionContext()));
}

describe("the browser suite's consumer fault control", () => {
  it("refuses a caller without the admin token", async () => {
    const res = await control(
      { tenant: "t", entityType: "inventory", entityId: "sku-1", failing: true },
      "not-the-token",
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it("refuses a request that does not name one entity", async () => {
    const res = await control({ tenant: "t", failing: true });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { type: string }).type).toBe("https://factline.dev/problems/validation-failed");
  });

  it("fails the consumer on the named entity's facts only, until told to stop", async () => {
    const tenant = await newTenant("fault");
    disarm.push(holdRelay(tenant.id));
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "broken", "restock", { quantity: 2 });
    await api.command("inventory", "fine", "restock", { quantity: 3 });
    const broken = await logOf(tenant.apiKey, "inventory", "broken");
    const fine = await logOf(tenant.apiKey, "inventory", "fine");
    const entity = { tenant: tenant.id, entityType: "inventory", entityId: "broken" };

    expect((await control({ ...entity, failing: true })).status).toBe(204);
    const failed = await deliver([...broken, ...fine]);
    expect(failed.retryMessages.length).toBe(broken.length);
    expect(failed.explicitAcks.length).toBe(fine.length);

    expect((await control({ ...entity, failing: false })).status).toBe(204);
    const healed = await deliver(broken, 2);
    expect(healed.explicitAcks.length).toBe(broken.length);
  });
});
