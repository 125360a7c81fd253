// The simulated payment gateway's controls and ledger, for an operator: part of the reference
// app, mounted by it under /admin (behind the admin token) through `defineApp({ adminRoutes })`.
import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { tenantIdSchema } from "../src/core/protocol/identifiers.js";
import { json, jsonBody, problems, routeTable, security } from "../src/core/http/openapi.js";
import { fail } from "../src/core/http/problem.js";
import type { JSONValue } from "hono/utils/types";
import type { RequestScope } from "../src/core/http/request-scope.js";
import { strictJsonBody } from "../src/core/http/json-body.js";
import { gatewayControlsSchema } from "./payment-gateway-protocol.js";
import { gatewayStub } from "./payment-gateway-client.js";

/** `GET/PUT /gateway/{merchant}/controls`, `GET /gateway/{merchant}/ledger` (a merchant is a tenant id). */
export const gatewayAdminRoutes = routeTable<{ Bindings: Env; Variables: RequestScope }>();

const merchant = z.object({ merchant: tenantIdSchema.describe("the gateway merchant account (a tenant id)") });
// The simulator's own shapes (payment-gateway-protocol.ts), forwarded as it answers them.
const simulatorAnswer = z.unknown().meta({ type: "object" });

gatewayAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/gateway/{merchant}/controls",
    operationId: "admin.gateway.controls",
    summary: "the simulated payment gateway's latency and failure controls",
    tags: ["sagas"],
    security: security("admin"),
    request: { params: merchant },
    responses: { 200: json(simulatorAnswer, "the controls"), ...problems("admin", 400) },
  }),
  async (c) => c.json(await forward(c.env, c.req.valid("param").merchant, "GET", "/controls"), 200),
);

gatewayAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/gateway/{merchant}/ledger",
    operationId: "admin.gateway.ledger",
    summary: "the simulated gateway's ledger",
    tags: ["sagas"],
    security: security("admin"),
    request: { params: merchant },
    responses: { 200: json(simulatorAnswer, "the ledger"), ...problems("admin", 400) },
  }),
  async (c) => c.json(await forward(c.env, c.req.valid("param").merchant, "GET", "/ledger"), 200),
);

gatewayAdminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/gateway/{merchant}/controls",
    operationId: "admin.gateway.setControls",
    summary: "set the simulated gateway's latency and failure rate",
    tags: ["sagas"],
    security: security("admin"),
    // The same body rules as every other JSON route (size, media type, charset, coding, strict JSON).
    middleware: [strictJsonBody()] as const,
    request: { params: merchant, body: jsonBody(gatewayControlsSchema) },
    responses: { 200: json(simulatorAnswer, "the controls"), ...problems("admin", 400, 413, 415) },
  }),
  async (c) =>
    c.json(await forward(c.env, c.req.valid("param").merchant, "PUT", "/controls", c.req.valid("json")), 200),
);

/** The simulator's JSON answer to `method path` for `merchant`; a failure of the simulator is 503. */
async function forward(env: Env, merchant: string, method: string, path: string, body?: unknown): Promise<JSONValue> {
  const res = await gatewayStub(env, merchant).fetch(`https://payment-gateway.invalid${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  if (!res.ok) throw fail("dependency-unavailable", `the gateway simulator answered ${res.status}`, { retryAfter: 1 });
  return res.json<JSONValue>();
}
