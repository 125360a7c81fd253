// The payment entity: submitted once, settled once.
import { describe, it } from "vitest";
import { payments, type PaymentEvent } from "../../src/domain/payments.js";
import { scenario } from "../../src/testing/given-when-then.js";

const submitted: PaymentEvent = { type: "PaymentSubmitted", data: { orderId: "o1", amount: 20, currency: "EUR" } };

describe("payments", () => {
  it("submits a payment", () => {
    scenario(payments).given().when("submit", { orderId: "o1", amount: 20, currency: "EUR" }).expectEvents([submitted]);
  });

  it("treats the same submission again as a no-op, and another one as a conflict", () => {
    scenario(payments).given(submitted).when("submit", { orderId: "o1", amount: 20, currency: "EUR" }).expectEvents([]);
    scenario(payments).given(submitted).when("submit", { orderId: "o1", amount: 99, currency: "EUR" }).expectRejection("payment-exists");
  });

  it("settles once: a second verdict changes nothing", () => {
    scenario(payments).given(submitted).when("approve", { gatewayRef: "g1" }).expectEvents([{ type: "PaymentApproved", data: { gatewayRef: "g1" } }]);
    scenario(payments).given(submitted, { type: "PaymentApproved", data: { gatewayRef: "g1" } }).when("decline", { reason: "late" }).expectEvents([]);
  });

  it("cannot settle what was never submitted", () => {
    scenario(payments).given().when("approve", { gatewayRef: "g1" }).expectRejection("no-payment");
  });
});
