// Specifications of the saga object's effect sequence (src/core/saga/saga-runner.ts), which the
// Durable Object and the simulator both run: what a delivered fact records and wakes, what a
// drive runs and records, what a failure, a rejection, a timeout, the pivot and the operator's
// retry do, what a fresh incarnation picks up from the log, and when the status is mirrored. The
// ports here are a plain log, an alarm and a clock the test moves, and entities and a service
// that answer what each test scripts.
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { z } from "zod";
import {
  defineUntypedSaga,
  type SagaDefinition,
  type SagaEvent,
  type SagaStage,
  type ServiceCallAction,
  type TaskOutcome,
} from "../../src/core/model/saga.js";
import { defineServiceContract, type ServiceContract } from "../../src/core/model/service-contract.js";
import type { CommandEnvelope, CommandOutcome } from "../../src/core/protocol/entity-protocol.js";
import { CallTimedOut } from "../../src/core/resilience/timeout.js";
import {
  COMMAND_TIMEOUT_MS,
  MIRROR_RETRY_MS,
  SagaRunner,
  type SagaRunnerPorts,
  type SagaStatusRow,
} from "../../src/core/saga/saga-runner.js";

const NOW = 1_767_225_600_000;
const POLICY = { retry: { maxAttempts: 3, maxCompensationAttempts: 3, baseMs: 100, maxMs: 1_000 } };
const ADDRESS = { tenant: "t1", saga: "fulfil", instanceKey: "o-1" };

/** A fact of order o-1 (`Placed` starts the saga). */
function fact(seq: number, type: string): RecordedEvent {
  return {
    seq,
    type,
    schemaVersion: 1,
    data: {},
    meta: {
      eventId: `ev-${seq}`,
      tenant: "t1",
      entityType: "orders",
      entityId: "o-1",
      hlc: `hlc-${seq}`,
      recordedAt: new Date(NOW).toISOString(),
      correlationId: "c",
      causationId: null,
      idempotencyKey: null,
      traceparent: null,
    },
  };
}

const reserve: SagaStage<unknown> = {
  name: "reserve",
  timeoutMs: 60_000,
  tasks: () => [
    {
      key: "reserve",
      run: { kind: "command", entityType: "inventory", entityId: "sku-1", command: "reserve", data: { qty: 1 } },
      compensate: { kind: "command", entityType: "inventory", entityId: "sku-1", command: "release", data: {} },
    },
  ],
};

const notify: SagaStage<unknown> = {
  name: "notify",
  timeoutMs: 60_000,
  tasks: () => [{ key: "notify", run: { kind: "call", service: "mail", operation: "send", data: {} } }],
};

/** A saga over `stages`; when compensated it cancels the order. */
function saga(...stages: SagaStage<unknown>[]): SagaDefinition<unknown> {
  return defineUntypedSaga({
    name: "fulfil",
    startedBy: { entityType: "orders", eventType: "Placed" },
    instanceOf: (f) => f.meta.entityId,
    start: () => ({}),
    stages,
    finallyCompensate: () => [
      { key: "cancel", run: { kind: "command", entityType: "orders", entityId: "o-1", command: "cancel", data: {} } },
    ],
  });
}

const ACCEPTED: CommandOutcome = {
  ok: true,
  replayed: false,
  result: { type: "inventory", id: "sku-1", version: 1, events: [] },
};

function problem(status: number, detail: string, extra: { code?: string; retryAfter?: number } = {}): CommandOutcome {
  return { ok: false, problem: { type: "about:blank", title: detail, status, detail, ...extra } };
}

/** One saga object's storage, alarm and clock, and the world it calls, as a runner sees them. */
class SagaObject {
  readonly log: SagaEvent[] = [];
  now = NOW;
  alarm: number | null = null;
  prepared = 0;
  /** Every command sent, as `entity.command key`. */
  readonly sent: string[] = [];
  readonly envelopes: CommandEnvelope[] = [];
  readonly rows: SagaStatusRow[] = [];
  readonly calls: string[] = [];
  /** Answers each command; by default accepted. */
  answer: (envelope: CommandEnvelope) => Promise<CommandOutcome> = async () => ACCEPTED;
  /** Answers each service call; by default done. */
  serviceAnswer: () => Promise<TaskOutcome> = async () => ({ kind: "done", result: null });
  /** The requests the `mail` service was sent, in order. */
  readonly callData: unknown[] = [];
  /** The contract the `mail` service implements; none (a service written by hand) by default. */
  mailContract: ServiceContract | undefined = undefined;
  /** When set, `bounded` gives up at once (the time was up) and leaves the work running. */
  timeUp = false;
  mirrorFails = false;
  /** The alarm ports of the current incarnation; set false to make them hang (the object evicted there). */
  alarmWorks = true;

