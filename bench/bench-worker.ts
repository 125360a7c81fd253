// The benchmark's Worker (bench/wrangler.bench.toml; never deployed). It serves everything the
// production Worker serves, unchanged, and adds under /bench/ the baselines the figures are
// compared with and the controls the harness needs (seeding, forced cold starts, synthetic facts,
// applied counts). Baseline command routes are mounted on production's app under /v1/bench, so
// every command path runs the same middleware.
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { recordHeads } from "../cloud/consumer/entity-heads.js";
import { readFromEntity } from "../cloud/consumer/entity-reader.js";
import { toCloudEvent, type FactCloudEvent } from "../src/core/protocol/cloud-event.js";
import type { EntityAddress } from "../src/core/protocol/entity-protocol.js";
import { encodeHlc, HLC_ZERO, tick } from "../src/core/protocol/hlc.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { commandsInFlight, isolateCommands } from "../edge/entity/entity-routes.js";
import { hostConfig } from "../src/core/runtime/config.js";
import type { RequestScope } from "../src/core/http/request-scope.js";
import { adminTokenRefusal } from "../src/core/security/admin-token.js";
import production, { app } from "../worker.js";
import { bareWakes, type BareLog } from "./worker/bare-log.js";
import { entityWakes, type EntityActor } from "./worker/bench-entity-actor.js";
import type { CrudState } from "./worker/crud-state.js";
import type { DurableStreamHost } from "./worker/bench-stream-host.js";
import { streamObjectName } from "../edge/streams/stream-names.js";
import { consumeNaively, naivelyApplied } from "./worker/naive-consumer.js";
import { rowsWritten } from "./worker/rows-written.js";
import { DISPATCH_PATH, FLOOR_PATH, TIMING_HEADER, WORKER_METRIC, type DispatchRequest } from "./worker-timing.js";

export * from "../worker.js";
export { EntityActor } from "./worker/bench-entity-actor.js";
export { BareLog } from "./worker/bare-log.js";
export { CrudState } from "./worker/crud-state.js";
export { DurableStreamHost } from "./worker/bench-stream-host.js";

interface BenchEnv extends Omit<Env, "ENTITY" | "DURABLE_STREAMS"> {
  ENTITY: DurableObjectNamespace<EntityActor>;
  DURABLE_STREAMS: DurableObjectNamespace<DurableStreamHost>;
  BARE: DurableObjectNamespace<BareLog>;
  CRUD: DurableObjectNamespace<CrudState>;
  NAIVE_FACTS: Queue<FactCloudEvent>;
}

const NAIVE_QUEUE = "factline-bench-naive";
const SENT_ROWS_QUEUE = "factline-bench-sent-rows";
const FACTS_QUEUE = "factline-facts";
const SEND_BATCH = 100;

const bench = new Hono<{ Bindings: BenchEnv; Variables: RequestScope }>();
// The controls answer the admin token only, checked as the admin API checks it (constant time,
// wrong tokens counted in the per-client failure limit): the bench Worker serves production too.
bench.use("/bench/control/*", async (c, next) => {
  const refused = await adminTokenRefusal(c.req.raw, c.env.ADMIN_TOKEN, c.env.AUTH_FAILURES);
  if (refused) return refused;
  await next();
});

// The baselines are mounted on production's app under /v1/bench, so a baseline request takes the
// same HTTP path as a command: every middleware (security headers, request id and trace, metrics,
// CORS, tenant auth and gate) runs for it; only the handler and its object differ.
const baselines = new Hono<{ Bindings: BenchEnv; Variables: RequestScope }>();

baselines.post("/bare/:type/:id/commands/:command", async (c) => {
  const body = await c.req.text();
  if (!isJson(body)) return c.json({ error: "the body must be JSON" }, 400);
  const stub = c.env.BARE.get(
    c.env.BARE.idFromName(entityObjectName(c.var.tenant, c.req.param("type"), c.req.param("id"))),
  );
  const version = await stub.append(body);
  return c.json({ type: c.req.param("type"), id: c.req.param("id"), version }, 200, { etag: `"${version}"` });
});

baselines.get("/bare/:type/:id", async (c) => {
  const stub = c.env.BARE.get(
    c.env.BARE.idFromName(entityObjectName(c.var.tenant, c.req.param("type"), c.req.param("id"))),
  );
  return c.json({ type: c.req.param("type"), id: c.req.param("id"), version: await stub.count() });
});

