// The saga definition API and the saga state machine, pure. A saga is a sequence of stages; each
// stage runs its tasks in parallel; each task is an entity command or an external service call,
// with the compensating action that undoes it. A stage that does not finish within its timeout,
// a task that is rejected, or one that keeps failing, turns the saga round: every task attempted
// so far is compensated, newest stage first, then the saga's final compensating tasks run.
// Compensation that keeps failing escalates to "attention" for an operator, never spins forever.
// A stage may be the saga's pivot (its point of no return): once it is entered, the saga no longer
// turns round on a timeout, a failure or an abort; it retries forward, and what keeps failing
// escalates to "attention". Only the pivot's own task being refused by its owner still turns the
// saga round, since then the point of no return was not passed.
//
// The machine is event sourced: `plan` says what is due (saga events to record, or tasks to run),
// `outcomeEvents` turns a task's outcome into saga events, and `evolve` folds them into state.
// Hosts persist the events, run the tasks and wake up at `wakeAt`.
import type {
  AnyEntity,
  CommandBody,
  CommandNameOf,
  EventDataOf,
  EventNameOf,
  RejectionCodeOf,
  TypeNameOf,
} from "./entity.js";
import type { RecordedEvent } from "./envelope.js";
import { ownValue } from "./own-keys.js";

export interface EntityCommandAction {
  readonly kind: "command";
  readonly entityType: string;
  readonly entityId: string;
  readonly command: string;
  /** The command's body; the entity parses it with the command's schema, as at the HTTP boundary. */
  readonly data: unknown;
}

export interface ServiceCallAction {
  readonly kind: "call";
  readonly service: string;
  readonly operation: string;
  readonly data: Readonly<Record<string, unknown>>;
  /**
   * The idempotency key the call is made under, when it belongs to the resource rather than to
   * this saga (e.g. a payment's one charge key, shared with every other caller that charges it).
   * Default: `taskIdempotencyKey(sagaId, taskKey, phase)`.
   */
  readonly idempotencyKey?: string;
}

export type SagaAction = EntityCommandAction | ServiceCallAction;

export interface SagaTask {
  /**
   * Unique within the saga (across its stages and `finallyCompensate`); part of the task's
   * idempotency key. A key used twice stops the saga for attention when the stage is entered.
   */
  readonly key: string;
  readonly run: SagaAction;
  /** Undoes `run`; must be harmless when `run` never took effect. */
  readonly compensate?: SagaAction;
  /** Rejection codes of `compensate` that mean there was nothing to undo (counted as done). */
  readonly nothingToUndo?: readonly string[];
}

/** What running a task came to. `rejected` is final (a business answer); `failed` is retried. */
export type TaskOutcome =
  | { readonly kind: "done"; readonly result: unknown; readonly clock?: string; readonly eventId?: string }
  | { readonly kind: "rejected"; readonly reason: string; readonly code?: string }
  | { readonly kind: "failed"; readonly error: string; readonly retryAfterMs?: number }
  /** Not attempted (e.g. the dependency's breaker is open): wait, without using up an attempt. */
  | { readonly kind: "deferred"; readonly reason: string; readonly retryAfterMs: number };

/** Results of the tasks done so far, by task key. */
export type TaskResults = Readonly<Record<string, unknown>>;

export interface SagaStage<C> {
  readonly name: string;
  /** Past this the saga turns round; ignored from the pivot on. */
  readonly timeoutMs: number;
  /**
   * The saga's point of no return (at most one stage). Once it is entered: timeouts, failures and
   * `abortOn` no longer compensate; a task failing `maxAttempts` times, or any rejection after the
   * pivot, escalates to "attention", and the operator's retry resumes forward. A rejection of the
   * pivot's own tasks still compensates: its owner refused it, so nothing irreversible happened.
   */
  readonly pivot?: boolean;
  tasks(context: C, results: TaskResults): readonly SagaTask[];
}

