// A given-when-then kit for sagas, driving the pure saga machine (src/core/model/saga.ts) as a host
// would, on a clock of its own: given these facts, then these commands; when a task is done,
// rejected or fails, then the next commands or these compensations. Expected commands are checked
// at compile time against the entities the saga was defined over. Framework-free: a failed
// expectation throws with both sides spelled out.
import type { AnyEntity, EntityType, RejectionCodeOf } from "../core/model/entity.js";
import type { RecordedEvent } from "../core/model/envelope.js";
import { canonicalJson } from "../core/protocol/fingerprint.js";
import {
  callRefusal,
  evolve,
  factEvents,
  NEW_SAGA,
  outcomeEvents,
  plan,
  type ActionCheck,
  type DueTask,
  type SagaCommand,
  type SagaRuntimePolicy,
  type SagaState,
  type ServiceCallAction,
  type TaskOutcome,
  type TypedSaga,
} from "../core/model/saga.js";
import type { ServiceContract } from "../core/model/service-contract.js";
import { instanceKeyOf } from "../core/saga/saga-delivery.js";
import { commandIdRefusal, parseSagaCommand } from "../core/saga/saga-runner.js";

/** A step the saga is expected to take: a typed entity command or a service call. */
export type ExpectedAction<X extends AnyEntity> = SagaCommand<X> | ServiceCallAction;

/** Retries short enough to reason about: 3 attempts forward, 5 for a compensation, 100 ms backoff. */
export const KIT_POLICY: SagaRuntimePolicy = {
  retry: { maxAttempts: 3, maxCompensationAttempts: 5, baseMs: 100, maxMs: 100 },
};

/** What a kit run is given besides its saga: a runtime policy, and the contracts of the services it calls. */
export interface SagaScenarioOptions {
  /** Retries and timeouts (default KIT_POLICY). */
  readonly policy?: SagaRuntimePolicy;
  /**
   * The contracts of the services the saga calls (`[paymentGateway]`). A due call that its
   * service's contract refuses (`checkServiceCall`: an operation it lacks, a request its schema
   * refuses) is handled before the test can answer it, with the runtime's reason, as the runtime
   * handles it before the service is reached: a forward call is rejected, a compensating one
   * stops the saga for attention at once. Calls to a service not listed are not checked against
   * a contract; a call to a service the saga does not declare is refused either way.
   */
  readonly services?: readonly ServiceContract[];
  /**
   * The entity types the saga commands (`[inventory]`). A due command its type would refuse
   * unread (no such command, or data its schema refuses: a refinement the compiler cannot see,
   * `quantity: 0` against `.positive()`) is handled as a refused call is: forward rejected,
   * compensating a stop for attention, with the runtime's reason. A command to an entity id
   * outside the URL grammar is handled so whether its type is given or not.
   */
  readonly entities?: readonly EntityType[];
}

/** One run of a saga instance in the kit: steps (`given`, `when…`, `after`) and expectations, chainable. */
export interface SagaRun<X extends AnyEntity> {
  /** The machine's state now. */
  readonly state: SagaState;
  /** The tasks due now (run or compensate), in the saga's order. */
  readonly due: readonly DueTask[];
  /** Delivers facts one by one, as the consumer would; facts of another instance (or none) are ignored. */
  given(...facts: readonly RecordedEvent[]): SagaRun<X>;
  /** The due task `key` succeeded (with `result`, e.g. a gateway's answer). */
  whenDone(key: string, result?: unknown): SagaRun<X>;
  /** Every due task succeeded. */
  whenAllDone(): SagaRun<X>;
  /** The due task `key` was refused by its owner with `code`, one of the saga's entities' rejection codes. */
  whenRejected(key: string, code: RejectionCodeOf<X>, reason?: string): SagaRun<X>;
  /** The due service call `key` was refused (e.g. a charge declined): final, as a rejection. */
  whenCallRejected(key: string, reason: string): SagaRun<X>;
  /** The due task `key` failed (a transient error): it is retried after its backoff. */
  whenFailed(key: string, error?: string): SagaRun<X>;
  /** Moves the clock on by `ms` (stage timeouts, retry backoffs). */
  after(ms: number): SagaRun<X>;
  /** The forward steps due now are exactly these, in this order. */
  expectCommands(...expected: readonly ExpectedAction<X>[]): SagaRun<X>;
  /** The compensating steps due now are exactly these, in this order. */
  expectCompensations(...expected: readonly ExpectedAction<X>[]): SagaRun<X>;
  expectStatus(status: SagaState["status"]): SagaRun<X>;
}

/**
 * Starts a run of `saga` for one instance (the first fact's, by the saga's `instanceOf`), at time
 * 0, with `options` (`SagaScenarioOptions`, or a policy alone; default KIT_POLICY, no contracts).
 * The host's transport, idempotency and persistence are not involved: what is checked is the
 * saga's own logic, held to the runtime's checks of what it builds (instance keys, task keys and
 * JSON, a call's own idempotency key) and, given its services' contracts, of its calls.
 */