// The catch-up baseline: the bare object's rows after `after`, up to 1 MiB (a stream read's bound), as one body.
baselines.get("/bare/:type/:id/read", async (c) => {
  const stub = c.env.BARE.get(
    c.env.BARE.idFromName(entityObjectName(c.var.tenant, c.req.param("type"), c.req.param("id"))),
  );
  const { body, last } = await stub.read(Number(c.req.query("after") ?? "0"), 1024 * 1024);
  return c.body(body, 200, { "content-type": "application/octet-stream", "x-next": String(last) });
});

const restock = z.object({ quantity: z.number().int().positive() }).strict();

baselines.post("/crud/:type/:id/commands/restock", async (c) => {
  const parsed = restock.safeParse(await c.req.json<unknown>().catch(() => undefined));
  if (!parsed.success) return c.json({ error: "the restock command is invalid" }, 400);
  const stub = c.env.CRUD.get(
    c.env.CRUD.idFromName(entityObjectName(c.var.tenant, c.req.param("type"), c.req.param("id"))),
  );
  const item = await stub.restock(parsed.data.quantity);
  return c.json({ type: c.req.param("type"), id: c.req.param("id"), version: item.version, state: item }, 200, {
    etag: `"${item.version}"`,
  });
});

// Production's app is typed with production's Env; the bench Worker passes it the bench's.
app.route("/v1/bench", baselines as unknown as Hono<{ Bindings: Env; Variables: RequestScope }>);

const seedSchema = z.object({
  kind: z.enum(["entity", "bare"]),
  tenant: z.string().min(1),
  id: z.string().min(1),
  count: z.number().int().positive().max(200_000),
  snapshots: z.boolean(),
  /** Also record the entity's head in D1 with the consumer's own statement, as if its facts had reached the cloud tier. */
  heads: z.boolean().default(false),
});

bench.post("/bench/control/seed", async (c) => {
  const s = seedSchema.parse(await c.req.json());
  const address: EntityAddress = { tenant: s.tenant, entityType: "inventory", entityId: s.id };
  const name = entityObjectName(s.tenant, "inventory", s.id);
  const seeded =
    s.kind === "entity"
      ? await c.env.ENTITY.get(c.env.ENTITY.idFromName(name)).benchSeed(address, s.count, s.snapshots)
      : await c.env.BARE.get(c.env.BARE.idFromName(name)).seed(s.count, JSON.stringify(sampleFact(address, 1)));
  if (s.heads)
    await drizzle(c.env.DB).batch([
      recordHeads(drizzle(c.env.DB), [{ ...address, seq: seeded, recordedAt: Date.now() }]),
    ]);
  return c.json({ seeded });
});

const streamSeedSchema = z.object({
  tenant: z.string().min(1),
  name: z.string().min(1),
  id: z.string().min(1),
  count: z.number().int().positive().max(200_000),
});

/**
 * Seeds an existing Durable Stream with `count` appends of the very fact the bare seed writes for
 * entity `id` (same bytes, so the catch-up figure and its baseline read the same data).
 */
bench.post("/bench/control/seed-stream", async (c) => {
  const s = streamSeedSchema.parse(await c.req.json());
  const message = JSON.stringify(sampleFact({ tenant: s.tenant, entityType: "inventory", entityId: s.id }, 1));
  const tail = await c.env.DURABLE_STREAMS.getByName(streamObjectName(s.tenant, s.name)).benchSeed(s.count, message);
  return c.json({ tail });
});

const copySchema = z.object({
  tenant: z.string().min(1),
  ids: z.array(z.string().min(1)).min(1).max(1000),
  round: z.number().int().nonnegative(),
});
const COPY_ROWS = 250;
const COPY_PARALLEL = 20;

/**
 * The rebuild's baseline: copies every event of the given inventory entities, read from the
 * entity objects the way a rebuild reads them (20 entities at a time, as a rebuild step does), into
 * a plain D1 table, one row per event and one D1 batch per entity (no projection logic, no
 * checkpoints, no guards).
 */
