// The payment gateway as a saga service: it implements the reference domain's contract
// (src/domain/payment-gateway.ts), which the fulfilment saga's `charge` and `refund` calls are
// checked against, and the reference app plugs it in through `defineApp({ services: {
// "payment-gateway": paymentGatewayService } })`. Each call is one guarded attempt (timeout,
// shared breaker); the saga's alarm retries.
import { entityClientFor, fitIdempotencyKey, implementService } from "../factline.js";
import { paymentGateway } from "../src/domain/payment-gateway.js";
import { payments } from "../src/domain/payments.js";
import { paymentGateway as gatewayClient } from "./payment-gateway-client.js";

const circuitOpen = (retryAfterMs: number) =>
  ({ kind: "deferred", reason: "the payment gateway's circuit is open", retryAfterMs }) as const;

/**
 * `charge {reference, amount, currency}` → done `{gatewayRef}` or rejected (declined);
 * `refund {chargeKey, paymentId?, reason?}` → done `{status, chargeKey, gatewayRef}`, after
 * recording the answer on the payment when `paymentId` is given. Any other operation, or a request
 * the contract refuses, is rejected before the gateway is reached.
 */
export const paymentGatewayService = implementService(paymentGateway, {
  async charge(request, { env, tenant, idempotencyKey }) {
    const answer = await gatewayClient(env, tenant, 1).charge(idempotencyKey, request);
    if (!answer.ok)
      return answer.kind === "open" ? circuitOpen(answer.retryAfterMs) : { kind: "failed", error: answer.error };
    return answer.value.status === "approved"
      ? { kind: "done", result: { gatewayRef: answer.value.gatewayRef } }
      : { kind: "rejected", reason: `payment declined: ${answer.value.reason}` };
  },
  async refund({ chargeKey, paymentId, reason }, { env, tenant, idempotencyKey }) {
    const answer = await gatewayClient(env, tenant, 1).refund(chargeKey);
    if (!answer.ok)
      return answer.kind === "open" ? circuitOpen(answer.retryAfterMs) : { kind: "failed", error: answer.error };
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
  },
});

/**
 * Records the gateway's refund answer on the payment (`refund {reason, gatewayRef?}`: with the
 * reference when an approved charge was refunded, without when none was found), under a key of
 * this compensation so that a retry is a replay: `<callKey>/record`, fitted (`fitIdempotencyKey`)
 * since a call key may already be 255 characters, the entity's bound. Answers null when recorded, or the
 * error to retry with (the gateway refund is idempotent, so the whole step can run again).
 */
async function recordRefund(
  env: Env,
  tenant: string,
  paymentId: string,
  data: { reason: string; gatewayRef?: string },
  callKey: string,
): Promise<string | null> {
  const payment = entityClientFor(env, { tenant, correlationId: callKey, traceparent: null }, payments);
  const idempotencyKey = await fitIdempotencyKey(`${callKey}/record`);
  const outcome = await payment.command(paymentId, "refund", data, { idempotencyKey });
  return outcome.ok ? null : `recording the refund on payment ${paymentId}: ${outcome.problem.detail}`;
}
