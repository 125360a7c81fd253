// A payment for an order: submitted, then settled by the external gateway as approved or
// declined. Settlement is idempotent: a second verdict for a settled payment changes nothing.
import { z } from "zod";
import { defineEntity, reject, type DomainEvent, type Rejection } from "../core/entity.js";
import { entityIdSchema } from "../core/identifiers.js";

export type PaymentStatus = "none" | "submitted" | "approved" | "declined";

export interface PaymentState {
  readonly status: PaymentStatus;
  readonly orderId: string | null;
  readonly amount: number;
  readonly currency: string | null;
  readonly gatewayRef: string | null;
  readonly reason: string | null;
}

export type PaymentEvent =
  | DomainEvent<"PaymentSubmitted", { orderId: string; amount: number; currency: string }>
  | DomainEvent<"PaymentApproved", { gatewayRef: string }>
  | DomainEvent<"PaymentDeclined", { reason: string }>;

export const payments = defineEntity({
  type: "payments",
  initialState: { status: "none", orderId: null, amount: 0, currency: null, gatewayRef: null, reason: null } as PaymentState,
  commands: {
    submit: z
      .object({
        orderId: entityIdSchema,
        amount: z.number().positive().max(1_000_000_000),
        currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as EUR"),
      })
      .strict(),
    approve: z.object({ gatewayRef: z.string().min(1).max(128) }).strict(),
    decline: z.object({ reason: z.string().min(1).max(500) }).strict(),
  },
  events: { PaymentSubmitted: {}, PaymentApproved: {}, PaymentDeclined: {} },
  decide(state, command): PaymentEvent[] | Rejection {
    switch (command.type) {
      case "submit":
        if (state.status === "none") return [{ type: "PaymentSubmitted", data: command.data }];
        if (state.orderId === command.data.orderId && state.amount === command.data.amount) return [];
        return reject("payment-exists", "this payment was already submitted with other details");
      case "approve":
      case "decline":
        if (state.status === "none") return reject("no-payment", "nothing has been submitted");
        if (state.status !== "submitted") return [];
        return command.type === "approve"
          ? [{ type: "PaymentApproved", data: command.data }]
          : [{ type: "PaymentDeclined", data: command.data }];
    }
  },
  evolve(state, event): PaymentState {
    switch (event.type) {
      case "PaymentSubmitted":
        return { ...state, status: "submitted", ...event.data };
      case "PaymentApproved":
        return { ...state, status: "approved", gatewayRef: event.data.gatewayRef };
      case "PaymentDeclined":
        return { ...state, status: "declined", reason: event.data.reason };
    }
  },
});