bench.post("/bench/control/copy", async (c) => {
  const r = copySchema.parse(await c.req.json());
  await c.env.DB.prepare(
    `CREATE TABLE IF NOT EXISTS bench_event_copy (round INTEGER NOT NULL, tenant_id TEXT NOT NULL, entity_id TEXT NOT NULL,
       seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, recorded_at TEXT NOT NULL, PRIMARY KEY (round, tenant_id, entity_id, seq))`,
  ).run();
  const insert = c.env.DB.prepare(
    `INSERT INTO bench_event_copy SELECT ?, ?, ?, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 FROM json_each(?) AS j`,
  );
  let copied = 0;
  const copyOne = async (id: string) => {
    const address: EntityAddress = { tenant: r.tenant, entityType: "inventory", entityId: id };
    const events = await readFromEntity(c.env as unknown as Env, address, 0, Number.MAX_SAFE_INTEGER);
    const statements: D1PreparedStatement[] = [];
    for (let i = 0; i < events.length; i += COPY_ROWS) {
      const rows = events
        .slice(i, i + COPY_ROWS)
        .map((e) => [e.seq, e.type, JSON.stringify(e.data), e.meta.recordedAt]);
      statements.push(insert.bind(r.round, r.tenant, id, JSON.stringify(rows)));
    }
    if (statements.length > 0) await c.env.DB.batch(statements);
    copied += events.length;
  };
  // As many entities at a time as a rebuild step replays.
  for (let i = 0; i < r.ids.length; i += COPY_PARALLEL)
    await Promise.all(r.ids.slice(i, i + COPY_PARALLEL).map(copyOne));
  return c.json({ copied });
});

const abortSchema = z.object({ kind: z.enum(["entity", "bare"]), tenant: z.string().min(1), id: z.string().min(1) });

bench.post("/bench/control/abort", async (c) => {
  const a = abortSchema.parse(await c.req.json());
  const name = entityObjectName(a.tenant, "inventory", a.id);
  // abort() resets the object and fails the call that asked for it: that failure is the success.
  const outcome =
    a.kind === "entity"
      ? await c.env.ENTITY.get(c.env.ENTITY.idFromName(name))
          .benchAbort()
          .then(
            () => "not aborted",
            () => "aborted",
          )
      : await c.env.BARE.get(c.env.BARE.idFromName(name))
          .abort()
          .then(
            () => "not aborted",
            () => "aborted",
          );
  return c.json({ outcome }, outcome === "aborted" ? 200 : 500);
});

// While paused, the facts consumer holds the batch it was given (the local queue keeps the rest)
// until resumed: the "edge alone" rounds measure commands without the cloud tier sharing
// workerd's thread, as it would not in production. The held batch polls the flag: a promise
// resolved by the resuming request would not resume code waiting in another invocation. It polls
// rarely, since up to max_concurrency batches are held at once and their wake-ups are charged to
// the commands of the round: polled every 250 ms, they were 3.8 % of the JavaScript samples in a
// profile of 4,000 commands (12-07); polled every second, too few to show in the same profile.
let paused = false;
const PAUSED_POLL_MS = 1000;

/** Objects started so far in this isolate (wake-ups), for the harness's diagnostics. */
bench.get("/bench/control/wakes", (c) => c.json({ entity: entityWakes(), bare: bareWakes() }));

/** SQLite rows written so far by entity objects and by bare objects in this isolate. */
bench.get("/bench/control/rows-written", (c) => c.json(rowsWritten()));

bench.post("/bench/control/consumer", async (c) => {
  paused = z
    .object({ pause: z.boolean() })
    .strict()
    .parse(await c.req.json()).pause;
  return c.json({ paused });
});

/**
 * Holds (or releases) `places` of an entity's in-flight count in this isolate, as that many
 * commands still waiting on its object would: every command to it is then shed by the production
 * path, so the harness can measure what a shed answer costs on its own.
 */
bench.post("/bench/control/hold-entity", async (c) => {
  const h = z
    .object({
      tenant: z.string().min(1),
      entityType: z.string().min(1),
      entityId: z.string().min(1),
      places: z.number().int().positive().max(100_000),
      hold: z.boolean(),
    })
    .strict()
    .parse(await c.req.json());
  const name = entityObjectName(h.tenant, h.entityType, h.entityId);
  for (let i = 0; i < h.places; i++) {
    if (h.hold) commandsInFlight.tryEnter(name, Number.MAX_SAFE_INTEGER);
    else commandsInFlight.leave(name);
  }
  return c.json({ inFlight: commandsInFlight.count(name) });
});

