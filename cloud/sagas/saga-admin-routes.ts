// The supervisor's side of the admin API: sagas (list by status, inspect, retry, force
// compensation) and circuit breakers (state and transition facts). Mounted under /admin, behind
// the admin token; each route declared once (`createRoute`).
import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import { tenantIdSchema } from "../../src/core/protocol/identifiers.js";
import { countQuery, json, problems, routeTable, security } from "../../src/core/http/openapi.js";
import { fail } from "../../src/core/http/problem.js";
import type { CloudEnv } from "../app.js";
import { breakerFor } from "./guarded-call.js";
import type { Db } from "../../src/core/model/projection.js";
import { describeRefusal } from "../../src/core/model/saga.js";
import { sagaStub } from "../stubs.js";
import { circuitBreakers, sagaInstances } from "../schema.js";

const sagaStatus = z.enum(["running", "compensating", "completed", "compensated", "attention"], {
  error: "status must be running, compensating, completed, compensated or attention",
});
const sagaId = z
  .string()
  .regex(/^[a-z0-9-]{1,40}:[a-z0-9-]{1,40}:[A-Za-z0-9._~-]{1,128}$/, "a saga id is tenant:saga:instance")
  .describe("tenant:saga:instance");
// Shapes the saga host and breaker objects define (SagaView, BreakerView): objects, described there.
const anyObject = z.unknown().meta({ type: "object" });

export const sagaAdminRoutes = routeTable<CloudEnv>();

const listRoute = createRoute({
  method: "get",
  path: "/sagas",
  operationId: "admin.sagas.list",
  summary: "sagas, those needing attention first",
  tags: ["sagas"],
  security: security("admin"),
  request: {
    query: z.object({
      status: sagaStatus.optional(),
      tenant: tenantIdSchema.optional(),
      limit: countQuery("limit", 1, 500, 100),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(anyObject) }), "the sagas"), ...problems("admin", 400) },
});

sagaAdminRoutes.openapi(listRoute, async (c) => {
  const { status, tenant, limit } = c.req.valid("query");
  const where: SQL[] = [];
  if (status) where.push(eq(sagaInstances.status, status));
  if (tenant) where.push(eq(sagaInstances.tenantId, tenant));
  const db: Db = drizzle(c.env.DB);
  const items = await db
    .select()
    .from(sagaInstances)
    .where(and(...where))
    .orderBy(desc(sagaInstances.updatedAt))
    .limit(Number(limit ?? 100));
  return c.json({ items }, 200);
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
      "`escalates-again` (acting would stop the saga again at once: its definition needs fixing first).",
    tags: ["sagas"],
    security: security("admin"),
    request: { params: z.object({ id: sagaId }) },
    responses: { 202: json(anyObject, "the saga"), ...problems("admin", 400, 404, 409) },
  });
  sagaAdminRoutes.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const stub = sagaStub(c.env, id);
    const outcome = action === "retry" ? await stub.retry() : await stub.compensate();
    if (!outcome) throw fail("not-found", `no saga ${id}`);
    if (!outcome.ok) throw fail("conflict", describeRefusal(action, outcome.refusal), { code: outcome.refusal.type });
    return c.json(outcome.view, 202);
  });
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
