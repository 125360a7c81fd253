// The browser suite's Worker (local-platform.ts runs it under `wrangler dev` with production's own
// wrangler.toml; never deployed). It serves everything the production Worker serves, unchanged,
// and adds one admin-guarded control: make the real facts consumer fail on one entity's facts,
// through the fault-injection seam, until told to stop. The seam is module state, so only code in
// the Worker's own isolate can arm it; a browser test cannot reach it any other way.
import { Hono } from "hono";
import { z } from "zod";
import { armFault, InjectedFault, type FaultContext } from "../../../src/core/resilience/fault-injection.js";
import { problem, problemResponse } from "../../../src/core/http/problem.js";
import { adminTokenRefusal } from "../../../src/core/security/admin-token.js";
import production from "../../../worker.js";

export * from "../../../worker.js";

const failing = new Set<string>();
const entityKey = (c: FaultContext) => JSON.stringify([c.tenant, c.entityType, c.entityId]);
let disarm: (() => void) | null = null;

/** The seam stays unarmed while no entity is failing, as in production. */
function setFailing(context: FaultContext, on: boolean): void {
  if (on) failing.add(entityKey(context));
  else failing.delete(entityKey(context));
  if (failing.size > 0 && !disarm) {
    disarm = armFault("consumer.apply", (c) => {
      if (failing.has(entityKey(c))) throw new InjectedFault("consumer.apply");
    });
  } else if (failing.size === 0 && disarm) {
    disarm();
    disarm = null;
  }
}

const faultSchema = z
  .object({
    tenant: z.string().min(1),
    entityType: z.string().min(1),
    entityId: z.string().min(1),
    failing: z.boolean(),
  })
  .strict();

const control = new Hono<{ Bindings: Env }>();

// Checked as the admin API checks the token: wrong ones count in the per-client failure limit.
control.use("*", async (c, next) => {
  const refused = await adminTokenRefusal(c.req.raw, c.env.ADMIN_TOKEN, c.env.AUTH_FAILURES);
  if (refused) return refused;
  await next();
});

/** `{tenant, entityType, entityId, failing}`: while failing, every attempt to apply that entity's facts throws. */
control.post("/__test/faults/consumer", async (c) => {
  const parsed = faultSchema.safeParse(await c.req.json<unknown>().catch(() => undefined));
  if (!parsed.success) return problemResponse(problem("validation-failed", parsed.error.message));
  setFailing(parsed.data, parsed.data.failing);
  return c.body(null, 204);
});

control.notFound((c) => problemResponse(problem("not-found", `no test control at ${c.req.path}`)));

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    return new URL(request.url).pathname.startsWith("/__test/")
      ? control.fetch(request, env, ctx)
      : production.fetch(request, env, ctx);
  },
  queue: (batch, env, ctx) => production.queue(batch, env, ctx),
} satisfies ExportedHandler<Env>;
