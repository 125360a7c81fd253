// The tenant API for read models: `GET /v1/views/{view}` and `/v1/views/{view}/{key}` for each of
// the app's projections, declared once (`createRoute`) with the projection's own filters, served
// from D1, a list in keyset pages (view-page.ts). A request presenting a command's consistency
// token gets data that includes that write, waiting briefly if needed, or an explicit
// `Factline-Stale: true`; never silently stale.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import { z } from "zod";
import { decodeConsistencyToken } from "../../src/core/protocol/consistency-token.js";
import { entityIdSchema } from "../../src/core/protocol/identifiers.js";
import { countQuery, json, problems, security } from "../../src/core/http/openapi.js";
import { fail } from "../../src/core/http/problem.js";
import { activeGeneration } from "./generations.js";
import { ownValue } from "../../src/core/model/own-keys.js";
import type { Db, Projection } from "../../src/core/model/projection.js";
import { servingApp, type CloudApp, type CloudEnv } from "../app.js";
import { routeTable } from "../../src/core/http/openapi.js";
import { appliedInActive, CONSISTENCY_WAIT, probeDelays, waitUntilApplied } from "./read-your-writes.js";
import { cursorKey, nextLink, viewPage } from "./view-page.js";

type AppContext = Context<CloudEnv>;

const DELAYS = probeDelays(CONSISTENCY_WAIT.firstMs, CONSISTENCY_WAIT.totalMs);
const MAX_LIST = 500;
const DEFAULT_LIST = 100;
/** Query parameters of every list, so no projection may name a filter after them. */
const PAGING: readonly string[] = ["limit", "after"];

const consistencyHeader = z.object({
  "factline-consistency": z
    .string()
    .optional()
    .describe("a command's consistency token: the answer reflects that write, or says Factline-Stale: true"),
});
const staleHeader = z.object({
  "Factline-Stale": z
    .literal("true")
    .optional()
    .describe("present when a view could not yet reflect a presented token"),
});
// A row is the projection's own shape (its `get`/`list` answer it), one JSON object.
const viewRow = z.unknown().describe("a row of the view, as the projection defines it");
const limitQuery = countQuery("limit", 1, MAX_LIST, DEFAULT_LIST);
const afterQuery = z
  .string()
  .refine((cursor) => cursorKey(cursor) !== undefined, "after is not a cursor this list gave (a page's next)")
  .optional()
  .describe("the `next` of the previous page (opaque): the rows after it, with the same filters");
const listPage = z.object({
  items: z.array(viewRow).describe("rows in ascending order of their key"),
  next: z
    .string()
    .nullable()
    .describe("the cursor of the following page, for ?after=; null when this page is the last"),
});
const listHeaders = staleHeader.extend({
  Link: z
    .string()
    .optional()
    .describe('RFC 8288: `<…&after=<next>>; rel="next"`, the following page with the same query, when there is one'),
});

/** The view routes of `app`'s projections (mounted at `/v1/views`, behind tenant auth): a list and a key read each. */
export function viewRoutes(app: CloudApp): OpenAPIHono<CloudEnv> {
  const routes = routeTable<CloudEnv>();
  for (const projection of app.projections) projectionRoutes(routes, projection);
  return servingApp(app, routes);
}