  ports(): SagaRunnerPorts {
    return {
      storage: {
        read: () => [...this.log],
        prepare: async () => {
          this.prepared++;
        },
        append: (events, firstSeq) => {
          expect(firstSeq).toBe(this.log.length + 1);
          this.log.push(...events);
        },
      },
      now: () => this.now,
      getAlarm: async () => (this.alarmWorks ? this.alarm : new Promise<never>(() => {})),
      setAlarm: async (at) => {
        if (!this.alarmWorks) return new Promise<never>(() => {});
        this.alarm = at;
      },
      bounded: async (work, ms) => {
        const answer = work();
        if (this.timeUp) {
          expect(ms).toBe(COMMAND_TIMEOUT_MS);
          throw new CallTimedOut(ms);
        }
        return answer;
      },
      parseCommand: (entityType, command, data) =>
        entityType === "inventory" || entityType === "orders"
          ? { ok: true, command: { type: command, data } }
          : undefined,
      fingerprint: async (command) => `fp:${command}`,
      command: (envelope) => {
        this.sent.push(`${envelope.entityType}.${envelope.command} ${envelope.idempotencyKey}`);
        this.envelopes.push(envelope);
        return this.answer(envelope);
      },
      service: (name) =>
        name === "mail"
          ? {
              contract: this.mailContract,
              call: (operation, data, context) => {
                this.calls.push(`${name}.${operation} ${context.idempotencyKey}`);
                this.callData.push(data);
                return this.serviceAnswer();
              },
            }
          : undefined,
      mirror: async (row) => {
        if (this.mirrorFails) throw new Error("D1 unavailable");
        this.rows.push(row);
      },
      log: () => {},
    };
  }

  /** A runner as a freshly woken object builds it over this storage. */
  runner(definition: SagaDefinition<unknown>): SagaRunner {
    return new SagaRunner(this.ports(), ADDRESS, definition, POLICY);
  }

  types(): string[] {
    return this.log.map((e) => e.type);
  }
}

describe("delivering facts", () => {
  it("records the start of the saga from its starting fact and wakes the alarm now", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve));
    expect(await runner.deliver([fact(1, "Placed")])).toBe(2);
    expect(object.types()).toEqual(["FactObserved", "SagaStarted"]);
    expect(object.alarm).toBe(NOW);
    expect(object.prepared).toBe(1);
  });

  it("records nothing for a fact delivered again, and leaves the alarm alone", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    object.alarm = NOW + 500;
    expect(await runner.deliver([fact(1, "Placed")])).toBe(0);
    expect(object.log).toHaveLength(2);
    expect(object.alarm).toBe(NOW + 500);
  });

  it("observes, and logs as the app's mistake, another starting fact for an instance that has started", async () => {
    const object = new SagaObject();
    const logged: string[] = [];
    const runner = new SagaRunner(
      { ...object.ports(), log: (level, message, fields) => logged.push(`${level} ${message} ${fields.eventId}`) },
      ADDRESS,
      saga(reserve),
      POLICY,
    );
    await runner.deliver([fact(1, "Placed")]);
    // Another Placed (another event id) that instanceOf also maps to o-1.
    expect(await runner.deliver([fact(2, "Placed")])).toBe(1);
    expect(object.types()).toEqual(["FactObserved", "SagaStarted", "FactObserved"]);
    expect(logged).toEqual(["warn saga already started: another starting fact is ignored ev-2"]);
    // The same starting fact again is a duplicate, not a mistake.
    await runner.deliver([fact(1, "Placed")]);
    expect(logged).toHaveLength(1);
  });

  it("records nothing and prepares no storage for a fact of an instance that never started", async () => {
    const object = new SagaObject();
    expect(await object.runner(saga(reserve)).deliver([fact(2, "Paid")])).toBe(0);
    expect(object.log).toHaveLength(0);
    expect(object.prepared).toBe(0);
    expect(object.alarm).toBeNull();
  });

  it("starts the saga once when a twin delivery arrives while storage is being prepared", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve));
    await Promise.all([runner.deliver([fact(1, "Placed")]), runner.deliver([fact(1, "Placed")])]);
    expect(object.types()).toEqual(["FactObserved", "SagaStarted"]);
  });
});

