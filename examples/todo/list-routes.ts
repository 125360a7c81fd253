// The example app's own tenant route: `POST /v1/lists/{id}/complete-all` completes every open item
// of a list, one `complete` command each, through the typed entity client. Mounted by worker.ts
// with `defineApp({ tenantRoutes: { lists: listRoutes } })`: behind tenant authentication,
// validated and in the API document like the platform's routes.
import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import {
  entityClient,
  entityIdSchema,
  fail,
  json,
  ProblemError,
  problems,
  type RequestScope,
  routeTable,
  security,
} from "../../factline.js";
import { todoLists } from "./todo-list.js";

export const listRoutes = routeTable<{ Bindings: Env; Variables: RequestScope }>();

listRoutes.openapi(
  createRoute({
    method: "post",
    path: "/{id}/complete-all",
    operationId: "lists.completeAll",
    summary: "complete every open item of a list",
    tags: ["lists"],
    security: security("tenant"),
    request: { params: z.object({ id: entityIdSchema.describe("the list's id") }) },
    responses: {
      200: json(z.object({ completed: z.array(z.string()), version: z.number().int() }), "the items completed"),
      ...problems("tenant", 400, 404, 422),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const lists = entityClient(c, todoLists);
    const list = await lists.read(id);
    if (!list) throw fail("not-found", `no list ${id}`);
    const open = list.state.items.filter((item) => !item.done).map((item) => item.itemId);
    let version = list.version;
    for (const itemId of open) {
      const outcome = await lists.command(id, "complete", { itemId });
      if (!outcome.ok) throw new ProblemError(outcome.problem);
      version = outcome.result.version;
    }
    return c.json({ completed: open, version }, 200);
  },
);
