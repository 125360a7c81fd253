// The HTTP contract of the (simulated) external payment gateway: what its client sends and what
// it answers. Both sides validate with these schemas, as they would across a real network.
import { z } from "zod";

export const chargeRequestSchema = z
  .object({
    reference: z.string().min(1).max(128),
    amount: z.number().positive().max(1_000_000_000),
    currency: z.string().regex(/^[A-Z]{3}$/),
  })
  .strict();
export type ChargeRequest = z.infer<typeof chargeRequestSchema>;

export const refundRequestSchema = z.object({ chargeKey: z.string().min(1).max(255) }).strict();

/** 200 approved, 402 declined (as card networks answer); anything else is a failure. */
export const chargeResponseSchema = z.discriminatedUnion("status", [
  z.object({ status: z.literal("approved"), gatewayRef: z.string(), key: z.string() }),
  z.object({ status: z.literal("declined"), reason: z.string(), key: z.string() }),
]);
export type ChargeResponse = z.infer<typeof chargeResponseSchema>;

/** `gatewayRef` names the approved charge a `refunded` answer refunded (null for the others). */
export const refundResponseSchema = z.object({
  status: z.enum(["refunded", "voided", "nothing-to-refund"]),
  chargeKey: z.string(),
  gatewayRef: z.string().nullable().default(null),
});
export type RefundResponse = z.infer<typeof refundResponseSchema>;

/** The simulator's knobs: latency, injected failures, and a decline rule. Defaults approve all. */
export const gatewayControlsSchema = z
  .object({
    latencyMs: z.number().int().min(0).max(60_000).default(0),
    /** Extra random latency, uniformly 0..latencyJitterMs. */
    latencyJitterMs: z.number().int().min(0).max(60_000).default(0),
    /** Share of calls that fail with 503 (half before acting, half after: the answer is lost). */
    errorRate: z.number().min(0).max(1).default(0),
    /** Charges above this amount are declined; null declines nothing. */
    declineAbove: z.number().nonnegative().nullable().default(null),
  })
  .strict();
export type GatewayControls = z.infer<typeof gatewayControlsSchema>;

export interface LedgerEntry {
  readonly key: string;
  readonly reference: string;
  readonly amount: number;
  readonly currency: string;
  readonly status: "approved" | "declined" | "voided";
  readonly gatewayRef: string | null;
  readonly refunded: boolean;
  readonly createdAt: number;
}