describe("a drive", () => {
  it("runs the due command under the task's stable key, records it done, completes and mirrors the status", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.sent).toEqual(["inventory.reserve t1:fulfil:o-1/reserve"]);
    expect(object.envelopes[0]).toMatchObject({
      correlationId: "t1:fulfil:o-1",
      causationId: "ev-1",
      causeHlc: "hlc-1",
    });
    expect(object.types()).toEqual(["FactObserved", "SagaStarted", "StageEntered", "TaskDone", "SagaCompleted"]);
    expect(object.rows.at(-1)).toMatchObject({ status: "completed", stage: "reserve", version: 5 });
  });

  it("mirrors a status only when it changed", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    const mirrored = object.rows.length;
    await runner.alarmFired();
    expect(object.rows).toHaveLength(mirrored);
  });

  it("calls a service under the task's key and records its answer", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(notify));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.calls).toEqual(["mail.send t1:fulfil:o-1/notify"]);
    expect(runner.state.status).toBe("completed");
  });

  it("counts a service's result that is not plain JSON as a failed attempt, naming where, and records no result", async () => {
    const object = new SagaObject();
    object.serviceAnswer = async () => ({ kind: "done", result: { sentAt: new Date(NOW) } });
    const runner = object.runner(saga(notify));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.log.find((e) => e.type === "TaskDone")).toBeUndefined();
    expect(runner.state.attempts.notify).toMatchObject({
      count: 1,
      lastError: "service mail answered send with a result that is not plain JSON: result.sentAt is a Date",
    });
  });

  it("records a task its service defers without using up an attempt, and wakes when it said", async () => {
    const object = new SagaObject();
    object.serviceAnswer = async () => ({ kind: "deferred", reason: "breaker open", retryAfterMs: 700 });
    const runner = object.runner(saga(notify));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.types().at(-1)).toBe("TaskDeferred");
    expect(runner.state.attempts.notify?.count).toBe(0);
    expect(object.alarm).toBe(NOW + 700);
  });

  it("rejects a call to a service the saga does not declare, even one the app provides, and turns round", async () => {
    const object = new SagaObject();
    const runner = object.runner(defineUntypedSaga({ ...saga(reserve, notify), services: ["sms"] }));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.calls).toEqual([]);
    expect(runner.state.reason).toBe("notify was rejected: saga fulfil does not declare service mail");
    expect(object.sent).toContain("inventory.release t1:fulfil:o-1/reserve/undo");
  });

  it("yields after its bounded number of rounds and sets the alarm to carry on", async () => {
    const object = new SagaObject();
    // Each stage takes two rounds (entered, then its task run): 80 in all.
    const stages = Array.from({ length: 40 }, (_, i) => ({
      ...notify,
      name: `s${i}`,
      tasks: () => [{ key: `n${i}`, run: { kind: "call" as const, service: "mail", operation: "send", data: {} } }],
    }));
    const runner = object.runner(saga(...stages));
    await runner.deliver([fact(1, "Placed")]);
    object.alarm = null;
    await runner.alarmFired();
    expect(runner.state.status).toBe("running");
    expect(object.alarm).toBe(NOW);
  });
});

