// The tenant API's direct path to the payment gateway: `POST /v1/payments/{id}/settle` settles a
// submitted payment now (charge at the gateway, then record the approval or decline on the
// payment entity). It is a guarded call: while the gateway's breaker is open, or the gateway
// keeps failing, it answers 503 dependency-unavailable with Retry-After instead of waiting.
import { Hono } from "hono";
import type { EntityRpc } from "../src/core/entity-protocol.js";
import { commandFingerprint } from "../src/core/fingerprint.js";
import { entityIdSchema, entityObjectName } from "../src/core/identifiers.js";
import { problem, problemResponse } from "../src/core/problem.js";
import type { RequestScope } from "../src/core/request-scope.js";
import type { PaymentState } from "../src/domain/payments.js";
import { paymentGateway } from "./payment-gateway-client.js";

const ATTEMPTS = 3;

export const paymentRoutes = new Hono<{ Bindings: Env; Variables: RequestScope }>();

paymentRoutes.post("/:id/settle", async (c) => {
  const paymentId = c.req.param("id");
  if (!entityIdSchema.safeParse(paymentId).success) {
    return problemResponse(problem("malformed-request", "a payment id is 1-128 of A-Z a-z 0-9 . _ ~ -"));
  }
  const tenant = c.var.tenant;
  const address = { tenant, entityType: "payments", entityId: paymentId };
  const stub = c.env.ENTITY.get(c.env.ENTITY.idFromName(entityObjectName(tenant, "payments", paymentId))) as unknown as EntityRpc;
  const current = await stub.read(address, null);
  if (!current) return problemResponse(problem("not-found", `no payments ${paymentId}`));
  const payment = current.state as PaymentState;
  if (payment.status !== "submitted") {
    return problemResponse(problem("business-rule", `the payment is ${payment.status}`, { code: "not-submitted" }));
  }
  if (payment.orderId === null || payment.currency === null) throw new Error(`payment ${paymentId} is submitted without its details`);

  const chargeKey = `${entityObjectName(tenant, "payments", paymentId)}/charge`;
  const answer = await paymentGateway(c.env, tenant, ATTEMPTS).charge(chargeKey, {
    reference: payment.orderId,
    amount: payment.amount,
    currency: payment.currency,
  });
  if (!answer.ok) {
    const retryAfter = answer.kind === "open" ? answer.retryAfterMs / 1000 : 1;
    const detail = answer.kind === "open" ? "the payment gateway is failing; its circuit breaker is open" : `the payment gateway failed: ${answer.error}`;
    return problemResponse(problem("dependency-unavailable", detail, { retryAfter }));
  }
  const verdict = answer.value;
  const command = verdict.status === "approved" ? "approve" : "decline";
  const data = verdict.status === "approved" ? { gatewayRef: verdict.gatewayRef } : { reason: verdict.reason };
  const key = `${chargeKey}/${command}`;
  const outcome = await stub.command({
    ...address,
    command,
    data,
    idempotencyKey: key,
    fingerprint: await commandFingerprint(command, data),
    expectedVersion: null,
    causeHlc: null,
    correlationId: c.var.requestId,
    causationId: null,
    traceparent: c.var.traceparent,
  });
  if (!outcome.ok) return problemResponse(outcome.problem);
  return c.json(outcome.result, 200, { etag: `"${outcome.result.version}"` });
});
