// The supervisor's side of the admin API: sagas (listed in keyset pages of an order no status
// change moves, those needing attention first beside them, cloud/sagas/saga-list.ts; inspect,
// retry, force compensation) and circuit breakers (state and transition facts). Mounted under
// /admin, behind the admin token; each route declared once (`createRoute`).
import { createRoute } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import { tenantIdSchema } from "../../src/core/protocol/identifiers.js";
import { countQuery, json, jsonBody, problems, routeTable, security } from "../../src/core/http/openapi.js";
import { strictJsonBody } from "../../src/core/http/json-body.js";
import { fail } from "../../src/core/http/problem.js";
import type { CloudEnv } from "../app.js";
import { breakerFor } from "./guarded-call.js";
import type { Db } from "../../src/core/model/projection.js";
import { describeRefusal, MAX_TASK_KEY_CHARS, OPERATOR_ACTOR, type OperatorAction } from "../../src/core/model/saga.js";
import { nextLink } from "../projections/view-page.js";
import { sagaStub } from "../stubs.js";
import type { OperatorOutcome } from "./saga-host.js";
import { listSagas, SAGA_ID, sagaCursorPosition } from "./saga-list.js";
import { circuitBreakers } from "../schema.js";

const sagaStatus = z.enum(["running", "compensating", "completed", "compensated", "attention"], {
  error: "status must be running, compensating, completed, compensated or attention",
});
const sagaId = z.string().regex(SAGA_ID, "a saga id is tenant:saga:instance").describe("tenant:saga:instance");
// Shapes the saga host and breaker objects define (SagaView, BreakerView): objects, described there.
const anyObject = z.unknown().meta({ type: "object" });

export const sagaAdminRoutes = routeTable<CloudEnv>();

const sagaPageSchema = (what: string) =>
  z.object({
    items: z.array(anyObject).describe(what),
    next: z
      .string()
      .nullable()
      .describe("the cursor of the following page, for ?after=; null when this page is the last"),
  });

const listRoute = createRoute({
  method: "get",
  path: "/sagas",
  operationId: "admin.sagas.list",
  summary: "sagas, those needing attention first, in pages",
  description:
    "Every saga (or those of `status`, of `tenant`), newest first: `createdAt` (when the saga was first listed) " +
    "descending, ties by `id` descending. Neither changes once written, so the order is stable whatever the " +
    "sagas' statuses do: a walk from the first page through each `next` lists every saga listed when it began " +
    "exactly once, even if sagas enter or leave `attention` meanwhile (each with its state when its page was " +
    "read; a saga first listed after the walk began is listed at most once). With `status`, a page holds the " +
    "sagas of that status when it is read (one changing status meanwhile may be listed or not, never twice). Sagas needing attention come first beside the walk: the first page " +
    "(no `after`) of a list not filtered by `status` also carries `attention`, the first page of " +
    "`?status=attention` (same `tenant`, same `limit`, same order), whose `next` continues it with " +
    "`?status=attention&after=`; `attention` is not part of the walk, so a saga in it is also in `items` on " +
    "its own page. Keyset pages as a view's: `next` (and `Link: <…&after=<next>>; " +
    'rel="next"`) while sagas remain, null on the last page; `?after=<next>` continues the list with the same ' +
    "filters. A cursor this list could not have given is 400. Each page is read along an index.",
  tags: ["sagas"],
  security: security("admin"),
  request: {
    query: z
      .object({
        status: sagaStatus.optional(),
        tenant: tenantIdSchema.optional(),
        limit: countQuery("limit", 1, 500, 100),
        after: z
          .string()
          .refine(
            (cursor) => sagaCursorPosition(cursor) !== undefined,
            "after is not a cursor this list gave (a page's next)",
          )
          .optional()
          .describe("the `next` of the previous page (opaque): the sagas after it, with the same filters"),
      })
      .refine(
        // A cursor no list gives at all is the field's own refusal, above.
        (q) =>
          q.after === undefined ||
          sagaCursorPosition(q.after) === undefined ||
          sagaCursorPosition(q.after, q.tenant) !== undefined,
        {
          message: "after is a cursor of another tenant's sagas: give the next of a page with the same filters",
          path: ["after"],
        },
      ),
  },
  responses: {
    200: json(
      sagaPageSchema("newest first (createdAt, then id, descending)").extend({
        attention: sagaPageSchema("sagas needing attention, newest first")
          .optional()
          .describe(
            "only on a first page (no `after`) without `status`: the first page of `?status=attention` with the same " +
              "`tenant` and `limit`; its `next` continues with `?status=attention&after=`",
          ),
      }),
      "a page of the sagas",
      z.object({
        Link: z
          .string()
          .optional()
          .describe(
            'RFC 8288: `<…&after=<next>>; rel="next"`, the following page with the same query, when there is one',
          ),
      }),
    ),
    ...problems("admin", 400),
  },
});

