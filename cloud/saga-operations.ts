// The OpenAPI description of the saga routes (cloud/saga-admin-routes.ts, cloud/payment-routes.ts):
// sagas needing attention, circuit breakers, the simulated payment gateway, payment settlement.
import { z } from "zod";
import type { Operation, Parameter } from "../src/core/openapi.js";

const json = (description: string) => ({ description, content: { kind: "json" as const, schema: z.record(z.string(), z.unknown()) } });
const sagaId: Parameter = { name: "id", in: "path", schema: z.string(), description: "tenant:saga:instance" };
const merchant: Parameter = { name: "merchant", in: "path", schema: z.string(), description: "the gateway merchant account (a tenant id)" };

function admin(o: Omit<Operation, "tag" | "auth">): Operation {
  return { tag: "sagas", auth: "admin", ...o };
}

export const sagaOperations: readonly Operation[] = [
  admin({ method: "get", path: "/admin/sagas", operationId: "admin.sagas.list", summary: "sagas, those needing attention first", responses: { 200: json("the sagas") } }),
  admin({ method: "get", path: "/admin/sagas/{id}", operationId: "admin.sagas.show", summary: "one saga with its log", parameters: [sagaId], responses: { 200: json("the saga") }, problems: [400, 404] }),
  ...(["retry", "compensate"] as const).map((action) =>
    admin({
      method: "post",
      path: `/admin/sagas/{id}/${action}`,
      operationId: `admin.sagas.${action}`,
      summary: action === "retry" ? "retry a stuck saga's current step" : "compensate a stuck saga",
      parameters: [sagaId],
      responses: { 202: json("the saga") },
      problems: [400, 404, 409],
    }),
  ),
  admin({ method: "get", path: "/admin/breakers", operationId: "admin.breakers", summary: "circuit breakers and their state", responses: { 200: json("the breakers") } }),
  admin({ method: "get", path: "/admin/gateway/{merchant}/controls", operationId: "admin.gateway.controls", summary: "the simulated payment gateway's latency and failure controls", parameters: [merchant], responses: { 200: json("the controls") } }),
  admin({
    method: "put",
    path: "/admin/gateway/{merchant}/controls",
    operationId: "admin.gateway.setControls",
    summary: "set the simulated gateway's latency and failure rate",
    parameters: [merchant],
    responses: { 200: json("the controls") },
    problems: [400],
  }),
  admin({ method: "get", path: "/admin/gateway/{merchant}/ledger", operationId: "admin.gateway.ledger", summary: "the simulated gateway's ledger", parameters: [merchant], responses: { 200: json("the ledger") } }),
  {
    method: "post",
    path: "/v1/payments/{id}/settle",
    operationId: "payments.settle",
    summary: "settle a submitted payment through the guarded gateway",
    description:
      "Claims the settlement through the payment entity, then charges under the payment's own key (the one the fulfilment saga uses too), so the gateway charges at most once. 422 `not-submitted` when the payment is settled, refunded or closed.",
    tag: "payments",
    auth: "tenant",
    parameters: [{ name: "id", in: "path", schema: z.string() }],
    responses: { 200: json("the payment") },
    problems: [400, 404, 422, 503],
  },
];
