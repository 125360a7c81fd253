// The client of the external payment gateway: speaks its HTTP contract over the gateway's
// binding, validates every answer, and goes out only as a guarded call (timeout, shared
// breaker, backoff). One merchant account, breaker and ledger per tenant.
import type { BackoffPolicy } from "../src/core/resilience/backoff.js";
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
    // 402 is the gateway's business answer (declined); every other non-2xx is a failure.
    if (!res.ok && res.status !== 402) throw new Error(`gateway answered ${res.status}`);
    return res.json();
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
          refundResponseSchema.parse(await post("/refunds", { chargeKey }, `refund:${chargeKey}`, signal)),
        options,
      ),
  };
}