function projectionRoutes(routes: OpenAPIHono<CloudEnv>, projection: Projection): void {
  const clash = PAGING.filter((name) => Object.hasOwn(projection.filters, name));
  if (clash.length > 0) throw new Error(`${projection.name}: a filter may not be named ${clash.join(", ")}`);
  const filters = Object.fromEntries(
    Object.entries(projection.filters).map(([name, schema]) => [
      name,
      schema.optional().describe(schema.description ?? name),
    ]),
  );
  const list = createRoute({
    method: "get",
    path: `/${projection.name}`,
    operationId: `views.${projection.name}.list`,
    summary: `list the ${projection.name} view`,
    tags: ["views"],
    security: security("tenant"),
    request: { headers: consistencyHeader, query: z.object({ limit: limitQuery, after: afterQuery, ...filters }) },
    responses: {
      200: json(listPage, "a page of the rows", listHeaders),
      ...problems("tenant", 400, 404),
    },
  });
  routes.openapi(list, async (c) => {
    const url = new URL(c.req.url);
    const query = listQuery(url.searchParams);
    const limit = Number(query.get("limit") ?? DEFAULT_LIST);
    const cursor = query.get("after");
    for (const name of PAGING) query.delete(name);
    // Only the projection's own filters: `?constructor=` or `?__proto__=` are unknown like any other.
    const unknown = [...query.keys()].filter((f) => !Object.hasOwn(projection.filters, f));
    if (unknown.length > 0) {
      throw fail("validation-failed", `unknown filter ${unknown.join(", ")}`, {
        errors: unknown.map((path) => ({
          path,
          message: `filters are: ${Object.keys(projection.filters).join(", ") || "none"}`,
        })),
      });
    }
    const db: Db = drizzle(c.env.DB);
    const read = await consistentRead(c, db, projection);
    // The router has checked the cursor; the scope is the caller's tenant whatever key it names.
    const after = cursor === undefined ? undefined : cursorKey(cursor);
    // Each filter given (only declared ones are left in `query` by now), as its schema parsed it:
    // a transform's output, not the URL's text.
    const parsed: Readonly<Record<string, unknown>> = c.req.valid("query");
    const filters = [...query.keys()].flatMap((name) => {
      const value = ownValue(parsed, name);
      return typeof value === "string" ? [[name, value] as const] : [];
    });
    const rows = await projection.list(db, read.scope, Object.fromEntries(filters), limit + 1, after);
    const page = viewPage(rows, limit, projection.key, after);
    const headers = page.next === null ? read.headers : { ...read.headers, link: nextLink(url, page.next) };
    return c.json(page, 200, headers);
  });

  const one = createRoute({
    method: "get",
    path: `/${projection.name}/{key}`,
    operationId: `views.${projection.name}.get`,
    summary: `one row of the ${projection.name} view`,
    tags: ["views"],
    security: security("tenant"),
    request: {
      // Views are keyed by entity ids: a key no entity can have is malformed, not merely absent.
      params: z.object({ key: entityIdSchema.describe("the entity id the row is keyed by") }),
      headers: consistencyHeader,
    },
    responses: {
      200: json(viewRow, "the row", staleHeader),
      ...problems("tenant", 400, 404),
    },
  });
  routes.openapi(one, async (c) => {
    const { key } = c.req.valid("param");
    const db: Db = drizzle(c.env.DB);
    const read = await consistentRead(c, db, projection);
    const row = await projection.get(db, read.scope, key);
    if (row === undefined) throw fail("not-found", `no ${projection.name} row ${key}`, {}, read.headers);
    return c.json(row, 200, read.headers);
  });
}

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
 * still missing after waiting). Throws the refusal of a token this tenant was not given. The probes
 * read the active generation along with the checkpoint, so a token read looks it up only once.
 */
async function consistentRead(
  c: AppContext,
  db: Db,
  projection: Projection,
): Promise<{ scope: { tenant: string; generation: number }; headers: Record<string, string> }> {
  const tenant = c.get("tenant");
  const token = c.req.header("factline-consistency");
  const point = token === undefined ? undefined : decodeConsistencyToken(token);
  if (token !== undefined && (!point || point.tenant !== tenant)) {
    throw fail("malformed-request", "Factline-Consistency is not a token this tenant was given");
  }
  if (!point || !projection.follows.includes(point.entityType)) {
    return { scope: { tenant, generation: await activeGeneration(db, projection.name, tenant) }, headers: {} };
  }
  const at = {
    projection: projection.name,
    tenant: point.tenant,
    entityType: point.entityType,
    entityId: point.entityId,
  };
  let generation = 0;
  const fresh = await waitUntilApplied(
    async () => {
      const applied = await appliedInActive(db, at);
      generation = applied.generation;
      return applied.seq >= point.seq;
    },
    DELAYS,
    { sleep: (ms) => scheduler.wait(ms), now: () => Date.now() },
  );
  return { scope: { tenant, generation }, headers: fresh ? {} : { "factline-stale": "true" } };
}
