// The tenant API's direct path to the payment gateway: `POST /v1/payments/{id}/settle` settles a
// submitted payment now (charge at the gateway, then record the approval or decline on the
// payment entity). It is a guarded call: while the gateway's breaker is open, or the gateway
// keeps failing, it answers 503 dependency-unavailable with Retry-After instead of waiting.
// It charges under the payment's own key (`paymentChargeKey`), the one the fulfilment saga uses
// too, after claiming the settlement through the payment entity: one charge whoever settles.
import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import {
  entityClient,
  entityIdSchema,
  fail,
  json,
  ProblemError,
  problems,
  type RequestScope,
  routeTable,
  security,
} from "../factline.js";
import { acceptedEvent } from "../src/core/model/envelope.js";
import { problem, type Problem } from "../src/core/http/problem.js";
import { paymentChargeKey, payments } from "../src/domain/payments.js";
import { paymentGateway } from "./payment-gateway-client.js";

const ATTEMPTS = 3;

/** `POST /{id}/settle`, mounted by the reference app at `/v1/payments` (`defineApp({ tenantRoutes })`). */
export const paymentRoutes = routeTable<{ Bindings: Env; Variables: RequestScope }>();

const settleRoute = createRoute({
  method: "post",
  path: "/{id}/settle",
  operationId: "payments.settle",
  summary: "settle a submitted payment through the guarded gateway",
  description:
    "Claims the settlement through the payment entity, then charges under the payment's own key (the one the fulfilment saga uses too), so the gateway charges at most once. 200 answers `{version, events, payment: {status, gatewayRef, reason}}`: the payment's outcome, even when the saga recorded it first and this request recorded no event. 422 `not-submitted` when the payment is settled, refunded or closed.",
  tags: ["payments"],
  security: security("tenant"),
  request: { params: z.object({ id: entityIdSchema.describe("the payment's id") }) },
  responses: {
    200: json(z.unknown().meta({ type: "object" }), "the command's result and the payment's outcome"),
    ...problems("tenant", 400, 404, 422, 503),
  },
});

paymentRoutes.openapi(settleRoute, async (c) => {
  const paymentId = c.req.valid("param").id;
  const tenant = c.get("tenant");
  const entity = entityClient(c, payments);
  const current = await entity.read(paymentId);
  if (!current) throw fail("not-found", `no payments ${paymentId}`);
  const payment = current.state;
  if (payment.status !== "submitted") {
    throw fail("business-rule", `the payment is ${payment.status}`, { code: "not-submitted" });
  }
  if (payment.orderId === null || payment.currency === null)
    throw new Error(`payment ${paymentId} is submitted without its details`);

  // Claim the settlement through the payment's single writer: it refuses a payment that was
  // settled, refunded or closed meanwhile, and fixes the key every caller charges under. A caller
  // finding the claim already made charges under the same key and gets the gateway's one outcome.
  const chargeKey = paymentChargeKey(paymentId);
  const claim = await entity.command(paymentId, "settle", { chargeKey });
  if (!claim.ok) throw new ProblemError(claimProblem(claim.problem));

  const answer = await paymentGateway(c.env, tenant, ATTEMPTS).charge(chargeKey, {
    reference: payment.orderId,
    amount: payment.amount,
    currency: payment.currency,
  });
  if (!answer.ok) {
    const retryAfter = answer.kind === "open" ? answer.retryAfterMs / 1000 : 1;
    const detail =
      answer.kind === "open"
        ? "the payment gateway is failing; its circuit breaker is open"
        : `the payment gateway failed: ${answer.error}`;
    throw fail("dependency-unavailable", detail, { retryAfter });
  }
  const verdict = answer.value;
  const outcome =
    verdict.status === "approved"
      ? await entity.command(
          paymentId,
          "approve",
          { gatewayRef: verdict.gatewayRef },
          { idempotencyKey: `${chargeKey}/approve` },
        )
      : await entity.command(
          paymentId,
          "decline",
          { reason: verdict.reason },
          { idempotencyKey: `${chargeKey}/decline` },
        );
  if (!outcome.ok) throw new ProblemError(outcome.problem);
  // The outcome is the payment's, not this request's events: a settle racing the saga may record
  // nothing itself (the saga got there first), and its caller still needs to know how it ended.
  const settled = await entity.read(paymentId);
  const after = settled?.state ?? payment;
  return c.json(
    {
      ...outcome.result,
      // As a command's answer: the metadata that echoes the request is in the log, not here.
      events: outcome.result.events.map(acceptedEvent),
      payment: { status: after.status, gatewayRef: after.gatewayRef, reason: after.reason },
    },
    200,
    { etag: `"${settled?.version ?? outcome.result.version}"` },
  );
});

/** A claim refused because the payment moved on meanwhile reads as "not awaiting settlement". */
function claimProblem(refusal: Problem): Problem {
  return refusal.status === 422 && refusal.code !== "not-submitted"
    ? problem("business-rule", refusal.detail, { code: "not-submitted" })
    : refusal;
}
