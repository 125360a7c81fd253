// The payment gateway as a saga service: the reference app plugs it into `defineApp({ services:
// { "payment-gateway": paymentGatewayService } })`, and the fulfilment saga's `call` tasks name
// it with the operations `charge` and `refund`. Each call is one guarded attempt (timeout,
// shared breaker); the saga's alarm retries.
import { z } from "zod";
import type { TaskOutcome } from "../src/core/model/saga.js";
import type { Service } from "../cloud/app.js";
import { chargeRequestSchema } from "./payment-gateway-protocol.js";
import { paymentGateway } from "./payment-gateway-client.js";
import { entityIdSchema } from "../src/core/protocol/identifiers.js";
import { describeFieldErrors, fieldErrors } from "../src/core/model/entity.js";
import { commandFingerprint } from "../src/core/protocol/fingerprint.js";
import { entityStub } from "../cloud/stubs.js";

/**
 * `paymentId` (with `reason`) names the payment whose charge this is: when the gateway's answer
 * shows it had approved that charge, the payment records the approval and the refund, so it agrees
 * with the ledger even when the saga turned round while the charge was in flight.
 */
const refundRequestSchema = z.object({
  chargeKey: z.string(),
  paymentId: entityIdSchema.optional(),
  reason: z.string().min(1).max(500).optional(),
});

/**
 * `charge {orderId, amount, currency}` → done `{gatewayRef}` or rejected (declined);
 * `refund {chargeKey, paymentId?, reason?}` → done `{status, chargeKey, gatewayRef}`, after
 * recording the answer on the payment when `paymentId` is given.
 */
export const paymentGatewayService: Service = {
  async call(operation, data, { env, tenant, idempotencyKey }): Promise<TaskOutcome> {
    const gateway = paymentGateway(env, tenant, 1);
    if (operation === "charge") {
      const request = chargeRequestSchema.safeParse(data);
      if (!request.success)
        return { kind: "rejected", reason: `invalid charge: ${describeFieldErrors(fieldErrors(request.error))}` };
      const answer = await gateway.charge(idempotencyKey, request.data);
      if (!answer.ok)
        return answer.kind === "open"
          ? { kind: "deferred", reason: "the payment gateway's circuit is open", retryAfterMs: answer.retryAfterMs }
          : { kind: "failed", error: answer.error };
      return answer.value.status === "approved"
        ? { kind: "done", result: { gatewayRef: answer.value.gatewayRef } }
        : { kind: "rejected", reason: `payment declined: ${answer.value.reason}` };
    }
    if (operation === "refund") {
      const request = refundRequestSchema.safeParse(data);
      if (!request.success)
        return { kind: "rejected", reason: `invalid refund: ${describeFieldErrors(fieldErrors(request.error))}` };
      const answer = await gateway.refund(request.data.chargeKey);
      if (!answer.ok)
        return answer.kind === "open"
          ? { kind: "deferred", reason: "the payment gateway's circuit is open", retryAfterMs: answer.retryAfterMs }
          : { kind: "failed", error: answer.error };
      const { paymentId, reason } = request.data;
      if (paymentId !== undefined) {
        // After the gateway answered, so the payment records what the ledger now says: approved
        // and refunded, or (no charge found, the key voided) declined and closed.
        const refunded =
          answer.value.status === "refunded" && answer.value.gatewayRef !== null
            ? { gatewayRef: answer.value.gatewayRef }
            : {};
        const recorded = await recordRefund(
          env,
          tenant,
          paymentId,
          { reason: reason ?? "the charge was refunded", ...refunded },
          idempotencyKey,
        );
        if (recorded !== null) return { kind: "failed", error: recorded };
      }
      return { kind: "done", result: answer.value };
    }
    return { kind: "rejected", reason: `the payment gateway has no operation ${operation}` };
  },
};

/**
 * Records the gateway's refund answer on the payment (`refund {reason, gatewayRef?}`: with the
 * reference when an approved charge was refunded, without when none was found), under a key of
 * this compensation so that a retry is a replay. Answers null when recorded, or the
 * error to retry with (the gateway refund is idempotent, so the whole step can run again).
 */
async function recordRefund(
  env: Env,
  tenant: string,
  paymentId: string,
  data: { reason: string; gatewayRef?: string },
  callKey: string,
): Promise<string | null> {
  const address = { tenant, entityType: "payments", entityId: paymentId };
  const key = `${callKey}/record`;
  const outcome = await entityStub(env, address).command({
    ...address,
    command: "refund",
    data,
    idempotencyKey: key,
    fingerprint: await commandFingerprint("refund", data),
    expectedVersion: null,
    causeHlc: null,
    correlationId: callKey,
    causationId: null,
    traceparent: null,
  });
  return outcome.ok ? null : `recording the refund on payment ${paymentId}: ${outcome.problem.detail}`;
}
