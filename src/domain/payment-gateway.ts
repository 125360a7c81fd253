// The payment gateway's contract as the fulfilment saga calls it: `charge` an order's total under
// the payment's key, and `refund` (or void) that key. The saga's calls are checked against it
// when they compile; the Worker's service (reference/payment-service.ts) and the simulator's model
// of it (reference/simulation.ts) implement it, each given the request these schemas parsed.
import { z } from "zod";
import { defineServiceContract } from "../core/model/service-contract.js";
import { entityIdSchema } from "../core/protocol/identifiers.js";

export const paymentGateway = defineServiceContract("payment-gateway", {
  /** Charges `amount` (> 0, in `currency`'s units) for `reference`, the order: done `{gatewayRef}`, or rejected (declined). */
  charge: z
    .object({
      reference: z.string().min(1).max(128),
      amount: z.number().positive().max(1_000_000_000),
      currency: z.string().regex(/^[A-Z]{3}$/),
    })
    .strict(),
  /**
   * Refunds the charge made under `chargeKey`, or voids the key when none was made. `paymentId`
   * (with `reason`) names the payment whose charge it is: the answer is recorded on it, so it
   * agrees with the ledger even when the saga turned round while the charge was in flight.
   */
  refund: z
    .object({
      chargeKey: z.string().min(1).max(255),
      paymentId: entityIdSchema.optional(),
      reason: z.string().min(1).max(500).optional(),
    })
    .strict(),
});