describe("calls checked against their service's contract", () => {
  /** The `mail` service's contract: `send` a message of 1-100 characters to an address. */
  const mailContract = defineServiceContract("mail", {
    send: z.object({ to: z.string().min(1), text: z.string().min(1).max(100) }).strict(),
  });
  /** A saga whose one stage sends `call` (a literal call task, as untyped or hand-built code writes it). */
  const calling = (call: Omit<ServiceCallAction, "kind" | "service">) =>
    saga(reserve, {
      name: "notify",
      timeoutMs: 60_000,
      tasks: () => [{ key: "notify", run: { kind: "call", service: "mail", ...call } }],
    });

  it("rejects a literal call naming an operation its service's contract lacks, without reaching the service, and turns round", async () => {
    const object = new SagaObject();
    object.mailContract = mailContract;
    const runner = object.runner(calling({ operation: "sned", data: { to: "a@b", text: "hi" } }));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.calls).toEqual([]);
    expect(runner.state.reason).toBe(
      "notify was rejected: invalid call mail.sned: the mail contract declares no such operation",
    );
    expect(object.sent).toContain("inventory.release t1:fulfil:o-1/reserve/undo");
  });

  it("rejects a literal call whose request its operation's schema refuses, naming service, operation and field", async () => {
    const object = new SagaObject();
    object.mailContract = mailContract;
    const runner = object.runner(calling({ operation: "send", data: { to: "a@b", text: "" } }));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.calls).toEqual([]);
    expect(runner.state.reason).toMatch(/^notify was rejected: invalid call mail\.send: text: .*>=1 characters/);
  });

  it("sends a call its service's contract accepts, with the request as the saga built it", async () => {
    const object = new SagaObject();
    object.mailContract = mailContract;
    const runner = object.runner(calling({ operation: "send", data: { to: "a@b", text: "hi" } }));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.calls).toEqual(["mail.send t1:fulfil:o-1/notify"]);
    expect(object.callData).toEqual([{ to: "a@b", text: "hi" }]);
    expect(runner.state.status).toBe("completed");
  });

  it("leaves a service with no contract (written by hand) to check its calls itself", async () => {
    const object = new SagaObject();
    const runner = object.runner(calling({ operation: "sned", data: {} }));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.calls).toEqual(["mail.sned t1:fulfil:o-1/notify"]);
  });

  it("rejects, without reaching the service, a call an earlier version recorded with its own key outside the Idempotency-Key grammar", async () => {
    const object = new SagaObject();
    await object.runner(saga(notify)).deliver([fact(1, "Placed")]);
    // What a version that did not check a call's own key when its stage was entered left in the log.
    const run: ServiceCallAction = {
      kind: "call",
      service: "mail",
      operation: "send",
      data: {},
      idempotencyKey: "mail/o 1",
    };
    object.log.push({
      type: "StageEntered",
      stage: 0,
      tasks: [{ key: "notify", run }],
      deadline: NOW + 60_000,
      at: NOW,
    });
    const runner = object.runner(saga(notify));
    await runner.alarmFired();
    expect(object.calls).toEqual([]);
    expect(runner.state.reason).toBe(
      'notify was rejected: call mail.send: its idempotencyKey holds " " (U+0020) at character 7 (1-255 visible ASCII, no spaces)',
    );
  });
});

