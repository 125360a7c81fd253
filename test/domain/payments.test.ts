// The payment entity: submitted once, its settlement claimed under one key, settled once, refunded.
import { describe, expect, it } from "vitest";
import { describeFieldErrors } from "../../src/core/model/entity.js";
import { paymentChargeKey, payments, type PaymentEvent } from "../../src/domain/payments.js";
import { checkAdversarialIds, scenario } from "../../src/testing/given-when-then.js";

const submitted: PaymentEvent = { type: "PaymentSubmitted", data: { orderId: "o1", amount: 20, currency: "EUR" } };
const approved: PaymentEvent = { type: "PaymentApproved", data: { gatewayRef: "g1" } };
const refunded: PaymentEvent = { type: "PaymentRefunded", data: { reason: "r" } };

describe("payments", () => {
  it("submits a payment", () => {
    scenario(payments).given().when("submit", { orderId: "o1", amount: 20, currency: "EUR" }).expectEvents([submitted]);
  });

  it("treats the same submission again as a no-op, and another one as a conflict", () => {
    scenario(payments).given(submitted).when("submit", { orderId: "o1", amount: 20, currency: "EUR" }).expectEvents([]);
    scenario(payments)
      .given(submitted)
      .when("submit", { orderId: "o1", amount: 99, currency: "EUR" })
      .expectRejection("payment-exists");
  });

  it("refuses the same submission in another currency as a conflict, not a repeat", () => {
    // Else the payment would say 20 JPY while its order's charge is made in euros.
    scenario(payments)
      .given(submitted)
      .when("submit", { orderId: "o1", amount: 20, currency: "JPY" })
      .expectRejection("payment-exists");
  });

  it("settles once: a second verdict changes nothing", () => {
    scenario(payments)
      .given(submitted)
      .when("approve", { gatewayRef: "g1" })
      .expectEvents([{ type: "PaymentApproved", data: { gatewayRef: "g1" } }]);
    scenario(payments)
      .given(submitted, { type: "PaymentApproved", data: { gatewayRef: "g1" } })
      .when("decline", { reason: "late" })
      .expectEvents([]);
  });

  it("claims the settlement under one charge key: the same key again is a no-op, another is refused", () => {
    const claimed: PaymentEvent = { type: "SettlementClaimed", data: { chargeKey: paymentChargeKey("p1") } };
    scenario(payments)
      .given(submitted)
      .when("settle", { chargeKey: paymentChargeKey("p1") })
      .expectEvents([claimed])
      .expectState({ chargeKey: "payments/p1/charge" });
    scenario(payments)
      .given(submitted, claimed)
      .when("settle", { chargeKey: paymentChargeKey("p1") })
      .expectEvents([]);
    scenario(payments)
      .given(submitted, claimed)
      .when("settle", { chargeKey: "someone-else/charge" })
      .expectRejection("settlement-claimed");
  });

  it("refuses a settlement claim for a payment that was declined or refunded", () => {
    scenario(payments)
      .given(submitted, { type: "PaymentDeclined", data: { reason: "r" } })
      .when("settle", { chargeKey: "k" })
      .expectRejection("not-submitted");
    scenario(payments)
      .given(submitted, approved, refunded)
      .when("settle", { chargeKey: "k" })
      .expectRejection("not-submitted");
  });

  it("refunds an approved payment, so it agrees with the gateway after a compensation refund", () => {
    scenario(payments)
      .given(submitted, approved)
      .when("refund", { reason: "r" })
      .expectEvents([refunded])
      .expectState({ status: "refunded" });
    scenario(payments).given(submitted, approved, refunded).when("refund", { reason: "r" }).expectEvents([]);
  });

  it("records a charge the gateway approved and then refunded as approved then refunded, not declined", () => {
    const claimed: PaymentEvent = { type: "SettlementClaimed", data: { chargeKey: paymentChargeKey("o1") } };
    scenario(payments)
      .given(submitted, claimed)
      .when("refund", { reason: "r", gatewayRef: "g1" })
      .expectEvents([approved, refunded])
      .expectState({ status: "refunded", gatewayRef: "g1" });
    scenario(payments)
      .given(submitted, approved)
      .when("refund", { reason: "r", gatewayRef: "g1" })
      .expectEvents([refunded]);
    scenario(payments)
      .given(submitted, approved, refunded)
      .when("refund", { reason: "r", gatewayRef: "g1" })
      .expectEvents([]);
  });

  it("describes an invalid command in words a person reads (as saga and order reasons carry it), not as JSON", () => {
    const parsed = payments.parseCommand("submit", { orderId: "o1", amount: 3e9, currency: "eur" });
    const reason = parsed && !parsed.ok ? describeFieldErrors(parsed.errors) : "";
    expect(reason).toMatch(/^amount: .+; currency: an ISO 4217 code such as EUR$/);
    expect(reason).not.toMatch(/[{}[\]"]/);
  });

  it("declines a payment refunded before it was settled (its charge was voided)", () => {
    scenario(payments)
      .given(submitted)
      .when("refund", { reason: "r" })
      .expectEvents([{ type: "PaymentDeclined", data: { reason: "r" } }]);
  });

  it("leaves a tombstone when a compensation overtakes the submission: the late submit is refused", () => {
    const closed = scenario(payments)
      .given()
      .when("refund", { reason: "r" })
      .expectEvents([{ type: "PaymentDeclined", data: { reason: "r" } }]);
    scenario(payments)
      .given(...(closed.decision as PaymentEvent[]))
      .when("submit", { orderId: "o1", amount: 20, currency: "EUR" })
      .expectRejection("payment-closed");
    scenario(payments)
      .given({ type: "PaymentDeclined", data: { reason: "r" } })
      .when("decline", { reason: "again" })
      .expectEvents([]);
    scenario(payments)
      .given()
      .when("decline", { reason: "r" })
      .expectEvents([{ type: "PaymentDeclined", data: { reason: "r" } }]);
  });

  it("ignores a late approval after the payment was declined or refunded", () => {
    scenario(payments)
      .given(submitted, { type: "PaymentDeclined", data: { reason: "r" } })
      .when("approve", { gatewayRef: "g1" })
      .expectEvents([]);
    scenario(payments).given(submitted, approved, refunded).when("approve", { gatewayRef: "g2" }).expectEvents([]);
  });

  it("cannot settle what was never submitted", () => {
    scenario(payments).given().when("approve", { gatewayRef: "g1" }).expectRejection("payment-not-found");
  });

  it("treats ids named like Object.prototype members (__proto__, constructor, toString…) as plain ids", () => {
    checkAdversarialIds(payments, {
      commands: [
        { command: "settle", body: { chargeKey: "k" } },
        { command: "submit", body: { orderId: "o1", amount: 20, currency: "EUR" } },
        { command: "settle", body: { chargeKey: "k" } },
        { command: "approve", body: { gatewayRef: "g1" } },
        { command: "refund", body: { reason: "r" } },
        { command: "submit", body: { orderId: "o1", amount: 20, currency: "EUR" } },
      ],
      invariants: { "a settled payment was claimed": (s) => s.status !== "approved" || s.chargeKey !== null },
    });
  });
});
