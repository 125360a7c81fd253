// The simulated payment gateway's controls and ledger, for an operator: part of the reference
// app, mounted by it under /admin (behind the admin token) through `defineApp({ adminRoutes })`.
import { Hono } from "hono";
import { fieldErrors } from "../src/core/model/entity.js";
import { tenantIdSchema } from "../src/core/protocol/identifiers.js";
import { problem, problemResponse } from "../src/core/http/problem.js";
import type { RequestScope } from "../src/core/http/request-scope.js";
import { readJsonBody } from "../src/core/http/request-body.js";
import { gatewayControlsSchema } from "./payment-gateway-protocol.js";
import { gatewayStub } from "./payment-gateway-client.js";

/** `GET/PUT /gateway/{merchant}/controls`, `GET /gateway/{merchant}/ledger` (a merchant is a tenant id). */
export const gatewayAdminRoutes = new Hono<{ Bindings: Env; Variables: RequestScope }>();

gatewayAdminRoutes.get("/gateway/:merchant/controls", (c) => forward(c.env, c.req.param("merchant"), "GET", "/controls"));
gatewayAdminRoutes.get("/gateway/:merchant/ledger", (c) => forward(c.env, c.req.param("merchant"), "GET", "/ledger"));
gatewayAdminRoutes.put("/gateway/:merchant/controls", async (c) => {
  // The same body rules as every other JSON route (size, media type, charset, coding, strict JSON).
  const body = await readJsonBody(c.req.raw);
  if (!body.ok) return problemResponse(body.problem);
  const parsed = gatewayControlsSchema.safeParse(body.value);
  if (!parsed.success) return problemResponse(problem("validation-failed", "the controls are invalid", { errors: fieldErrors(parsed.error) }));
  return forward(c.env, c.req.param("merchant"), "PUT", "/controls", parsed.data);
});

async function forward(env: Env, merchant: string, method: string, path: string, body?: unknown): Promise<Response> {
  if (!tenantIdSchema.safeParse(merchant).success) return problemResponse(problem("malformed-request", "a merchant is a tenant id"));
  const res = await gatewayStub(env, merchant).fetch(`https://payment-gateway.invalid${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  return new Response(res.body, { status: res.status, headers: { "content-type": "application/json" } });
}
