// The example app (examples/todo) run through the same composition as the reference app, in its
// own Worker: its entity, view, saga and service work with no platform file naming them.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, entityHttpClient, eventually, newTenant, tenantClient } from "../../../test/support/api.js";
import { todoLists } from "../todo-list.js";

/** `POST /v1/lists/{id}/complete-all`, the example's own route (examples/todo/list-routes.ts). */
function completeAll(apiKey: string, id: string): Promise<Response> {
  return call(`/v1/lists/${id}/complete-all`, { method: "POST", headers: { authorization: `Bearer ${apiKey}` } });
}

async function todoTenant() {
  const tenant = await newTenant("todo");
  // `lists` is typed by the entity: a misspelt command or a wrong body does not compile.
  return { ...tenant, api: tenantClient(tenant.apiKey), lists: entityHttpClient(tenant.apiKey, todoLists) };
}

describe("the to-do example app", () => {
  it("records a command of its own entity type through the platform's tenant API", async () => {
    const { lists } = await todoTenant();
    const res = await lists.command("groceries", "add", { itemId: "milk", title: "Milk" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { version: number; events: { type: string }[] };
    expect(body.version).toBe(1);
    expect(body.events.map((e) => e.type)).toEqual(["ItemAdded"]);
  });

  it("answers its own business rules as 422 with the rule's code", async () => {
    const { lists } = await todoTenant();
    await lists.command("chores", "add", { itemId: "dishes", title: "Dishes" });
    const res = await lists.command("chores", "close", {});
    expect(res.status).toBe(422);
    expect(((await res.json()) as { code: string }).code).toBe("items-open");
  });

  it("does not serve the reference app's entity types", async () => {
    const { api } = await todoTenant();
    const res = await api.command("inventory", "sku-1", "restock", { quantity: 1 });
    expect(res.status).toBe(404);
  });

  it("keeps its view in D1 from the facts queue", async () => {
    const { api, lists } = await todoTenant();
    await lists.command("trip", "add", { itemId: "tickets", title: "Tickets" });
    await lists.command("trip", "add", { itemId: "bags", title: "Bags" });
    await lists.command("trip", "complete", { itemId: "bags" });
    const row = await eventually(async () => {
      const res = await api.get("/v1/views/todo-lists/trip");
      if (res.status !== 200) return undefined;
      const r = (await res.json()) as { open: number; done: number; version: number };
      return r.version === 3 ? r : undefined;
    });
    expect(row).toMatchObject({ listId: "trip", open: 1, done: 1, closed: false });
  });

  it("runs its saga, which calls its own service once, when a list is closed", async () => {
    const { id, lists } = await todoTenant();
    await lists.command("week", "add", { itemId: "gym", title: "Gym" });
    await lists.command("week", "complete", { itemId: "gym" });
    expect((await lists.command("week", "close", {})).status).toBe(200);
    const sent = await eventually(async () => {
      const { results } = await env.DB.prepare("SELECT list_id, message FROM todo_notifications WHERE tenant_id = ?")
        .bind(id)
        .all<{ list_id: string; message: string }>();
      return results.length > 0 ? results : undefined;
    });
    expect(sent).toEqual([{ list_id: "week", message: "list week is done (1 items)" }]);
  });

  it("serves its own route, which reads and commands its entity through the typed entity client", async () => {
    const { apiKey, lists } = await todoTenant();
    await lists.command("move", "add", { itemId: "boxes", title: "Boxes" });
    await lists.command("move", "add", { itemId: "van", title: "Van" });
    await lists.command("move", "complete", { itemId: "van" });
    const res = await completeAll(apiKey, "move");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ completed: ["boxes"], version: 4 });
    expect((await lists.command("move", "close", {})).status).toBe(200);
  });

  it("answers its own route's refusals as problems: an unknown list, a malformed id, another tenant's list", async () => {
    const { apiKey } = await todoTenant();
    const other = await todoTenant();
    await other.lists.command("theirs", "add", { itemId: "x", title: "X" });
    const unknown = await completeAll(apiKey, "nothing");
    expect([unknown.status, ((await unknown.json()) as { type: string }).type]).toEqual([
      404,
      "https://factline.dev/problems/not-found",
    ]);
    expect((await completeAll(apiKey, "Not%20An%20Id")).status).toBe(400);
    // Entities belong to the tenant the key authenticates: another tenant's list is not found.
    expect((await completeAll(apiKey, "theirs")).status).toBe(404);
  });

  it("documents its entity and view in the API document", async () => {
    const doc = (await (await call("/openapi.json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/v1/entities/todo-lists/{id}/commands/add", "/v1/views/todo-lists"]),
    );
    expect(Object.keys(doc.paths).some((p) => p.includes("inventory") || p.includes("payments"))).toBe(false);
  });
});
