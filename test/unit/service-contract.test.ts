// A service's contract (src/core/model/service-contract.ts): what a saga's call built from it
// carries, and what a service implementing it answers before and after its handlers run.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { TaskOutcome } from "../../src/core/model/saga.js";
import { defineServiceContract, implementContract, serviceCall } from "../../src/core/model/service-contract.js";

const mailer = defineServiceContract("mailer", {
  send: z.object({ to: z.string().email(), subject: z.string().default("(no subject)") }).strict(),
  cancel: z.object({ messageId: z.string() }),
});

interface Context {
  readonly tenant: string;
}

/** A mailer whose handlers record what they were given. */
function recordingMailer() {
  const seen: { operation: string; request: unknown; tenant: string }[] = [];
  const service = implementContract(mailer, {
    async send(request, { tenant }: Context): Promise<TaskOutcome> {
      seen.push({ operation: "send", request, tenant });
      return { kind: "done", result: { messageId: `m-${request.to}` } };
    },
    async cancel(request, { tenant }: Context): Promise<TaskOutcome> {
      seen.push({ operation: "cancel", request, tenant });
      return { kind: "done", result: null };
    },
  });
  return { service, seen };
}

describe("a call built from a contract", () => {
  it("names the contract's service, the operation and the request", () => {
    expect(serviceCall(mailer, "send", { to: "a@example.com" })).toEqual({
      kind: "call",
      service: "mailer",
      operation: "send",
      data: { to: "a@example.com" },
    });
  });

  it("carries the resource's idempotency key only when one is given", () => {
    expect(serviceCall(mailer, "cancel", { messageId: "m-1" }, { idempotencyKey: "m-1/cancel" })).toMatchObject({
      idempotencyKey: "m-1/cancel",
    });
    expect(serviceCall(mailer, "cancel", { messageId: "m-1" })).not.toHaveProperty("idempotencyKey");
  });
});

describe("a service implementing a contract", () => {
  it("gives the operation's handler the request its schema parsed, and the call's context", async () => {
    const { service, seen } = recordingMailer();
    const outcome = await service.call("send", { to: "a@example.com" }, { tenant: "t-1" });
    expect(outcome).toEqual({ kind: "done", result: { messageId: "m-a@example.com" } });
    expect(seen).toEqual([
      { operation: "send", request: { to: "a@example.com", subject: "(no subject)" }, tenant: "t-1" },
    ]);
  });

  it("rejects a request its schema refuses, naming the field, without running the handler", async () => {
    const { service, seen } = recordingMailer();
    const outcome = await service.call("send", { to: "not an address", bcc: "x" }, { tenant: "t-1" });
    expect(outcome.kind).toBe("rejected");
    expect(outcome.kind === "rejected" && outcome.reason).toMatch(/^invalid send request: to: .*; \(body\): /);
    expect(seen).toEqual([]);
  });

  it("rejects a request that is not plain JSON, such as one whose fields are inherited", async () => {
    const { service, seen } = recordingMailer();
    const inherited = Object.create({ to: "a@example.com" }) as Record<string, unknown>;
    const outcome = await service.call("send", inherited, { tenant: "t-1" });
    expect(outcome).toEqual({
      kind: "rejected",
      reason: "invalid send request: request is an object of another class than Object",
    });
    expect(seen).toEqual([]);
  });

  it("rejects an operation its contract does not declare, members of Object.prototype included", async () => {
    const { service, seen } = recordingMailer();
    for (const operation of ["archive", "toString", "constructor", "__proto__", "hasOwnProperty", ""]) {
      expect(await service.call(operation, {}, { tenant: "t-1" }), operation).toEqual({
        kind: "rejected",
        reason: `the mailer service has no operation ${JSON.stringify(operation)}`,
      });
    }
    expect(seen).toEqual([]);
  });

  it("quotes at most a name's length of an unknown operation in its reason", async () => {
    const { service } = recordingMailer();
    const outcome = await service.call("x".repeat(100_000), {}, { tenant: "t-1" });
    expect(outcome).toEqual({ kind: "rejected", reason: `the mailer service has no operation "${"x".repeat(64)}…"` });
  });

  it("keeps the contract it implements, for defineApp's check of its name", () => {
    expect(recordingMailer().service.contract).toBe(mailer);
  });

  it("refuses handlers that miss an operation, or answer one the contract does not declare (code the compiler did not check)", () => {
    const send = async (): Promise<TaskOutcome> => ({ kind: "done", result: null });
    const loose: Record<string, unknown> = { send };
    expect(() => implementContract(mailer, loose as never)).toThrow(
      /service mailer: no handler for its operation cancel/,
    );
    const extra: Record<string, unknown> = { send, cancel: send, archive: send };
    expect(() => implementContract(mailer, extra as never)).toThrow(
      /service mailer: a handler for archive, an operation its contract does not declare/,
    );
    const notFunctions: Record<string, unknown> = { send, cancel: "no" };
    expect(() => implementContract(mailer, notFunctions as never)).toThrow(/no handler for its operation cancel/);
  });
});

describe("a contract's definition", () => {
  const request = z.object({});

  it("refuses a service name outside the grammar", () => {
    expect(() => defineServiceContract("Mailer", { send: request })).toThrow(/service name "Mailer": must be 1-40/);
  });

  it("refuses a contract without operations", () => {
    expect(() => defineServiceContract("mailer", {})).toThrow(/service mailer: its contract declares no operation/);
  });

  it("refuses an operation named like a member of Object.prototype, or outside the grammar", () => {
    expect(() => defineServiceContract("mailer", { toString: request })).toThrow(
      /service mailer: operation name "toString": must not be a member of Object.prototype/,
    );
    expect(() => defineServiceContract("mailer", { "send mail": request })).toThrow(
      /service mailer: operation name "send mail": must be 1-64/,
    );
  });
});
