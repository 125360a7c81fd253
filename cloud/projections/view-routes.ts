// The tenant API for read models: `GET /v1/views/{view}` and `/v1/views/{view}/{key}`, served
// from D1. A request presenting a command's consistency token gets data that includes that
// write, waiting briefly if needed, or an explicit `Factline-Stale: true`; never silently stale.
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { decodeConsistencyToken } from "../../src/core/protocol/consistency-token.js";
import { entityIdSchema } from "../../src/core/protocol/identifiers.js";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import { activeGeneration } from "./generations.js";
import type { Db, Projection } from "../../src/core/model/projection.js";
import { projectionNamed, servingApp, type CloudApp, type CloudEnv } from "../app.js";
import { appliedInActive, CONSISTENCY_WAIT, probeDelays, waitUntilApplied } from "./read-your-writes.js";

type AppContext = Context<CloudEnv>;

const DELAYS = probeDelays(CONSISTENCY_WAIT.firstMs, CONSISTENCY_WAIT.totalMs);
const MAX_LIST = 500;

/** The view routes of `app`'s projections (mounted at `/v1/views`, behind tenant auth). */
export function viewRoutes(app: CloudApp): Hono<CloudEnv> {
  return servingApp(app, routes);
}

const routes = new Hono<CloudEnv>();

routes.get("/:view", async (c) => {
  const projection = projectionNamed(c.var.app, c.req.param("view"));
  if (!projection) return problemResponse(problem("not-found", `no view ${c.req.param("view")}`));
  const query = listQuery(new URL(c.req.url).searchParams);
  const limit = query.get("limit") ?? "100";
  query.delete("limit");
  if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIST) {
    return problemResponse(problem("malformed-request", `limit must be between 1 and ${MAX_LIST}`));
  }
  // Only the projection's own filters: `?constructor=` or `?__proto__=` are unknown like any other.
  const unknown = [...query.keys()].filter((f) => !Object.hasOwn(projection.filters, f));
  if (unknown.length > 0) {
    return problemResponse(
      problem("validation-failed", `unknown filter ${unknown.join(", ")}`, {
        errors: unknown.map((path) => ({ path, message: `filters are: ${Object.keys(projection.filters).join(", ") || "none"}` })),
      }),
    );
  }
  // A value no row can have (a customer id outside the id grammar, a status that does not exist)
  // is the client's mistake, answered as such rather than with an empty list.
  const invalid = [...query].flatMap(([name, value]) => {
    const parsed = projection.filters[name]?.safeParse(value);
    return parsed && !parsed.success ? [{ path: name, message: parsed.error.issues[0]?.message ?? "invalid" }] : [];
  });
  if (invalid.length > 0) {
    return problemResponse(problem("validation-failed", `invalid filter ${invalid.map((e) => e.path).join(", ")}`, { errors: invalid }));
  }
  const db: Db = drizzle(c.env.DB);
  const read = await consistentRead(c, db, projection);
  if (read instanceof Response) return read;
  const items = await projection.list(db, read.scope, Object.fromEntries(query), Number(limit));
  return c.json({ items }, 200, read.headers);
});

routes.get("/:view/:key", async (c) => {
  const projection = projectionNamed(c.var.app, c.req.param("view"));
  if (!projection) return problemResponse(problem("not-found", `no view ${c.req.param("view")}`));
  // Views are keyed by entity ids: a key no entity can have is malformed, not merely absent.
  if (!entityIdSchema.safeParse(c.req.param("key")).success) {
    return problemResponse(problem("malformed-request", "a view key is an entity id: 1-128 of A-Z a-z 0-9 . _ ~ - (not '.' or '..')"));
  }
  const db: Db = drizzle(c.env.DB);
  const read = await consistentRead(c, db, projection);
  if (read instanceof Response) return read;
  const row = await projection.get(db, read.scope, c.req.param("key"));
  if (row === undefined) {
    return problemResponse(problem("not-found", `no ${projection.name} row ${c.req.param("key")}`), read.headers);
  }
  return c.json(row, 200, read.headers);
});

/**
 * The query string as a Map, first value of each name (as Hono's `query()`), read from the URL
 * itself: an object built by assignment would drop `__proto__` silently instead of refusing it.
 */
function listQuery(params: URLSearchParams): Map<string, string> {
  const query = new Map<string, string>();
  for (const [name, value] of params) if (!query.has(name)) query.set(name, value);
  return query;
}

/**
 * The scope to read `projection` in, and its headers (`factline-stale` when the token's write is
 * still missing after waiting); or the refusal of a token this tenant was not given. The probes
 * read the active generation along with the checkpoint, so a token read looks it up only once.
 */
async function consistentRead(
  c: AppContext,
  db: Db,
  projection: Projection,
): Promise<Response | { scope: { tenant: string; generation: number }; headers: Record<string, string> }> {
  const tenant = c.var.tenant;
  const token = c.req.header("factline-consistency");
  const point = token === undefined ? undefined : decodeConsistencyToken(token);
  if (token !== undefined && (!point || point.tenant !== tenant)) {
    return problemResponse(problem("malformed-request", "Factline-Consistency is not a token this tenant was given"));
  }
  if (!point || !projection.follows.includes(point.entityType)) {
    return { scope: { tenant, generation: await activeGeneration(db, projection.name, tenant) }, headers: {} };
  }
  const at = { projection: projection.name, tenant: point.tenant, entityType: point.entityType, entityId: point.entityId };
  let generation = 0;
  const fresh = await waitUntilApplied(
    async () => {
      const applied = await appliedInActive(db, at);
      generation = applied.generation;
      return applied.seq >= point.seq;
    },
    DELAYS,
    (ms) => scheduler.wait(ms),
  );
  return { scope: { tenant, generation }, headers: fresh ? {} : { "factline-stale": "true" } };
}
