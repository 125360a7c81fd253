// The client of the external payment gateway: speaks its HTTP contract over the gateway's
// binding, validates every answer, and goes out only as a guarded call (timeout, shared
// breaker, backoff). One merchant account, breaker and ledger per tenant.
import type { BackoffPolicy } from "../src/core/resilience/backoff.js";
import { z } from "zod";
import { fitIdempotencyKey } from "../src/core/protocol/command-metadata.js";
import { hostConfig } from "../src/core/runtime/config.js";
import { breakerFor, guardedCall, type Guarded } from "../cloud/sagas/guarded-call.js";
import {
  chargeResponseSchema,
  refundResponseSchema,
  type ChargeRequest,
  type ChargeResponse,
  type RefundResponse,
} from "./payment-gateway-protocol.js";

const BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 2_000 };

/**
 * The Idempotency-Key of the refund of `chargeKey`: `refund:<chargeKey>`, fitted to the gateway's
 * 1-255 visible ASCII (`fitIdempotencyKey`), since a charge key may itself be 255 characters.
 */
export function refundKey(chargeKey: string): Promise<string> {
  return fitIdempotencyKey(`refund:${chargeKey}`);
}

export function gatewayBreakerName(tenant: string): string {
  return `payment-gateway:${tenant}`;
}

export function gatewayStub(env: Env, tenant: string): DurableObjectStub {
  return env.PAYMENT_GATEWAY.getByName(tenant);
}

export interface PaymentGatewayClient {
  charge(idempotencyKey: string, request: ChargeRequest): Promise<Guarded<ChargeResponse>>;
  refund(chargeKey: string): Promise<Guarded<RefundResponse>>;
}

export function paymentGateway(env: Env, tenant: string, attempts: number): PaymentGatewayClient {
  const breaker = breakerFor(env, gatewayBreakerName(tenant));
  const options = { timeoutMs: hostConfig(env, "payment-gateway").gatewayTimeoutMs, attempts, backoff: BACKOFF };
  const post = async (path: string, body: unknown, key: string, signal: AbortSignal): Promise<unknown> => {
    const res = await gatewayStub(env, tenant).fetch(`https://payment-gateway.invalid${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify(body),
      signal,
    });
    // 402 is the gateway's business answer (declined); every other non-2xx is a failure, but for
    // a charge's 422 (below).
    if (!res.ok && res.status !== 402 && !(path === "/charges" && res.status === 422))
      throw new Error(`gateway answered ${res.status}`);
    const answer: unknown = await res.json();
    // 422 refuses a key already used for another charge (the settle route's, with other details):
    // as final as a decline, and no sign of a failing gateway, so neither retried nor counted
    // against the tenant's breaker, which would hold back its healthy charges.
    if (res.status !== 422) return answer;
    const refused = z.object({ error: z.string() }).safeParse(answer);
    return { status: "declined", reason: refused.success ? refused.data.error : "the charge was refused", key };
  };
  return {
    charge: (key, request) =>
      guardedCall(
        breaker,
        async (signal) => chargeResponseSchema.parse(await post("/charges", request, key, signal)),
        options,
      ),
    refund: (chargeKey) =>
      guardedCall(
        breaker,
        async (signal) =>
          refundResponseSchema.parse(await post("/refunds", { chargeKey }, await refundKey(chargeKey), signal)),
        options,
      ),
  };
}