export function sagaScenario<C, X extends AnyEntity>(
  saga: TypedSaga<C, X>,
  options: SagaRuntimePolicy | SagaScenarioOptions = {},
): SagaRun<X> {
  const policy = "retry" in options ? options : (options.policy ?? KIT_POLICY);
  const contracts = new Map(("retry" in options ? [] : (options.services ?? [])).map((c) => [c.name, c] as const));
  const entities = new Map(("retry" in options ? [] : (options.entities ?? [])).map((e) => [e.type, e] as const));
  let state: SagaState = NEW_SAGA;
  let now = 0;
  let instance: string | null = null;
  let due: readonly DueTask[] = [];

  // Why the runtime would refuse an action before it reaches its entity or service (saga-runner.ts),
  // or null. The kit cannot tell a service the app lacks from one whose contract it was not given,
  // nor an entity type the app lacks from one it was not given: neither is refused here (a
  // command to such a type is held to its id's grammar only).
  const check: ActionCheck = (action) => {
    if (action.kind === "call") return callRefusal(saga, action, { contract: contracts.get(action.service) });
    const entity = entities.get(action.entityType);
    if (entity === undefined) return commandIdRefusal(action);
    const parsed = parseSagaCommand(action, (_type, command, data) => entity.parseCommand(command, data));
    return parsed.ok ? null : parsed.reason;
  };
  // Records what the machine decides until it has tasks to run or waits. A forward action refused is
  // rejected here, as the runner rejects it; a compensating one the plan itself stops on.
  const settle = () => {
    for (let step = 0; step < 1000; step++) {
      const next = plan(saga, state, now, policy, check);
      if (next.kind === "record") {
        state = next.events.reduce(evolve, state);
        continue;
      }
      const refused = (next.kind === "run" ? next.tasks : []).flatMap((d) => {
        const reason = check(d.action);
        return reason === null ? [] : [{ d, reason }];
      });
      if (refused.length > 0) {
        for (const { d, reason } of refused) outcome(d, { kind: "rejected", reason });
        continue;
      }
      due = next.kind === "run" ? next.tasks : [];
      return;
    }
    fail(`${saga.name} keeps recording without running or waiting`);
  };
  const dueTask = (key: string): DueTask =>
    due.find((d) => d.task.key === key) ??
    fail(`${key} is not due; due: ${keys(due)}; status ${state.status}${state.reason ? ` (${state.reason})` : ""}`);
  const outcome = (d: DueTask, result: TaskOutcome) => {
    state = outcomeEvents(state, d, result, now, policy.retry.baseMs).reduce(evolve, state);
  };
  const expectActions = (phase: DueTask["phase"], expected: readonly ExpectedAction<X>[]) => {
    const actual = due.filter((d) => d.phase === phase).map((d) => d.action);
    const wrongPhase = due.filter((d) => d.phase !== phase);
    if (canonicalJson(actual) !== canonicalJson(expected)) {
      fail(
        `expected ${phase === "run" ? "commands" : "compensations"} ${show(expected)}, got ${show(actual)}${wrongPhase.length > 0 ? ` (and ${wrongPhase[0]?.phase} tasks ${keys(wrongPhase)})` : ""}; status ${state.status}`,
      );
    }
  };

  const run: SagaRun<X> = {
    get state() {
      return state;
    },
    get due() {
      return due;
    },
    given(...facts) {
      for (const f of facts) {
        // As the consumer asks: a key the runtime would refuse fails the scenario too.
        const key = instanceKeyOf(saga, f);
        if (key === null) continue;
        instance ??= key;
        if (key !== instance) continue;
        const sagaId = `${f.meta.tenant}:${saga.name}:${instance}`;
        state = factEvents(saga, state, sagaId, f, now).reduce(evolve, state);
        // As a host does: what a fact started or turned round is planned before the next arrives.
        settle();
      }
      return run;
    },
    whenDone(key, result = null) {
      outcome(dueTask(key), { kind: "done", result });
      settle();
      return run;
    },
    whenAllDone() {
      if (due.length === 0) fail(`nothing is due; status ${state.status}`);
      for (const d of due) outcome(d, { kind: "done", result: null });
      settle();
      return run;
    },
    whenRejected(key, code, reason = code) {
      outcome(dueTask(key), { kind: "rejected", reason, code });
      settle();
      return run;
    },
    whenCallRejected(key, reason) {
      const d = dueTask(key);
      if (d.action.kind !== "call") fail(`${key} is an entity command: use whenRejected with its code`);
      outcome(d, { kind: "rejected", reason });
      settle();
      return run;
    },
    whenFailed(key, error = "injected failure") {
      outcome(dueTask(key), { kind: "failed", error });
      settle();
      return run;
    },
    after(ms) {
      now += ms;
      settle();
      return run;
    },
    expectCommands(...expected) {
      expectActions("run", expected);
      return run;
    },
    expectCompensations(...expected) {
      expectActions("compensate", expected);
      return run;
    },
    expectStatus(status) {
      if (state.status !== status)
        fail(`expected status ${status}, got ${state.status}${state.error ? ` (${state.error})` : ""}`);
      return run;
    },
  };
  return run;
}

function keys(due: readonly DueTask[]): string {
  return due.map((d) => d.task.key).join(", ") || "none";
}

function show(value: unknown): string {
  return JSON.stringify(value);
}

function fail(message: string): never {
  throw new Error(message);
}