describe("a compensating call its service's contract refuses", () => {
  /** The `mail` service as first deployed: it can send, but its contract lacks the recall. */
  const sendOnly = defineServiceContract("mail", { send: z.object({ to: z.string() }) });
  /** The `mail` service once fixed: it declares the recall. */
  const withRecall = defineServiceContract("mail", {
    send: z.object({ to: z.string() }),
    recall: z.object({ to: z.string() }),
  });
  /** A saga reserving stock, undone by recalling the mail; the entity refuses the reserve, so it turns round. */
  const recalling = saga({
    ...reserve,
    tasks: () => [
      {
        key: "reserve",
        run: { kind: "command", entityType: "inventory", entityId: "sku-1", command: "reserve", data: { qty: 1 } },
        compensate: { kind: "call", service: "mail", operation: "recall", data: { to: "a@b" } },
      },
    ],
  });
  const error =
    "compensating reserve (mail.recall) is refused: invalid call mail.recall: the mail contract declares no such operation";

  /** The object once the refused reserve turned the saga round and the recall stopped it. */
  async function stopped(): Promise<{ object: SagaObject; runner: SagaRunner }> {
    const object = new SagaObject();
    object.mailContract = sendOnly;
    object.answer = async (e) => (e.command === "reserve" ? problem(422, "no stock", { code: "no-stock" }) : ACCEPTED);
    const runner = object.runner(recalling);
    await runner.deliver([fact(1, "Placed")]);
    object.alarm = null;
    await runner.alarmFired();
    return { object, runner };
  }

  it("stops the saga for attention in the same drive, naming the call and why, without reaching the service or spending an attempt", async () => {
    const { object, runner } = await stopped();
    expect(runner.state).toMatchObject({
      status: "attention",
      error,
      reason: "reserve was rejected: no-stock: no stock",
    });
    expect(object.calls).toEqual([]);
    expect(object.types()).not.toContain("CompensationFailed");
    expect(object.types().slice(-2)).toEqual(["CompensationBegan", "AttentionNeeded"]);
    expect(object.alarm).toBeNull();
    expect(object.rows.at(-1)).toMatchObject({ status: "attention", error });
  });

  it("refuses the operator's retry as stopping the saga again, with the same error, recording nothing, while the contract still refuses the call", async () => {
    const { object, runner } = await stopped();
    const logged = object.log.length;
    expect(await runner.retry("operator")).toEqual({ ok: false, refusal: { type: "escalates-again", error } });
    expect(await runner.compensate("operator")).toEqual({ ok: false, refusal: { type: "escalates-again", error } });
    expect(object.log).toHaveLength(logged);
    expect(object.alarm).toBeNull();
  });

  it("lets the operator resolve the refused recall by hand: the saga then ends compensated without sending it", async () => {
    const { object, runner } = await stopped();
    expect(await runner.resolve("nope", "operator")).toEqual({
      ok: false,
      refusal: { type: "not-pending", key: "nope" },
    });
    expect(await runner.resolve("reserve", "tenant key k1")).toEqual({ ok: true });
    await runner.alarmFired();
    expect(runner.state.status).toBe("compensated");
    expect(object.calls).toEqual([]);
    // Who resolved which task is in the saga's log, before what the resolve did.
    expect(object.log.at(-5)).toEqual({
      type: "OperatorActed",
      action: "resolve",
      by: "tenant key k1",
      task: "reserve",
      at: expect.any(Number),
    });
    expect(object.types().slice(-4)).toEqual([
      "OperatorRetried",
      "CompensationResolved",
      "CompensationDone",
      "SagaCompensated",
    ]);
    expect(await runner.resolve("reserve", "operator")).toEqual({
      ok: false,
      refusal: { type: "not-pending", key: "reserve" },
    });
  });

  it("accepts the operator's retry once a contract declaring the call is deployed, and compensates", async () => {
    const { object } = await stopped();
    object.mailContract = withRecall;
    // The deploy: a fresh incarnation over the same log.
    const runner = object.runner(recalling);
    expect(await runner.retry("operator")).toEqual({ ok: true });
    await runner.alarmFired();
    expect(object.calls).toEqual(["mail.recall t1:fulfil:o-1/reserve/undo"]);
    expect(runner.state.status).toBe("compensated");
  });
});

describe("a compensating command its entity type cannot parse", () => {
  /** A saga reserving stock, undone by a command to an entity type the app lacks (a definition's mistake). */
  const releasingElsewhere = saga({
    ...reserve,
    tasks: () => [
      {
        key: "reserve",
        run: { kind: "command", entityType: "inventory", entityId: "sku-1", command: "reserve", data: { qty: 1 } },
        compensate: { kind: "command", entityType: "ghost", entityId: "sku-1", command: "release", data: {} },
      },
    ],
  });
  const error = "compensating reserve (ghost.release) is refused: invalid ghost.release: no such command";

  it("stops the saga for attention in the same drive without sending it or spending an attempt, and refuses the operator's retry", async () => {
    const object = new SagaObject();
    object.answer = async (e) => (e.command === "reserve" ? problem(422, "no stock", { code: "no-stock" }) : ACCEPTED);
    const runner = object.runner(releasingElsewhere);
    await runner.deliver([fact(1, "Placed")]);
    object.alarm = null;
    await runner.alarmFired();
    expect(runner.state).toMatchObject({ status: "attention", error });
    expect(object.sent.map((s) => s.split(" ")[0])).toEqual(["inventory.reserve"]);
    expect(object.types()).not.toContain("CompensationFailed");
    expect(object.alarm).toBeNull();
    const logged = object.log.length;
    expect(await runner.retry("operator")).toEqual({ ok: false, refusal: { type: "escalates-again", error } });
    expect(object.log).toHaveLength(logged);
  });
});