export interface RetryPolicy {
  /** Attempts of a forward task before the saga turns round and compensates. */
  readonly maxAttempts: number;
  /** Attempts of a compensating task before the saga escalates for attention (usually more). */
  readonly maxCompensationAttempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

/** How a host runs sagas: retries, and stage timeouts it may shorten or lengthen by stage name. */
export interface SagaRuntimePolicy {
  readonly retry: RetryPolicy;
  readonly timeoutOverrides?: Readonly<Record<string, number>>;
}

export interface SagaDefinition<C> {
  readonly name: string;
  readonly startedBy: { readonly entityType: string; readonly eventType: string };
  /**
   * The entity types the saga follows and commands, when known (`defineSaga` records the
   * entities it was given): an app that runs it must define each (`defineApp` refuses otherwise).
   */
  readonly entityTypes?: readonly string[];
  /** The instance a fact concerns (its key), or null when the saga does not care about it. */
  instanceOf(fact: RecordedEvent): string | null;
  /** The context of a new instance, from its starting fact. */
  start(fact: RecordedEvent, sagaId: string): C;
  readonly stages: readonly SagaStage<C>[];
  /** A fact that makes a running instance give up, with the reason; null to carry on. */
  abortOn?(fact: RecordedEvent, context: C): string | null;
  /** What to do last when the saga has been compensated (e.g. cancel the order). */
  finallyCompensate(context: C, reason: string): readonly SagaTask[];
}

export type SagaStatus = "running" | "compensating" | "completed" | "compensated" | "attention";

export type SagaEvent =
  | { readonly type: "SagaStarted"; readonly context: unknown; readonly fact: string; readonly at: number }
  | {
      readonly type: "FactObserved";
      readonly eventId: string;
      readonly fact: string;
      readonly clock: string;
      readonly at: number;
    }
  | {
      readonly type: "StageEntered";
      readonly stage: number;
      readonly tasks: readonly SagaTask[];
      readonly deadline: number;
      readonly pivot?: boolean;
      readonly at: number;
    }
  | {
      readonly type: "TaskDone";
      readonly key: string;
      readonly result: unknown;
      readonly clock: string | null;
      readonly eventId: string | null;
      readonly at: number;
    }
  | {
      readonly type: "TaskFailed";
      readonly key: string;
      readonly error: string;
      readonly retryAt: number;
      readonly at: number;
    }
  | { readonly type: "TaskRejected"; readonly key: string; readonly reason: string; readonly at: number }
  | {
      readonly type: "TaskDeferred";
      readonly key: string;
      readonly reason: string;
      readonly retryAt: number;
      readonly at: number;
    }
  | {
      readonly type: "CompensationBegan";
      readonly reason: string;
      readonly groups: readonly (readonly SagaTask[])[];
      readonly at: number;
    }
  | { readonly type: "CompensationDone"; readonly key: string; readonly at: number }
  | {
      readonly type: "CompensationFailed";
      readonly key: string;
      readonly error: string;
      readonly retryAt: number;
      readonly at: number;
    }
  | { readonly type: "SagaCompleted"; readonly at: number }
  | { readonly type: "SagaCompensated"; readonly at: number }
  | { readonly type: "AttentionNeeded"; readonly error: string; readonly at: number }
  | { readonly type: "OperatorRetried"; readonly at: number };

interface Attempts {
  readonly count: number;
  readonly retryAt: number;
  readonly lastError: string | null;
}

export interface SagaState {
  readonly status: SagaStatus | "new";
  readonly context: unknown;
  readonly stage: number;
  readonly stageDeadline: number;
  readonly tasks: readonly SagaTask[];
  readonly done: TaskResults;
  readonly attempts: Readonly<Record<string, Attempts>>;
  /** Task keys of every stage entered so far, in order, for compensation. */
  readonly history: readonly (readonly SagaTask[])[];
  readonly reason: string | null;
  readonly compensation: readonly (readonly SagaTask[])[];
  readonly compensationGroup: number;
  readonly compensated: readonly string[];
  readonly error: string | null;
  /** The index of the pivot stage once it has been entered; null before (or when there is none). */
  readonly pivotStage: number | null;
  /** What the saga was doing when it escalated: the operator's retry resumes that. */
  readonly escalatedFrom: "running" | "compensating" | null;
  readonly seenFacts: readonly string[];
  /** The newest clock seen (HLC), carried into the commands the saga issues. */
  readonly clock: string | null;
  /** The event that last drove the saga: the causation of what it does next. */
  readonly causation: string | null;
}

export const NEW_SAGA: SagaState = {
  status: "new",
  context: null,
  stage: -1,
  stageDeadline: 0,
  tasks: [],
  done: {},
  attempts: {},
  history: [],
  reason: null,
  compensation: [],
  compensationGroup: 0,
  compensated: [],
  error: null,
  pivotStage: null,
  escalatedFrom: null,
  seenFacts: [],
  clock: null,
  causation: null,
};

/**
 * Checks a saga given in the runtime's type-erased shape (entity types, commands and events as
 * plain strings). Domain code uses `defineSaga`, which checks those names against the entities at
 * compile time. Throws when the saga has no stage or more than one pivot.
 */
export function defineUntypedSaga<C>(definition: SagaDefinition<C>): SagaDefinition<C> {
  if (definition.stages.length === 0) throw new Error(`saga ${definition.name} has no stages`);
  if (definition.stages.filter((stage) => stage.pivot === true).length > 1)
    throw new Error(`saga ${definition.name} has more than one pivot`);
  return definition;
}

/** The entity of `X` (a union of entities) whose type name is `T`. */
export type EntityNamed<X extends AnyEntity, T extends string> = X extends AnyEntity
  ? TypeNameOf<X> extends T
    ? X
    : never
  : never;

/**
 * A command to one of the entities `X`: its type name, command name and body (the command schema's
 * input) are checked against that entity's definition. A union over every entity and command, so
 * a plain object literal is checked field by field.
 */
export type SagaCommand<X extends AnyEntity> = X extends AnyEntity
  ? {
      [K in CommandNameOf<X>]: {
        readonly kind: "command";
        readonly entityType: TypeNameOf<X>;
        readonly entityId: string;
        readonly command: K;
        readonly data: CommandBody<X, K>;
      };
    }[CommandNameOf<X>]
  : never;

/** An event type of one of the entities `X`, by entity type name and event name. */
export type SagaTrigger<X extends AnyEntity> = X extends AnyEntity
  ? { [K in EventNameOf<X>]: { readonly entityType: TypeNameOf<X>; readonly eventType: K } }[EventNameOf<X>]
  : never;

/** A recorded fact of event type `K` of entity `X`, its data typed from the entity's `events`. */
export type FactOf<X extends AnyEntity, K extends EventNameOf<X>> = RecordedEvent & {
  readonly type: K;
  readonly data: EventDataOf<X, K>;
};

/** Every event name of the entities `X` (a union). */
export type AnyEventName<X extends AnyEntity> = X extends AnyEntity ? EventNameOf<X> : never;

/** A fact named `K` of whichever of the entities `X` records it, its data typed. */
export type FactNamed<X extends AnyEntity, K extends string> = X extends AnyEntity
  ? K extends EventNameOf<X>
    ? FactOf<X, K>
    : never
  : never;

/** Any fact of the entities `X`, its data typed by its `type`. */
export type FactOfAny<X extends AnyEntity> = FactNamed<X, AnyEventName<X>>;

/** The fact a trigger matches. */
export type TriggeredFact<X extends AnyEntity, St extends SagaTrigger<X>> =
  St extends SagaTrigger<X>
    ? FactOf<EntityNamed<X, St["entityType"]>, St["eventType"] & EventNameOf<EntityNamed<X, St["entityType"]>>>
    : never;

/** A task whose commands (run and compensation) and `nothingToUndo` codes are checked against the entities `X`. */
export interface TypedSagaTask<X extends AnyEntity> extends SagaTask {
  readonly run: SagaCommand<X> | ServiceCallAction;
  readonly compensate?: SagaCommand<X> | ServiceCallAction;
  readonly nothingToUndo?: readonly RejectionCodeOf<X>[];
}

/** A stage whose tasks are `TypedSagaTask`s. */
export interface TypedSagaStage<C, X extends AnyEntity> extends SagaStage<C> {
  tasks(context: C, results: TaskResults): readonly TypedSagaTask<X>[];
}

/**
 * Facts that make a running instance give up, keyed by entity type name then event name (both
 * checked), each handler given the typed fact and answering the reason, or null to carry on.
 */
export type AbortTriggers<X extends AnyEntity, C> = {
  readonly [T in TypeNameOf<X>]?: {
    readonly [K in EventNameOf<EntityNamed<X, T>>]?: (fact: FactOf<EntityNamed<X, T>, K>, context: C) => string | null;
  };
};

/**
 * A saga as a team writes it: `entities` lists the entity definitions it follows and commands, and
 * every reference to them (trigger, commands, compensations, abort facts, nothing-to-undo codes)
 * is checked against those definitions at compile time.
 */
export interface TypedSagaDefinition<C, X extends AnyEntity, St extends SagaTrigger<X>> {
  readonly name: string;
  readonly startedBy: St;
  /**
   * The instance a fact of one of the listed entities concerns (its key), or null when the saga
   * does not care about it. Facts of other entity types never reach it (they concern no instance).
   */
  instanceOf(fact: FactOfAny<X>): string | null;
  /** The context of a new instance, from its starting fact (typed by `startedBy`). */
  start(fact: TriggeredFact<X, St>, sagaId: string): C;
  readonly stages: readonly TypedSagaStage<C, X>[];
  readonly abortOn?: AbortTriggers<X, C>;
  /** What to do last when the saga has been compensated (e.g. cancel the order). */
  finallyCompensate(context: C, reason: string): readonly TypedSagaTask<X>[];
}

type AbortHandler<C> = (fact: RecordedEvent, context: C) => string | null;

/**
 * Defines a saga over the entities it follows and commands:
 * `defineSaga(orders, inventory, payments)({ name, startedBy, start, stages, … })`. Every reference
 * to those entities is checked at compile time (see TypedSagaDefinition); the result is the
 * runtime's type-erased shape. Throws when the saga has no stage or more than one pivot.
 * (Two steps, so that the entities are fixed before the definition is checked against them: were
 * they inferred together, the command literals in `stages` would widen them instead.)
 */
export function defineSaga<const Xs extends readonly AnyEntity[]>(...entities: Xs) {
  const types = new Set(entities.map((entity) => entity.type));
  return <C, const St extends SagaTrigger<Xs[number]>>(
    definition: TypedSagaDefinition<C, Xs[number], St>,
  ): TypedSaga<C, Xs[number]> => typedSaga(types, definition);
}

/**
 * A saga in the runtime's shape that remembers, for the compiler only, the entities it was
 * defined over, so that the saga kit can check expected commands against them.
 */
export type TypedSaga<C, X extends AnyEntity> = SagaDefinition<C> & { readonly __entities?: X };

function typedSaga<C, X extends AnyEntity, St extends SagaTrigger<X>>(
  types: ReadonlySet<string>,
  definition: TypedSagaDefinition<C, X, St>,
): TypedSaga<C, X> {
  if (!types.has(definition.startedBy.entityType))
    throw new Error(`saga ${definition.name} starts on ${definition.startedBy.entityType}, which it does not list`);
  // The runtime calls these only with facts of the entity type and event name they are keyed by
  // (factEvents matches `startedBy`; the lookup below matches the abort keys): the one place the
  // erased facts meet the typed handlers.
  const handlers = definition.abortOn as
    | Readonly<Record<string, Readonly<Record<string, AbortHandler<C> | undefined>> | undefined>>
    | undefined;
  const start = (fact: RecordedEvent, sagaId: string): C => definition.start(fact as TriggeredFact<X, St>, sagaId);
  // A fact of a listed entity type is one of its declared events (decide only records those),
  // upcast to their current version before anything reads it.
  const instanceOf = (fact: RecordedEvent): string | null =>
    types.has(fact.meta.entityType) ? definition.instanceOf(fact as FactOfAny<X>) : null;
  return defineUntypedSaga<C>({
    name: definition.name,
    startedBy: definition.startedBy,
    entityTypes: [...types],
    instanceOf,
    start,
    stages: definition.stages,
    ...(handlers === undefined
      ? {}
      : {
          abortOn(fact: RecordedEvent, context: C): string | null {
            const handler = ownValue(ownValue(handlers, fact.meta.entityType) ?? {}, fact.type);
            return handler ? handler(fact, context) : null;
          },
        }),
    finallyCompensate: (context, reason) => definition.finallyCompensate(context, reason),
  });
}

/** The idempotency key of a task's action: the same for every retry and every redelivery. */
export function taskIdempotencyKey(sagaId: string, taskKey: string, phase: "run" | "compensate"): string {
  return `${sagaId}/${taskKey}${phase === "compensate" ? "/undo" : ""}`;
}

const maxClock = (a: string | null, b: string | null): string | null => (a === null ? b : b === null || a >= b ? a : b);

export function evolve(state: SagaState, event: SagaEvent): SagaState {
  switch (event.type) {
    case "SagaStarted":
      return { ...state, status: "running", context: event.context, causation: event.fact };
    case "FactObserved":
      return { ...state, seenFacts: [...state.seenFacts, event.eventId], clock: maxClock(state.clock, event.clock) };
    case "StageEntered":
      return {
        ...state,
        stage: event.stage,
        tasks: event.tasks,
        history: [...state.history, event.tasks],
        stageDeadline: event.deadline,
        pivotStage: state.pivotStage ?? (event.pivot === true ? event.stage : null),
      };
    case "TaskDone":
      return {
        ...state,
        done: { ...state.done, [event.key]: event.result },
        clock: maxClock(state.clock, event.clock),
        causation: event.eventId ?? state.causation,
      };
    case "TaskFailed":
    case "CompensationFailed": {
      const prior = ownValue(state.attempts, event.key)?.count ?? 0;
      return {
        ...state,
        attempts: {
          ...state.attempts,
          [event.key]: { count: prior + 1, retryAt: event.retryAt, lastError: event.error },
        },
      };
    }
    case "TaskDeferred": {
      const prior = ownValue(state.attempts, event.key)?.count ?? 0;
      return {
        ...state,
        attempts: { ...state.attempts, [event.key]: { count: prior, retryAt: event.retryAt, lastError: event.reason } },
      };
    }
    case "TaskRejected":
      return {
        ...state,
        attempts: { ...state.attempts, [event.key]: { count: Infinity, retryAt: Infinity, lastError: event.reason } },
      };
    case "CompensationBegan":
      return {
        ...state,
        status: "compensating",
        reason: event.reason,
        compensation: event.groups,
        compensationGroup: 0,
        attempts: {},
      };
    case "CompensationDone": {
      const compensated = [...state.compensated, event.key];
      let group = state.compensationGroup;
      while (
        group < state.compensation.length &&
        (state.compensation[group] ?? []).every((t) => compensated.includes(t.key))
      )
        group++;
      return { ...state, compensated, compensationGroup: group };
    }
    case "SagaCompleted":
      return { ...state, status: "completed" };
    case "SagaCompensated":
      return { ...state, status: "compensated" };
    case "AttentionNeeded":
      return {
        ...state,
        status: "attention",
        error: event.error,
        escalatedFrom: state.status === "running" ? "running" : "compensating",
      };
    case "OperatorRetried":
      return {
        ...state,
        status: state.escalatedFrom === "running" ? "running" : "compensating",
        error: null,
        attempts: {},
      };
  }
}

export interface DueTask {
  readonly task: SagaTask;
  readonly phase: "run" | "compensate";
  readonly action: SagaAction;
}

export type Plan =
  | { readonly kind: "record"; readonly events: readonly SagaEvent[] }
  | { readonly kind: "run"; readonly tasks: readonly DueTask[]; readonly wakeAt: number | null }
  | { readonly kind: "wait"; readonly wakeAt: number | null };

/** What the saga should do at `now`: record transitions, run due tasks, or sleep until `wakeAt`. */
export function plan<C>(definition: SagaDefinition<C>, state: SagaState, now: number, policy: SagaRuntimePolicy): Plan {
  if (state.status === "running") return planForward(definition, state, now, policy);
  if (state.status === "compensating") return planCompensation(state, now, policy.retry);
  return { kind: "wait", wakeAt: null };
}

function escalate(error: string, now: number): Plan {
  return { kind: "record", events: [{ type: "AttentionNeeded", error, at: now }] };
}

/** Task keys are often built from ids (`reserve:{sku}`): only own keys of `done` count. */
function isDone(state: SagaState, key: string): boolean {
  return Object.hasOwn(state.done, key);
}

/** The first key of `tasks` used twice among them or by one of `earlier`, else null. */
function repeatedKey(tasks: readonly SagaTask[], earlier: readonly SagaTask[]): string | null {
  const seen = new Set(earlier.map((t) => t.key));
  for (const task of tasks) {
    if (seen.has(task.key)) return task.key;
    seen.add(task.key);
  }
  return null;
}

function planForward<C>(definition: SagaDefinition<C>, state: SagaState, now: number, policy: SagaRuntimePolicy): Plan {
  const context = state.context as C;
  if (state.stage < 0 || state.tasks.every((t) => isDone(state, t.key))) {
    const next = state.stage + 1;
    const stage = definition.stages[next];
    if (!stage) return { kind: "record", events: [{ type: "SagaCompleted", at: now }] };
    const tasks = stage.tasks(context, state.done);
    const repeated = repeatedKey(tasks, state.history.flat());
    // A key names a task's result and idempotency key: a second task under it would be taken for
    // done and silently skipped, so the definition's mistake stops the saga where an operator sees it.
    if (repeated !== null) return escalate(`stage ${stage.name} repeats task key ${repeated}`, now);
    const timeoutMs = ownValue(policy.timeoutOverrides ?? {}, stage.name) ?? stage.timeoutMs;
    const entered: SagaEvent = {
      type: "StageEntered",
      stage: next,
      tasks,
      deadline: now + timeoutMs,
      at: now,
    };
    return { kind: "record", events: [stage.pivot === true ? { ...entered, pivot: true } : entered] };
  }
  const stageName = definition.stages[state.stage]?.name ?? String(state.stage);
  const pivoting = state.pivotStage !== null;
  for (const task of state.tasks) {
    const a = ownValue(state.attempts, task.key);
    if (!a || isDone(state, task.key)) continue;
    if (a.count === Infinity) {
      const why = `${task.key} was rejected: ${a.lastError ?? "no reason"}`;
      // The pivot refused by its owner: the point of no return was not passed, so turn round.
      if (!pivoting || state.stage === state.pivotStage) return beginCompensation(definition, state, why, now);
      return escalate(`past the point of no return, ${why}`, now);
    }
    if (a.count >= policy.retry.maxAttempts) {
      const why = `${task.key} failed ${a.count} times; last: ${a.lastError ?? "unknown"}`;
      return pivoting
        ? escalate(`past the point of no return, ${why}`, now)
        : beginCompensation(definition, state, why, now);
    }
  }
  // From the pivot on, a slow stage is retried forward, never turned round.
  if (!pivoting && now >= state.stageDeadline)
    return beginCompensation(definition, state, `stage ${stageName} timed out`, now);
  const pending = state.tasks.filter((t) => !isDone(state, t.key));
  const due = pending.filter((t) => (ownValue(state.attempts, t.key)?.retryAt ?? 0) <= now);
  const retryAts = pending.map((t) => ownValue(state.attempts, t.key)?.retryAt ?? now);
  const wakeAt = pivoting ? Math.min(...retryAts) : Math.min(state.stageDeadline, ...retryAts);
  if (due.length === 0) return { kind: "wait", wakeAt };
  return { kind: "run", tasks: due.map((task) => ({ task, phase: "run", action: task.run })), wakeAt };
}

/**
 * Turns the saga round: the `CompensationBegan` plan, which compensates every task of every stage
 * entered so far, newest stage first, then the definition's `finallyCompensate` tasks. Even tasks with no known outcome: a request may have taken effect while its answer was lost,
 * and compensations are harmless when the task never took effect.
 */
function beginCompensation<C>(definition: SagaDefinition<C>, state: SagaState, reason: string, now: number): Plan {
  const groups: SagaTask[][] = [];
  for (const stage of [...state.history].reverse()) {
    const undo = stage.filter((t) => t.compensate !== undefined);
    if (undo.length > 0) groups.push(undo);
  }
  const final = definition.finallyCompensate(state.context as C, reason);
  const repeated = repeatedKey(final, state.history.flat());
  if (repeated !== null) return escalate(`finallyCompensate repeats task key ${repeated}`, now);
  if (final.length > 0) groups.push([...final]);
  return { kind: "record", events: [{ type: "CompensationBegan", reason, groups, at: now }] };
}

function planCompensation(state: SagaState, now: number, policy: RetryPolicy): Plan {
  const group = state.compensation[state.compensationGroup];
  if (!group) return { kind: "record", events: [{ type: "SagaCompensated", at: now }] };
  const pending = group.filter((t) => !state.compensated.includes(t.key));
  for (const task of pending) {
    const a = ownValue(state.attempts, task.key);
    if (a && a.count >= policy.maxCompensationAttempts) {
      return {
        kind: "record",
        events: [
          {
            type: "AttentionNeeded",
            error: `compensating ${task.key} failed ${a.count} times; last: ${a.lastError ?? "unknown"}`,
            at: now,
          },
        ],
      };
    }
  }
  const due = pending.filter((t) => (ownValue(state.attempts, t.key)?.retryAt ?? 0) <= now);
  const wakeAt =
    pending.length === 0 ? null : Math.min(...pending.map((t) => ownValue(state.attempts, t.key)?.retryAt ?? now));
  if (due.length === 0) return { kind: "wait", wakeAt };
  return {
    kind: "run",
    // Final tasks (no compensate of their own) run their `run` action as the compensating step.
    tasks: due.map((task) => ({ task, phase: "compensate", action: task.compensate ?? task.run })),
    wakeAt,
  };
}

/** The saga events a task's outcome records; `delayMs` is the backoff chosen for a retry. */
export function outcomeEvents(
  state: SagaState,
  due: DueTask,
  outcome: TaskOutcome,
  now: number,
  delayMs: number,
): SagaEvent[] {
  const key = due.task.key;
  if (outcome.kind === "deferred") {
    const live =
      due.phase === "run"
        ? state.status === "running" && !isDone(state, key)
        : state.status === "compensating" && !state.compensated.includes(key);
    return live
      ? [{ type: "TaskDeferred", key, reason: outcome.reason, retryAt: now + outcome.retryAfterMs, at: now }]
      : [];
  }
  if (due.phase === "run") {
    if (state.status !== "running" || isDone(state, key) || !state.tasks.some((t) => t.key === key)) return [];
    switch (outcome.kind) {
      case "done":
        return [
          {
            type: "TaskDone",
            key,
            result: outcome.result ?? null,
            clock: outcome.clock ?? null,
            eventId: outcome.eventId ?? null,
            at: now,
          },
        ];
      case "rejected":
        return [{ type: "TaskRejected", key, reason: outcome.reason, at: now }];
      case "failed":
        return [
          {
            type: "TaskFailed",
            key,
            error: outcome.error,
            retryAt: now + Math.max(delayMs, outcome.retryAfterMs ?? 0),
            at: now,
          },
        ];
    }
  }
  if (state.status !== "compensating" || state.compensated.includes(key)) return [];
  if (outcome.kind === "done") return [{ type: "CompensationDone", key, at: now }];
  if (outcome.kind === "rejected" && outcome.code !== undefined && due.task.nothingToUndo?.includes(outcome.code)) {
    return [{ type: "CompensationDone", key, at: now }];
  }
  const error = outcome.kind === "rejected" ? `rejected: ${outcome.reason}` : outcome.error;
  const retryAfter = outcome.kind === "failed" ? (outcome.retryAfterMs ?? 0) : 0;
  return [{ type: "CompensationFailed", key, error, retryAt: now + Math.max(delayMs, retryAfter), at: now }];
}

/** The saga events a fact delivered to this instance records (none for a duplicate). */
export function factEvents<C>(
  definition: SagaDefinition<C>,
  state: SagaState,
  sagaId: string,
  fact: RecordedEvent,
  now: number,
): SagaEvent[] {
  if (state.seenFacts.includes(fact.meta.eventId)) return [];
  const observed: SagaEvent = {
    type: "FactObserved",
    eventId: fact.meta.eventId,
    fact: `${fact.meta.entityType}/${fact.meta.entityId}#${fact.seq} ${fact.type}`,
    clock: fact.meta.hlc,
    at: now,
  };
  const starts =
    fact.meta.entityType === definition.startedBy.entityType && fact.type === definition.startedBy.eventType;
  if (state.status === "new") {
    // Facts about an instance that has not started (late or reordered) are not the saga's to act on.
    if (!starts) return [];
    return [
      observed,
      { type: "SagaStarted", context: definition.start(fact, sagaId), fact: fact.meta.eventId, at: now },
    ];
  }
  // From the pivot on the saga goes forward whatever arrives; the pivot's owner refuses the late
  // abort (e.g. an order refuses a cancel once confirmed).
  if (state.status === "running" && state.pivotStage === null && definition.abortOn) {
    const reason = definition.abortOn(fact, state.context as C);
    if (reason !== null) {
      const turn = beginCompensation(definition, state, reason, now);
      return turn.kind === "record" ? [observed, ...turn.events] : [observed];
    }
  }
  return [observed];
}

/**
 * The operator's "retry": only a saga that needs attention resumes, with fresh attempts, what it
 * was doing when it escalated (its compensation, or its forward steps past the pivot).
 */
export function operatorRetry(state: SagaState, now: number): SagaEvent[] | null {
  return state.status === "attention" ? [{ type: "OperatorRetried", at: now }] : null;
}

/**
 * The operator's "compensate": a running saga is turned round; one needing attention in its
 * compensation retries it. Refused (null) once the saga has passed its pivot: it can only go forward.
 */
export function operatorCompensate<C>(
  definition: SagaDefinition<C>,
  state: SagaState,
  now: number,
): SagaEvent[] | null {
  if (state.status === "attention")
    return state.escalatedFrom === "compensating" ? [{ type: "OperatorRetried", at: now }] : null;
  if (state.pivotStage !== null) return null;
  if (state.status !== "running") return null;
  const turn = beginCompensation(definition, state, "compensation forced by an operator", now);
  return turn.kind === "record" ? [...turn.events] : null;
}

/** The id of one saga instance, which is also the name of the object that hosts it. */
export function sagaInstanceId(tenant: string, sagaName: string, instanceKey: string): string {
  return `${tenant}:${sagaName}:${instanceKey}`;
}
