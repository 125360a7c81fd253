// The payment gateway as a saga service: the reference app plugs it into `defineApp({ services:
// { "payment-gateway": paymentGatewayService } })`, and the fulfilment saga's `call` tasks name
// it with the operations `charge` and `refund`. Each call is one guarded attempt (timeout,
// shared breaker); the saga's alarm retries.
import { z } from "zod";
import type { TaskOutcome } from "../src/core/model/saga.js";
import type { Service } from "../cloud/app.js";
import { chargeRequestSchema } from "./payment-gateway-protocol.js";
import { paymentGateway } from "./payment-gateway-client.js";

const refundRequestSchema = z.object({ chargeKey: z.string() });

/** `charge {orderId, amount, currency}` → done `{gatewayRef}` or rejected (declined); `refund {chargeKey}` → done. */
export const paymentGatewayService: Service = {
  async call(operation, data, { env, tenant, idempotencyKey }): Promise<TaskOutcome> {
    const gateway = paymentGateway(env, tenant, 1);
    if (operation === "charge") {
      const request = chargeRequestSchema.safeParse(data);
      if (!request.success) return { kind: "rejected", reason: `invalid charge: ${request.error.message}` };
      const answer = await gateway.charge(idempotencyKey, request.data);
      if (!answer.ok) return answer.kind === "open" ? { kind: "deferred", reason: "the payment gateway's circuit is open", retryAfterMs: answer.retryAfterMs } : { kind: "failed", error: answer.error };
      return answer.value.status === "approved"
        ? { kind: "done", result: { gatewayRef: answer.value.gatewayRef } }
        : { kind: "rejected", reason: `payment declined: ${answer.value.reason}` };
    }
    if (operation === "refund") {
      const request = refundRequestSchema.safeParse(data);
      if (!request.success) return { kind: "rejected", reason: `invalid refund: ${request.error.message}` };
      const answer = await gateway.refund(request.data.chargeKey);
      if (!answer.ok) return answer.kind === "open" ? { kind: "deferred", reason: "the payment gateway's circuit is open", retryAfterMs: answer.retryAfterMs } : { kind: "failed", error: answer.error };
      return { kind: "done", result: answer.value };
    }
    return { kind: "rejected", reason: `the payment gateway has no operation ${operation}` };
  },
};