describe("a compensating command to an entity id outside the URL grammar", () => {
  it("stops the saga for attention at once, since its entity would refuse it on every attempt", async () => {
    const undoingElsewhere = saga({
      ...reserve,
      tasks: () => [
        {
          key: "reserve",
          run: { kind: "command", entityType: "inventory", entityId: "sku-1", command: "reserve", data: { qty: 1 } },
          compensate: { kind: "command", entityType: "inventory", entityId: "sku/1", command: "release", data: {} },
        },
      ],
    });
    const object = new SagaObject();
    object.answer = async (e) => (e.command === "reserve" ? problem(422, "no stock", { code: "no-stock" }) : ACCEPTED);
    const runner = object.runner(undoingElsewhere);
    await runner.deliver([fact(1, "Placed")]);
    object.alarm = null;
    await runner.alarmFired();
    expect(runner.state).toMatchObject({
      status: "attention",
      error:
        'compensating reserve (inventory.release) is refused: invalid inventory.release: "sku/1" is not an entity id',
    });
    expect(object.sent.map((s) => s.split(" ")[0])).toEqual(["inventory.reserve"]);
  });
});

describe("failures", () => {
  it("records a failed command and sets the alarm for its backoff", async () => {
    const object = new SagaObject();
    object.answer = async () => problem(503, "busy");
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    const failed = object.log.at(-1);
    expect(failed?.type).toBe("TaskFailed");
    const retryAt = failed?.type === "TaskFailed" ? failed.retryAt : 0;
    expect(retryAt).toBeGreaterThanOrEqual(NOW);
    expect(retryAt).toBeLessThanOrEqual(NOW + POLICY.retry.maxMs);
    expect(object.alarm).toBe(retryAt);
  });

  it("waits at least the entity's Retry-After before trying again", async () => {
    const object = new SagaObject();
    object.answer = async () => problem(429, "backlog", { retryAfter: 30 });
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.alarm).toBe(NOW + 30_000);
  });

  it("counts a command whose RPC threw as a failed attempt", async () => {
    const object = new SagaObject();
    object.answer = async () => {
      throw new Error("network lost");
    };
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.log.at(-1)).toMatchObject({ type: "TaskFailed", error: "network lost" });
  });

  it("counts a command that did not answer in time as failed, and ignores its late answer", async () => {
    const object = new SagaObject();
    let answerLate: (outcome: CommandOutcome) => void = () => {};
    object.answer = () => new Promise((resolve) => (answerLate = resolve));
    object.timeUp = true;
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    answerLate(ACCEPTED);
    await Promise.resolve();
    expect(object.types().slice(-1)).toEqual(["TaskFailed"]);
    expect(object.log.at(-1)).toMatchObject({ error: `no answer within ${COMMAND_TIMEOUT_MS} ms` });
  });

  it("compensates what it attempted after the last attempt, newest first, then ends compensated", async () => {
    const object = new SagaObject();
    object.answer = async (e) => (e.command === "reserve" ? problem(503, "busy") : ACCEPTED);
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    for (let i = 0; i < POLICY.retry.maxAttempts + 2; i++) {
      object.now = object.alarm ?? object.now;
      await runner.alarmFired();
    }
    expect(object.sent.filter((s) => s.startsWith("inventory.reserve"))).toHaveLength(POLICY.retry.maxAttempts);
    expect(object.sent.slice(-2)).toEqual([
      "inventory.release t1:fulfil:o-1/reserve/undo",
      "orders.cancel t1:fulfil:o-1/cancel/undo",
    ]);
    expect(runner.state.status).toBe("compensated");
    expect(object.rows.at(-1)?.status).toBe("compensated");
  });

  it("compensates at once when the entity refuses a task", async () => {
    const object = new SagaObject();
    object.answer = async (e) => (e.command === "reserve" ? problem(422, "no stock", { code: "no-stock" }) : ACCEPTED);
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(runner.state.reason).toBe("reserve was rejected: no-stock: no stock");
    expect(runner.state.status).toBe("compensated");
  });

  it("refuses a command its entity cannot parse without sending it", async () => {
    const object = new SagaObject();
    const bad: SagaStage<unknown> = {
      ...reserve,
      tasks: () => [
        { key: "x", run: { kind: "command", entityType: "nowhere", entityId: "1", command: "go", data: {} } },
      ],
    };
    const runner = object.runner(saga(bad));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(object.sent.filter((s) => s.startsWith("nowhere"))).toEqual([]);
    expect(runner.state.reason).toBe("x was rejected: invalid nowhere.go: no such command");
  });

  it("retries a failed status write through the alarm", async () => {
    const object = new SagaObject();
    object.mirrorFails = true;
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(runner.state.status).toBe("completed");
    expect(object.alarm).toBe(NOW + MIRROR_RETRY_MS);
    object.mirrorFails = false;
    await runner.alarmFired();
    expect(object.rows.at(-1)?.status).toBe("completed");
  });
});

