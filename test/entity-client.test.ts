// The typed entity client an app's own routes use (edge/entity/entity-client.ts), against the real
// entity objects: a route built in the test runs it under a tenant, as tenant authentication
// would have set one.
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { entityClient } from "../edge/entity/entity-client.js";
import type { RequestScope } from "../src/core/http/request-scope.js";
import { inventory } from "../src/domain/inventory.js";

type Route = (client: ReturnType<typeof entityClient<typeof inventory>>) => Promise<unknown>;

/**
 * Runs `route` with the client of the reference inventory under `tenant` (none: undefined): its
 * answer, or what it threw as `{ thrown, message }`.
 */
async function underTenant(tenant: string | undefined, route: Route): Promise<unknown> {
  const app = new Hono<{ Bindings: Env; Variables: RequestScope }>();
  app.post("/", async (c) => {
    if (tenant !== undefined) c.set("tenant", tenant);
    c.set("requestId", "req-1");
    c.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    return c.json({ answer: await route(entityClient(c, inventory)) });
  });
  app.onError((error, c) => c.json({ answer: { thrown: error.name, message: error.message } }));
  const res = await app.request("/", { method: "POST" }, env);
  return ((await res.json()) as { answer: unknown }).answer;
}

const tenant = () => `client-${crypto.randomUUID().slice(0, 8)}`;

describe("the entity client of an app's routes", () => {
  it("runs a command parsed by the entity's schema, defaults filled in, and reads the state it led to", async () => {
    const t = tenant();
    const outcome = await underTenant(t, (sku) => sku.command("sku-1", "restock", { quantity: 3 }));
    expect(outcome).toMatchObject({
      ok: true,
      replayed: false,
      result: { version: 1, events: [{ type: "Restocked", data: { quantity: 3, source: "manual" } }] },
    });
    expect(await underTenant(t, (sku) => sku.read("sku-1"))).toMatchObject({ version: 1, state: { onHand: 3 } });
    expect(await underTenant(t, (sku) => sku.read("sku-2"))).toBeNull();
  });

  it("refuses data the command's schema refuses, naming the fields, and records nothing", async () => {
    const t = tenant();
    const outcome = await underTenant(t, (sku) =>
      // As a route could, forwarding what a client sent unchecked.
      sku.command("sku-1", "restock", JSON.parse('{"quantity":-1}') as { quantity: number }),
    );
    expect(outcome).toMatchObject({
      ok: false,
      problem: { status: 400, type: "https://factline.dev/problems/validation-failed", errors: [{ path: "quantity" }] },
    });
    expect(await underTenant(t, (sku) => sku.read("sku-1"))).toBeNull();
  });

  it("answers a command the entity does not have, named by an untyped caller, 404 as a value", async () => {
    const forwarded = JSON.parse('"toString"') as "restock";
    expect(await underTenant(tenant(), (sku) => sku.command("sku-1", forwarded, { quantity: 1 }))).toMatchObject({
      ok: false,
      problem: { status: 404, detail: "inventory has no command toString" },
    });
  });

  it("refuses an id outside the entity id grammar, for commands and reads alike", async () => {
    const t = tenant();
    expect(await underTenant(t, (sku) => sku.command("Not An Id", "restock", { quantity: 1 }))).toMatchObject({
      ok: false,
      problem: { status: 400, type: "https://factline.dev/problems/malformed-request" },
    });
    expect(await underTenant(t, (sku) => sku.read("../x"))).toMatchObject({ thrown: "ProblemError" });
  });

  it("records a command sent again under the same idempotency key once, and refuses the key with other data", async () => {
    const t = tenant();
    const send = (quantity: number) =>
      underTenant(t, (sku) => sku.command("sku-1", "restock", { quantity }, { idempotencyKey: "k-1" }));
    expect(await send(2)).toMatchObject({ ok: true, replayed: false, result: { version: 1 } });
    expect(await send(2)).toMatchObject({ ok: true, replayed: true, result: { version: 1 } });
    expect(await send(5)).toMatchObject({ ok: false, problem: { status: 422 } });
    expect(await underTenant(t, (sku) => sku.read("sku-1"))).toMatchObject({ version: 1, state: { onHand: 2 } });
  });

  it("keeps each tenant's entities apart: the same id under another tenant is another entity", async () => {
    const [a, b] = [tenant(), tenant()];
    await underTenant(a, (sku) => sku.command("shared", "restock", { quantity: 7 }));
    expect(await underTenant(b, (sku) => sku.read("shared"))).toBeNull();
  });

  it("serves only requests with a tenant: any other use is a bug, thrown", async () => {
    expect(await underTenant(undefined, async () => "unreached")).toMatchObject({
      message: expect.stringMatching(/no tenant/),
    });
  });
});
