// A payment for an order: submitted, its settlement claimed under the payment's one charge key,
// then settled by the external gateway as approved or declined, and refunded if the order is not
// fulfilled. Every settlement step goes through this entity's single writer, so whoever settles
// (the settle route or the fulfilment saga) charges under the same key, and a compensation that
// ran first leaves a closed payment that refuses a late submission or claim.
import { z } from "zod";
import { defineEntity, event, reject, type EventsOf } from "../core/model/entity.js";
import { entityIdSchema } from "../core/protocol/identifiers.js";

export type PaymentStatus = "none" | "submitted" | "approved" | "declined" | "refunded";

export interface PaymentState {
  readonly status: PaymentStatus;
  readonly orderId: string | null;
  readonly amount: number;
  readonly currency: string | null;
  /** The gateway idempotency key the settlement was claimed under; null until claimed. */
  readonly chargeKey: string | null;
  readonly gatewayRef: string | null;
  readonly reason: string | null;
}

/**
 * The gateway idempotency key of a payment's one charge. It belongs to the payment, not to the
 * caller: the settle route and the fulfilment saga both charge under it, so the gateway charges at
 * most once, and a refund of this key covers whichever of them charged. The gateway is one
 * merchant account per tenant, so the payment id alone makes the key unique there. At most 144
 * visible ASCII characters (a payment id is an entity id, 1-128 of `A-Z a-z 0-9 . _ ~ -`), so
 * it, its `/approve` and `/decline` keys and the gateway's `refund:<key>` fit the 255-character
 * Idempotency-Key grammar as they are.
 */
export function paymentChargeKey(paymentId: string): string {
  return `payments/${paymentId}/charge`;
}

const reason = z.string().min(1).max(500);

/** The largest amount a payment accepts (the gateway's limit), in the currency's major unit. */
export const MAX_PAYMENT_AMOUNT = 1_000_000_000;

export const payments = defineEntity({
  type: "payments",
  initialState: {
    status: "none",
    orderId: null,
    amount: 0,
    currency: null,
    chargeKey: null,
    gatewayRef: null,
    reason: null,
  } as PaymentState,
  commands: {
    submit: z
      .object({
        orderId: entityIdSchema,
        amount: z.number().positive().max(MAX_PAYMENT_AMOUNT),
        currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as EUR"),
      })
      .strict(),
    settle: z.object({ chargeKey: z.string().min(1).max(255) }).strict(),
    approve: z.object({ gatewayRef: z.string().min(1).max(128) }).strict(),
    decline: z.object({ reason }).strict(),
    /**
     * `gatewayRef` is present when the gateway's refund found an approved charge under the
     * payment's key (and refunded it): the payment then records that approval before the refund,
     * so it agrees with the ledger even when the saga turned round before it recorded the charge.
     */
    refund: z.object({ reason, gatewayRef: z.string().min(1).max(128).optional() }).strict(),
  },
  // Settlement is the platform's business (the settle route, the fulfilment saga): a tenant key
  // could otherwise mark a payment approved with no charge at all.
  internal: ["settle", "approve", "decline", "refund"],
  events: {
    PaymentSubmitted: event<{ orderId: string; amount: number; currency: string }>(),
    SettlementClaimed: event<{ chargeKey: string }>(),
    PaymentApproved: event<{ gatewayRef: string }>(),
    PaymentDeclined: event<{ reason: string }>(),
    PaymentRefunded: event<{ reason: string }>(),
  },
  decide(state, command) {
    switch (command.type) {
      case "submit":
        if (state.status === "declined" || state.status === "refunded") {
          return reject("payment-closed", `this payment is ${state.status}; it cannot be submitted again`);
        }
        if (state.status === "none") return [{ type: "PaymentSubmitted", data: command.data }];
        // A repeat is the same payment only if every detail matches: a currency that differs would
        // leave the payment saying one thing while its charge (made in the order's) says another.
        if (
          state.orderId === command.data.orderId &&
          state.amount === command.data.amount &&
          state.currency === command.data.currency
        )
          return [];
        return reject("payment-exists", "this payment was already submitted with other details");
      case "settle":
        // The claim: the first caller fixes the key; the same key again is a no-op (its caller
        // charges under it and the gateway answers the one recorded outcome); another key is refused.
        if (state.status === "none") return reject("payment-not-found", "there is no such payment: submit it first");
        if (state.status === "approved") return [];
        if (state.status !== "submitted") return reject("not-submitted", `the payment is ${state.status}`);
        if (state.chargeKey === null) return [{ type: "SettlementClaimed", data: command.data }];
        if (state.chargeKey === command.data.chargeKey) return [];
        return reject("settlement-claimed", "the settlement was claimed under another charge key");
      case "approve":
        if (state.status === "none") return reject("payment-not-found", "there is no such payment: submit it first");
        return state.status === "submitted" ? [{ type: "PaymentApproved", data: command.data }] : [];
      case "decline":
        // A decline of a payment never submitted (a compensation that overtook its submission)
        // still closes it, so the late submission is refused.
        return state.status === "none" || state.status === "submitted"
          ? [{ type: "PaymentDeclined", data: command.data }]
          : [];
      case "refund":
        // Brings the payment to agree with a gateway whose charge was refunded, or voided before
        // it was made: an approved payment is refunded, one not yet settled (or never submitted)
        // is declined and closed.
        // is declined and closed, unless the gateway says it had charged it (`gatewayRef`): then the
        // approval it never recorded comes first, and the refund after it. Only a refund that found
        // no charge records a decline.
        if (state.status === "approved") return [{ type: "PaymentRefunded", data: { reason: command.data.reason } }];
        if (state.status === "submitted" && command.data.gatewayRef !== undefined) {
          return [
            { type: "PaymentApproved", data: { gatewayRef: command.data.gatewayRef } },
            { type: "PaymentRefunded", data: { reason: command.data.reason } },
          ];
        }
        if (state.status === "none" || state.status === "submitted")
          return [{ type: "PaymentDeclined", data: { reason: command.data.reason } }];
        return [];
    }
  },
  evolve(state, event): PaymentState {
    switch (event.type) {
      case "PaymentSubmitted":
        return { ...state, status: "submitted", ...event.data };
      case "SettlementClaimed":
        return { ...state, chargeKey: event.data.chargeKey };
      case "PaymentApproved":
        return { ...state, status: "approved", gatewayRef: event.data.gatewayRef };
      case "PaymentDeclined":
        return { ...state, status: "declined", reason: event.data.reason };
      case "PaymentRefunded":
        return { ...state, status: "refunded", reason: event.data.reason };
    }
  },
});

export type PaymentEvent = EventsOf<typeof payments.definition.events>;