/** The isolate's adaptive command limit, what it has in flight now, and each entity's cap (ENTITY_MAX_IN_FLIGHT). */
bench.get("/bench/control/command-limit", (c) =>
  c.json({
    limit: isolateCommands.limit,
    inFlight: isolateCommands.inFlight,
    entityCap: hostConfig(c.env, "edge").entityMaxInFlight,
  }),
);

const factsSchema = z.object({
  queue: z.enum(["factline", "naive"]),
  tenant: z.string().min(1),
  entities: z.number().int().positive().max(1000),
  fromSeq: z.number().int().positive(),
  toSeq: z.number().int().positive(),
});

/**
 * Sends synthetic Restocked facts, seq-major (fromSeq of every entity, then the next seq…), so
 * each queue batch mixes many entities: neither consumer gets facts pre-grouped for it.
 */
bench.post("/bench/control/facts", async (c) => {
  const f = factsSchema.parse(await c.req.json());
  const queue = f.queue === "naive" ? c.env.NAIVE_FACTS : (c.env.FACTS as Queue<FactCloudEvent>);
  let batch: FactCloudEvent[] = [];
  let sent = 0;
  for (let seq = f.fromSeq; seq <= f.toSeq; seq++) {
    for (let e = 0; e < f.entities; e++) {
      batch.push(toCloudEvent(sampleFact({ tenant: f.tenant, entityType: "inventory", entityId: `sku-${e}` }, seq)));
      if (batch.length === SEND_BATCH) {
        await queue.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
        sent += batch.length;
        batch = [];
      }
    }
  }
  if (batch.length > 0) {
    await queue.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
    sent += batch.length;
  }
  return c.json({ sent });
});

/**
 * Facts applied for a tenant: Factline's from its checkpoints in D1 (the sum of per-entity
 * positions; `tenant` may list several, comma-separated, for their sum); the naive consumer's from
 * its in-isolate count (it has no checkpoints, and it writes each fact before counting it).
 */
bench.get("/bench/control/applied", async (c) => {
  const tenant = c.req.query("tenant") ?? "";
  if (c.req.query("consumer") === "naive") return c.json({ applied: naivelyApplied(tenant) });
  const row = await c.env.DB.prepare(
    "SELECT coalesce(sum(seq), 0) AS n FROM projection_checkpoints WHERE tenant_id IN (SELECT value FROM json_each(?)) AND projection = 'inventory'",
  )
    .bind(JSON.stringify(tenant.split(",")))
    .first<{ n: number }>();
  return c.json({ applied: row?.n ?? 0 });
});