describe("the pivot and the operator", () => {
  const pivot: SagaStage<unknown> = { ...notify, name: "ship", pivot: true };

  it("escalates a task failing past the pivot for attention instead of compensating", async () => {
    const object = new SagaObject();
    object.serviceAnswer = async () => ({ kind: "failed", error: "mail down" });
    const runner = object.runner(saga(reserve, pivot));
    await runner.deliver([fact(1, "Placed")]);
    for (let i = 0; i < POLICY.retry.maxAttempts + 1; i++) {
      object.now = object.alarm ?? object.now;
      await runner.alarmFired();
    }
    expect(runner.state.status).toBe("attention");
    expect(object.sent.some((s) => s.includes("release"))).toBe(false);
    expect(object.rows.at(-1)?.status).toBe("attention");
  });

  it("resumes a saga needing attention forward on the operator's retry", async () => {
    const object = new SagaObject();
    object.serviceAnswer = async () => ({ kind: "failed", error: "mail down" });
    const runner = object.runner(saga(reserve, pivot));
    await runner.deliver([fact(1, "Placed")]);
    for (let i = 0; i < POLICY.retry.maxAttempts + 1; i++) {
      object.now = object.alarm ?? object.now;
      await runner.alarmFired();
    }
    object.serviceAnswer = async () => ({ kind: "done", result: null });
    object.alarm = null;
    expect(await runner.retry("operator")).toEqual({ ok: true });
    expect(object.alarm).toBe(object.now);
    await runner.alarmFired();
    expect(runner.state.status).toBe("completed");
  });

  it("refuses the operator's retry of a saga that needs no attention, saying its status", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve));
    expect(await runner.retry("operator")).toBeNull();
    await runner.deliver([fact(1, "Placed")]);
    expect(await runner.retry("operator")).toEqual({ ok: false, refusal: { type: "wrong-status", status: "running" } });
  });

  it("refuses the operator's retry of a saga it would stop again at once, recording nothing", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve, { ...reserve, name: "again" }));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    expect(runner.state).toMatchObject({ status: "attention", error: "stage again repeats task key reserve" });
    const logged = object.log.length;
    object.alarm = null;
    expect(await runner.retry("operator")).toEqual({
      ok: false,
      refusal: { type: "escalates-again", error: "stage again repeats task key reserve" },
    });
    expect(object.log).toHaveLength(logged);
    expect(object.alarm).toBeNull();
  });

  it("refuses to compensate a saga past its pivot, saying so", async () => {
    const object = new SagaObject();
    object.serviceAnswer = () => new Promise<never>(() => {});
    const runner = object.runner(saga(reserve, pivot));
    await runner.deliver([fact(1, "Placed")]);
    void runner.alarmFired();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(runner.state.pivotStage).toBe(1);
    expect(await runner.compensate("operator")).toEqual({
      ok: false,
      refusal: { type: "past-pivot", status: "running" },
    });
  });
});

describe("a fresh incarnation", () => {
  it("arms the alarm of an unfinished saga evicted between its append and its alarm", async () => {
    const object = new SagaObject();
    object.alarmWorks = false;
    void object.runner(saga(reserve)).deliver([fact(1, "Placed")]);
    await Promise.resolve();
    expect(object.log).toHaveLength(2);
    expect(object.alarm).toBeNull();
    object.alarmWorks = true;
    object.now += 1_000;
    const fresh = object.runner(saga(reserve));
    await fresh.resume();
    expect(object.alarm).toBe(object.now);
    await fresh.alarmFired();
    expect(fresh.state.status).toBe("completed");
  });

  it("leaves a finished saga without an alarm when it wakes", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    object.alarm = null;
    await object.runner(saga(reserve)).resume();
    expect(object.alarm).toBeNull();
  });

  it("folds the log and carries on from where the last one stopped, mirroring its status once", async () => {
    const object = new SagaObject();
    const runner = object.runner(saga(reserve, notify));
    await runner.deliver([fact(1, "Placed")]);
    await runner.alarmFired();
    const fresh = object.runner(saga(reserve, notify));
    expect(fresh.seq).toBe(object.log.length);
    expect(fresh.state).toEqual(runner.state);
    const mirrored = object.rows.length;
    await fresh.alarmFired();
    expect(object.rows).toHaveLength(mirrored + 1);
  });
});