sagaAdminRoutes.openapi(listRoute, async (c) => {
  const { status, tenant, limit, after } = c.req.valid("query");
  const db: Db = drizzle(c.env.DB);
  const page = await listSagas(db, {
    status,
    tenant,
    limit: Number(limit ?? 100),
    // The router has checked the cursor.
    after: after === undefined ? undefined : sagaCursorPosition(after, tenant),
  });
  if (page.next === null) return c.json(page, 200);
  return c.json(page, 200, { link: nextLink(new URL(c.req.url), page.next) });
});

const showRoute = createRoute({
  method: "get",
  path: "/sagas/{id}",
  operationId: "admin.sagas.show",
  summary: "one saga with its log",
  tags: ["sagas"],
  security: security("admin"),
  request: { params: z.object({ id: sagaId }) },
  responses: { 200: json(anyObject, "the saga"), ...problems("admin", 400, 404) },
});

sagaAdminRoutes.openapi(showRoute, async (c) => {
  const { id } = c.req.valid("param");
  const view = await sagaStub(c.env, id).inspect();
  if (!view) throw fail("not-found", `no saga ${id}`);
  return c.json(view, 200);
});

for (const action of ["retry", "compensate"] as const) {
  const route = createRoute({
    method: "post",
    path: `/sagas/{id}/${action}`,
    operationId: `admin.sagas.${action}`,
    summary: action === "retry" ? "retry a stuck saga's current step" : "compensate a stuck saga",
    description:
      "409 when refused, its `code` saying why: `wrong-status` (retry needs a saga in attention; compensate a " +
      "running one or one in attention), `past-pivot` (compensate past the point of no return), " +
      "`escalates-again` (acting would stop the saga again at once: a task key needs the corrected definition, a " +
      "refused compensation an entity type or service contract that takes it, deployed first).",
    tags: ["sagas"],
    security: security("admin"),
    request: { params: z.object({ id: sagaId }) },
    responses: { 202: json(anyObject, "the saga"), ...problems("admin", 400, 404, 409) },
  });
  sagaAdminRoutes.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const stub = sagaStub(c.env, id);
    const outcome = action === "retry" ? await stub.retry(OPERATOR_ACTOR) : await stub.compensate(OPERATOR_ACTOR);
    return c.json(operatorAnswer(id, action, outcome), 202);
  });
}

const resolveRoute = createRoute({
  method: "post",
  path: "/sagas/{id}/resolve",
  operationId: "admin.sagas.resolve",
  summary: "declare a stuck compensation done by hand",
  description:
    "For a saga that needs attention because a compensation could not run (refused by its entity or service, or " +
    "failing on every attempt): the operator undid that step outside the saga, and the saga resumes its " +
    "compensation. 409 `not-pending` unless `task` names a task whose compensation stopped the saga.",
  tags: ["sagas"],
  security: security("admin"),
  middleware: [strictJsonBody()] as const,
  request: {
    params: z.object({ id: sagaId }),
    body: jsonBody(
      z.object({ task: z.string().min(1).max(MAX_TASK_KEY_CHARS).meta({ description: "the task's key" }) }).strict(),
    ),
  },
  responses: { 202: json(anyObject, "the saga"), ...problems("admin", 400, 404, 409, 413, 415) },
});

sagaAdminRoutes.openapi(resolveRoute, async (c) => {
  const { id } = c.req.valid("param");
  const { task } = c.req.valid("json");
  return c.json(operatorAnswer(id, "resolve", await sagaStub(c.env, id).resolve(task, OPERATOR_ACTOR)), 202);
});

/** The saga an operator's action was accepted for; throws 404 for no saga, 409 with the refusal's `code`. */
function operatorAnswer(id: string, action: OperatorAction, outcome: OperatorOutcome | null) {
  if (!outcome) throw fail("not-found", `no saga ${id}`);
  if (!outcome.ok) throw fail("conflict", describeRefusal(action, outcome.refusal), { code: outcome.refusal.type });
  return outcome.view;
}

const breakersRoute = createRoute({
  method: "get",
  path: "/breakers",
  operationId: "admin.breakers",
  summary: "circuit breakers and their state",
  tags: ["sagas"],
  security: security("admin"),
  responses: { 200: json(z.object({ items: z.array(anyObject) }), "the breakers"), ...problems("admin") },
});

sagaAdminRoutes.openapi(breakersRoute, async (c) => {
  const db: Db = drizzle(c.env.DB);
  const rows = await db
    .select({ name: circuitBreakers.name })
    .from(circuitBreakers)
    .orderBy(circuitBreakers.name)
    .limit(500);
  // D1 lists which breakers exist; each one's own object holds its current state and facts.
  const items = await Promise.all(rows.map((r) => breakerFor(c.env, r.name).inspect(r.name)));
  return c.json({ items }, 200);
});