function sampleFact(address: EntityAddress, seq: number) {
  const now = Date.now();
  return {
    seq,
    type: "Restocked",
    schemaVersion: 2,
    data: { quantity: 1, source: "bench" },
    meta: {
      eventId: crypto.randomUUID(),
      ...address,
      hlc: encodeHlc(tick(HLC_ZERO, now)),
      recordedAt: new Date(now).toISOString(),
      correlationId: crypto.randomUUID(),
      causationId: null,
      idempotencyKey: null,
      traceparent: null,
    },
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const SUBSTRATE_PATH = /^\/substrate(-send)?\/([^/]+)\/([^/]+)\/([^/]+)\/commands\/[^/]+$/;

/**
 * The headline baseline: the substrate itself. A Worker that hands the body to a SQLite Durable
 * Object inserting one row, with no router, middleware, authentication or validation beyond
 * "is it JSON" — what a user would write without Factline. Not mounted on production's app.
 * Under /substrate-send/ the object also puts each row on a queue after its commit: the floor of
 * any outbox on this substrate.
 */
async function substrate(request: Request, env: BenchEnv, match: RegExpExecArray): Promise<Response> {
  const body = await request.text();
  if (!isJson(body))
    return new Response('{"error":"the body must be JSON"}', {
      status: 400,
      headers: { "content-type": "application/json" },
    });
  // The object the bare route behind the middleware uses for the same tenant, type and id.
  const [, send, tenant = "", type = "", id = ""] = match;
  const stub = env.BARE.get(env.BARE.idFromName(entityObjectName(tenant, type, id)));
  const version = await (send ? stub.appendAndSend(body) : stub.append(body));
  return new Response(JSON.stringify({ type, id, version }), {
    headers: { "content-type": "application/json", etag: `"${version}"` },
  });
}

/**
 * Adds a W3C Server-Timing entry `worker;dur=<ms>` (WORKER_METRIC) to the answer: from the
 * request reaching the Worker's JavaScript to its answer's headers. workerd's clock moves only on I/O, so this is the
 * time spent waiting on the objects and bindings the request called (where the Worker's admission
 * can act), not the wait before the request reached the Worker (wrangler's proxy, sockets). Only
 * for requests carrying `TIMING_HEADER`, so other phases' figures pay nothing for it.
 */
async function workerTimed(answer: () => Response | Promise<Response>): Promise<Response> {
  const started = performance.now();
  const response = await answer();
  const timed = new Response(response.body, response);
  timed.headers.append("server-timing", `${WORKER_METRIC};dur=${(performance.now() - started).toFixed(2)}`);
  return timed;
}

const utf8 = new TextEncoder();
const dispatchSchema = z
  .object({
    method: z.enum(["GET", "POST"]),
    path: z.string().startsWith("/"),
    headers: z.record(z.string(), z.string()),
    body: z.string().optional(),
    count: z.number().int().positive().max(100_000),
  })
  .strict() satisfies z.ZodType<DispatchRequest & { count: number }>;

/**
 * Hands `count` copies of one request to the bench Worker's own entry, one after another, inside
 * the isolate, and answers how many got each status. The harness reads workerd's CPU around the
 * call: with one HTTP request for all the copies, that is what each answer costs the Worker without
 * the HTTP transport (wrangler's proxy, workerd's parsing and writing of requests and answers),
 * which in production is Cloudflare's front line rather than the Worker's CPU. Outside Hono, so
 * the copies get the runtime's own ExecutionContext.
 */
async function dispatch(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
  const refused = await adminTokenRefusal(request, env.ADMIN_TOKEN, env.AUTH_FAILURES);
  if (refused) return refused;
  const d = dispatchSchema.parse(await request.json());
  const statuses: Record<string, number> = {};
  for (let i = 0; i < d.count; i++) {
    // With its Content-Length, as an HTTP client sends a body it holds whole.
    const length: Record<string, string> =
      d.body === undefined ? {} : { "content-length": String(utf8.encode(d.body).byteLength) };
    const copy = new Request(`http://127.0.0.1${d.path}`, {
      method: d.method,
      headers: { ...d.headers, ...length },
      body: d.body ?? null,
    });
    const answer = await serve(copy, env, ctx);
    await answer.arrayBuffer();
    statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
  }
  return Response.json({ statuses });
}

/** The bench Worker's entry (and, in-isolate, /bench/control/dispatch's). */
function serve(request: Request, env: BenchEnv, ctx: ExecutionContext): Response | Promise<Response> {
  const path = new URL(request.url).pathname;
  // The overload phase's transport floor: what a shed answer costs beyond it is the Worker's code.
  if (path === FLOOR_PATH) return new Response(null, { status: 204 });
  const bare = request.method === "POST" ? SUBSTRATE_PATH.exec(path) : null;
  if (bare) return substrate(request, env, bare);
  if (path === DISPATCH_PATH && request.method === "POST") return dispatch(request, env, ctx);
  if (path.startsWith("/bench/")) return bench.fetch(request, env, ctx);
  const answer = () => production.fetch(request, env as unknown as Env, ctx);
  return request.headers.has(TIMING_HEADER) ? workerTimed(answer) : answer();
}

export default {
  fetch: serve,
  async queue(batch, env, ctx) {
    if (batch.queue === NAIVE_QUEUE) return consumeNaively(batch, env.DB);
    // The outbox floor's rows: acknowledged as delivered, nothing applied.
    if (batch.queue === SENT_ROWS_QUEUE) return;
    while (paused && batch.queue === FACTS_QUEUE) await scheduler.wait(PAUSED_POLL_MS);
    await production.queue(batch, env as unknown as Env, ctx);
  },
} satisfies ExportedHandler<BenchEnv>;
