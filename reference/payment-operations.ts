// The OpenAPI description of the reference app's own routes (reference/payment-routes.ts,
// reference/gateway-admin-routes.ts): payment settlement and the simulated gateway's controls.
import { z } from "zod";
import type { Operation, Parameter } from "../src/core/http/openapi.js";

const json = (description: string) => ({ description, content: { kind: "json" as const, schema: z.record(z.string(), z.unknown()) } });
const merchant: Parameter = { name: "merchant", in: "path", schema: z.string(), description: "the gateway merchant account (a tenant id)" };

function admin(o: Omit<Operation, "tag" | "auth">): Operation {
  return { tag: "sagas", auth: "admin", ...o };
}

export const paymentOperations: readonly Operation[] = [
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
      "Claims the settlement through the payment entity, then charges under the payment's own key (the one the fulfilment saga uses too), so the gateway charges at most once. 200 answers `{version, events, payment: {status, gatewayRef, reason}}`: the payment's outcome, even when the saga recorded it first and this request recorded no event. 422 `not-submitted` when the payment is settled, refunded or closed.",
    tag: "payments",
    auth: "tenant",
    parameters: [{ name: "id", in: "path", schema: z.string() }],
    responses: { 200: json("the payment") },
    problems: [400, 404, 422, 503],
  },
];
