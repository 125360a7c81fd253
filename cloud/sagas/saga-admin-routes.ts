// The supervisor's side of the admin API: sagas (list by status, inspect, retry, force
// compensation) and circuit breakers (state and transition facts). Mounted under /admin, behind
// the admin token.
import { and, desc, eq, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { fieldErrors } from "../../src/core/model/entity.js";
import { tenantIdSchema } from "../../src/core/protocol/identifiers.js";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { breakerFor } from "./guarded-call.js";
import type { Db } from "../../src/core/model/projection.js";
import { sagaStub } from "../stubs.js";
import { circuitBreakers, sagaInstances } from "../schema.js";

const sagaStatus = z.enum(["running", "compensating", "completed", "compensated", "attention"]);
const listQuery = z.object({
  status: sagaStatus.optional(),
  tenant: tenantIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const SAGA_ID = /^[a-z0-9-]{1,40}:[a-z0-9-]{1,40}:[A-Za-z0-9._~-]{1,128}$/;

export const sagaAdminRoutes = new Hono<{ Bindings: Env; Variables: RequestScope }>();

sagaAdminRoutes.get("/sagas", async (c) => {
  const parsed = listQuery.safeParse(c.req.query());
  if (!parsed.success) return problemResponse(problem("validation-failed", "the query is invalid", { errors: fieldErrors(parsed.error) }));
  const { status, tenant, limit } = parsed.data;
  const where: SQL[] = [];
  if (status) where.push(eq(sagaInstances.status, status));
  if (tenant) where.push(eq(sagaInstances.tenantId, tenant));
  const db: Db = drizzle(c.env.DB);
  const items = await db.select().from(sagaInstances).where(and(...where)).orderBy(desc(sagaInstances.updatedAt)).limit(limit);
  return c.json({ items });
});

sagaAdminRoutes.get("/sagas/:id", async (c) => {
  const id = c.req.param("id");
  if (!SAGA_ID.test(id)) return problemResponse(problem("malformed-request", "a saga id is tenant:saga:instance"));
  const view = await sagaStub(c.env, id).inspect();
  return view ? c.json(view) : problemResponse(problem("not-found", `no saga ${id}`));
});

for (const action of ["retry", "compensate"] as const) {
  sagaAdminRoutes.post(`/sagas/:id/${action}`, async (c) => {
    const id = c.req.param("id");
    if (!SAGA_ID.test(id)) return problemResponse(problem("malformed-request", "a saga id is tenant:saga:instance"));
    const stub = sagaStub(c.env, id);
    const outcome = action === "retry" ? await stub.retry() : await stub.compensate();
    if (!outcome) return problemResponse(problem("not-found", `no saga ${id}`));
    if (!outcome.ok) return problemResponse(problem("conflict", `cannot ${action} a saga that is ${outcome.status}`));
    return c.json(outcome.view, 202);
  });
}

sagaAdminRoutes.get("/breakers", async (c) => {
  const db: Db = drizzle(c.env.DB);
  const rows = await db.select({ name: circuitBreakers.name }).from(circuitBreakers).orderBy(circuitBreakers.name).limit(500);
  // D1 lists which breakers exist; each one's own object holds its current state and facts.
  const items = await Promise.all(rows.map((r) => breakerFor(c.env, r.name).inspect(r.name)));
  return c.json({ items });
});
