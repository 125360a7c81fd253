// The saga definition API and the saga state machine, pure. A saga is a sequence of stages; each
// stage runs its tasks in parallel; each task is an entity command or an external service call,
// with the compensating action that undoes it. A stage that does not finish within its timeout,
// a task that is rejected, or one that keeps failing, turns the saga round: every task attempted
// so far is compensated, newest stage first, then the saga's final compensating tasks run.
// Compensation that keeps failing escalates to "attention" for an operator, never spins forever;
// a compensation its host refuses before it reaches its entity or service (`ActionCheck`)
// escalates at once.
// A stage may be the saga's pivot (its point of no return): once it is entered, the saga no longer
// turns round on a timeout, a failure or an abort; it retries forward, and what keeps failing
// escalates to "attention". Only the pivot's own task being refused by its owner still turns the
// saga round, since then the point of no return was not passed.
//
// The machine is event sourced: `plan` says what is due (saga events to record, or tasks to run),
// `outcomeEvents` turns a task's outcome into saga events, and `evolve` folds them into state.
// Hosts persist the events, run the tasks and wake up at `wakeAt`. `operatorRetry` and
// `operatorCompensate` are the operator's way out of "attention", or a refusal saying why not.
import {
  type AnyEntity,
  type CommandBody,
  type CommandNameOf,
  checkDeclaredEvent,
  type EventDataOf,
  type EventNameOf,
  type RejectionCodeOf,
  type TypeNameOf,
} from "./entity.js";
import type { RecordedEvent } from "./envelope.js";
import { fitIdempotencyKey, idempotencyKeyIssue } from "../protocol/command-metadata.js";
import { checkName, SEGMENT_NAME } from "../protocol/names.js";
import { ownValue } from "./own-keys.js";
import { jsonIssue } from "./plain-json.js";
import { checkServiceCall, shortened, type ServiceContract } from "./service-contract.js";

export interface EntityCommandAction {
  readonly kind: "command";
  readonly entityType: string;
  readonly entityId: string;
  readonly command: string;
  /** The command's body; the entity parses it with the command's schema, as at the HTTP boundary. */
  readonly data: unknown;
}

/** A call to an outside service; `S` is the names the saga may call (its declared `services`). */
export interface ServiceCallAction<S extends string = string> {
  readonly kind: "call";
  readonly service: S;
  readonly operation: string;
  readonly data: Readonly<Record<string, unknown>>;
  /**
   * The idempotency key the call is made under, when it belongs to the resource rather than to
   * this saga (e.g. a payment's one charge key, shared with every other caller that charges it).
   * Sent as given, so it must fit the Idempotency-Key grammar (1-255 visible ASCII, no spaces):
   * one that does not stops the saga for attention before its stage (or the turn round) begins,
   * rather than being fitted into a key the other callers do not share.
   * Default: `taskIdempotencyKey(sagaId, taskKey, phase)`.
   */
  readonly idempotencyKey?: string;
}

export type SagaAction = EntityCommandAction | ServiceCallAction;

export interface SagaTask {
  /**
   * Unique within the saga (across its stages and `finallyCompensate`) and free of "/"; part of
   * the task's idempotency key (`taskIdempotencyKey`). A key used twice, or one holding "/", stops
   * the saga for attention before its stage (or the turn round) begins.
   */
  readonly key: string;
  readonly run: SagaAction;
  /** Undoes `run`; must be harmless when `run` never took effect. */
  readonly compensate?: SagaAction;
  /** Rejection codes of `compensate` that mean there was nothing to undo (counted as done). */
  readonly nothingToUndo?: readonly string[];
}

/**
 * A task of `finallyCompensate`: it runs its `run` once the saga's tasks are compensated, under
 * the compensating idempotency key (`taskIdempotencyKey(…, "compensate")`, `…/undo`), and nothing
 * undoes it, so it has no `compensate` nor `nothingToUndo` (one given them, by untyped code, stops
 * the saga for attention before the turn round begins).
 */
export interface FinalSagaTask extends Omit<SagaTask, "compensate" | "nothingToUndo"> {
  readonly compensate?: never;
  readonly nothingToUndo?: never;
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
  /** Unique within the saga, 1-40 of a-z 0-9 and "-" (`stageNameSchema`): its key in `SAGA_STAGE_TIMEOUTS`. */
  readonly name: string;
  /**
   * Past this (whole ms from 1 to a day, `isStageTimeoutMs`) the saga turns round; ignored
   * from the pivot on.
   */
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

/**
 * A saga in the runtime's type-erased shape. `Sv` is the service names it declares it calls
 * (`services`), which `defineApp` checks against the app's services at compile time.
 */
export interface SagaDefinition<C, Sv extends string = string> {
  /** 1-40 of a-z 0-9 and "-", starting with a letter: part of every instance's id (`sagaInstanceId`). */
  readonly name: string;
  readonly startedBy: { readonly entityType: string; readonly eventType: string };
  /**
   * The entity types the saga follows and commands, when known (`defineSaga` records the
   * entities it was given): an app that runs it must define each (`defineApp` refuses otherwise).
   */
  readonly entityTypes?: readonly string[];
  /**
   * The outside services its `call` tasks name, when declared (`defineSaga` always records them):
   * an app that runs it must provide each (`defineApp` refuses otherwise), and a call to a service
   * not declared here is rejected. Undeclared (undefined): calls are only looked up when made.
   */
  readonly services?: readonly Sv[];
  /** The instance a fact concerns (its key), or null when the saga does not care about it. */
  instanceOf(fact: RecordedEvent): string | null;
  /** The context of a new instance, from its starting fact. */
  start(fact: RecordedEvent, sagaId: string): C;
  readonly stages: readonly SagaStage<C>[];
  /** A fact that makes a running instance give up, with the reason; null to carry on. */
  abortOn?(fact: RecordedEvent, context: C): string | null;
  /** What to do last when the saga has been compensated (e.g. cancel the order): each task's `run`. */
  finallyCompensate(context: C, reason: string): readonly FinalSagaTask[];
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
  /** An operator declared the compensation of `key` done by hand: it could not run (`operatorResolve`). */
  | { readonly type: "CompensationResolved"; readonly key: string; readonly at: number }
  | {
      readonly type: "CompensationFailed";
      readonly key: string;
      readonly error: string;
      readonly retryAt: number;
      readonly at: number;
    }
  | { readonly type: "SagaCompleted"; readonly at: number }
  | { readonly type: "SagaCompensated"; readonly at: number }
  | {
      readonly type: "AttentionNeeded";
      readonly error: string;
      /**
       * Set when the saga was turning round for this reason and its compensation could not begin
       * (the final tasks' keys): recorded here so that no retry or compensation loses it.
       */
      readonly reason?: string;
      readonly at: number;
    }
  | { readonly type: "OperatorRetried"; readonly at: number }
  /**
   * The audit record of an operator's accepted action, written before the events it decided: who
   * acted (`by`: `OPERATOR_ACTOR`, or `tenantKeyActor` for a tenant admin) and, for a resolve,
   * which task. Changes no state: what the action did is in the events after it.
   */
  | {
      readonly type: "OperatorActed";
      readonly action: OperatorAction;
      readonly by: string;
      readonly task?: string;
      readonly at: number;
    };

/** What an operator can do to a saga: the admin API's and the dashboard's three actions. */
export type OperatorAction = "retry" | "compensate" | "resolve";

/** `OperatorActed.by` for the holder of the admin token (the admin API, the operator's dashboard session). */
export const OPERATOR_ACTOR = "operator";

/** `OperatorActed.by` for a tenant admin signed in to the dashboard with the API key `keyId`. */
export const tenantKeyActor = (keyId: string): string => `tenant key ${keyId}`;

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
  /**
   * What the saga was doing when it escalated, which the operator's retry resumes: going forward,
   * turning round (its compensation could not begin; `reason` says why it turned), or compensating.
   */
  readonly escalatedFrom: "running" | "turning" | "compensating" | null;
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

/** The longest timeout a stage may have, declared or overridden (`SAGA_STAGE_TIMEOUTS`): a day, in ms. */
export const MAX_STAGE_TIMEOUT_MS = 86_400_000;

/**
 * Whether `ms` is a stage's timeout, whole ms from 1 to `MAX_STAGE_TIMEOUT_MS`: the range of a
 * stage's declared `timeoutMs` and of the `SAGA_STAGE_TIMEOUTS` overrides
 * (src/core/runtime/config.ts), so that a mistake (NaN, 0, Infinity) can mean neither "turn round
 * at once" nor "never".
 */
export function isStageTimeoutMs(ms: unknown): ms is number {
  return typeof ms === "number" && Number.isInteger(ms) && ms >= 1 && ms <= MAX_STAGE_TIMEOUT_MS;
}

/** A value as an error message shows it: numbers as written (`NaN`, `Infinity`), the rest as JSON. */
const shown = (value: unknown): string => (typeof value === "number" ? String(value) : JSON.stringify(value));

/**
 * Throws unless `definition` can run: its name in `sagaNameSchema`'s grammar (else its instances'
 * ids and task keys would be ambiguous), at least one stage, each stage's name in
 * `stageNameSchema`'s and unique (a stage's timeout is overridden by its name), each stage's
 * `timeoutMs` in `isStageTimeoutMs`'s range, at most one pivot, and each declared service's
 * name in `SEGMENT_NAME`, none declared twice. The message names the bad value and the
 * rule. `defineApp` checks each saga it is given again, which may not have been made here.
 */
export function checkSagaDefinition(definition: SagaDefinition<unknown>): void {
  checkName("saga name", SEGMENT_NAME, definition.name);
  if (definition.stages.length === 0) throw new Error(`saga ${definition.name} has no stages`);
  const stageNames = new Set<string>();
  for (const stage of definition.stages) {
    checkName(`saga ${definition.name}: stage name`, SEGMENT_NAME, stage.name);
    if (stageNames.has(stage.name)) throw new Error(`saga ${definition.name} has two stages named ${stage.name}`);
    stageNames.add(stage.name);
    if (!isStageTimeoutMs(stage.timeoutMs))
      throw new Error(
        `saga ${definition.name}: stage ${stage.name} timeoutMs ${shown(stage.timeoutMs)}: must be whole ms from 1 to ${MAX_STAGE_TIMEOUT_MS} (a day)`,
      );
  }
  if (definition.stages.filter((stage) => stage.pivot === true).length > 1)
    throw new Error(`saga ${definition.name} has more than one pivot`);
  const services = new Set<string>();
  for (const service of definition.services ?? []) {
    checkName(`saga ${definition.name}: service name`, SEGMENT_NAME, service);
    if (services.has(service)) throw new Error(`saga ${definition.name} declares service ${service} twice`);
    services.add(service);
  }
}

/**
 * Throws unless the event that starts `definition` is one its entity declares (`entity`, the one
 * named by `startedBy.entityType`): a saga started by an event no entity records never starts.
 * `defineSaga` checks it against the entities it lists; `defineApp` against the app's, which is
 * the only check of a saga defined with `defineUntypedSaga`.
 */
export function checkSagaTrigger(
  definition: Pick<SagaDefinition<unknown>, "name" | "startedBy">,
  entity: Pick<AnyEntity, "type" | "eventTypes">,
): void {
  checkDeclaredEvent(`saga ${definition.name}: startedBy`, [entity], definition.startedBy.eventType);
}

/**
 * Checks a saga given in the runtime's type-erased shape (entity types, commands and events as
 * plain strings). Domain code uses `defineSaga`, which checks those names against the entities at
 * compile time. Throws when the definition cannot run (checkSagaDefinition).
 */
export function defineUntypedSaga<C, const Sv extends string = never>(
  definition: SagaDefinition<C, Sv>,
): SagaDefinition<C, Sv> {
  checkSagaDefinition(definition);
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

/**
 * A task whose commands (run and compensation) and `nothingToUndo` codes are checked against the
 * entities `X`, and whose service calls against the service names `Sv` (default: none).
 */
export interface TypedSagaTask<X extends AnyEntity, Sv extends string = never> extends SagaTask {
  readonly run: SagaCommand<X> | ServiceCallAction<Sv>;
  readonly compensate?: SagaCommand<X> | ServiceCallAction<Sv>;
  readonly nothingToUndo?: readonly RejectionCodeOf<X>[];
}

/**
 * A final task (`FinalSagaTask`) whose command is checked against the entities `X` and whose call
 * against the service names `Sv`; a `compensate` or `nothingToUndo` on it does not compile.
 */
export interface TypedFinalSagaTask<X extends AnyEntity, Sv extends string = never> extends FinalSagaTask {
  readonly run: SagaCommand<X> | ServiceCallAction<Sv>;
}

/** A stage whose tasks are `TypedSagaTask`s. */
export interface TypedSagaStage<C, X extends AnyEntity, Sv extends string = never> extends SagaStage<C> {
  tasks(context: C, results: TaskResults): readonly TypedSagaTask<X, Sv>[];
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
 * is checked against those definitions at compile time; its `call` tasks may name only the
 * services it declares in `services`, which `defineApp` checks against the app's own.
 */
export interface TypedSagaDefinition<C, X extends AnyEntity, St extends SagaTrigger<X>, Sv extends string = never> {
  /** 1-40 of a-z 0-9 and "-", starting with a letter (`sagaNameSchema`). */
  readonly name: string;
  readonly startedBy: St;
  /** The outside services its `call` tasks name: keys of `defineApp({ services })` (default: none). */
  readonly services?: readonly Sv[];
  /**
   * The instance a fact of one of the listed entities concerns (its key), or null when the saga
   * does not care about it. Facts of other entity types, and facts of a type their entity does not
   * declare (renamed or removed in code), never reach it (they concern no instance).
   */
  instanceOf(fact: FactOfAny<X>): string | null;
  /** The context of a new instance, from its starting fact (typed by `startedBy`). */
  start(fact: TriggeredFact<X, St>, sagaId: string): C;
  // NoInfer: the names are the declared `services`; a call to another must not widen them.
  readonly stages: readonly TypedSagaStage<C, X, NoInfer<Sv>>[];
  readonly abortOn?: AbortTriggers<X, C>;
  /** What to do last when the saga has been compensated (e.g. cancel the order). */
  finallyCompensate(context: C, reason: string): readonly TypedFinalSagaTask<X, NoInfer<Sv>>[];
}

type AbortHandler<C> = (fact: RecordedEvent, context: C) => string | null;
/** `AbortTriggers` with the types erased: entity type, then event name, then the handler. */
type AbortHandlers<C> = Readonly<Record<string, Readonly<Record<string, AbortHandler<C> | undefined>> | undefined>>;

/**
 * Defines a saga over the entities it follows and commands:
 * `defineSaga(orders, inventory, payments)({ name, startedBy, start, stages, … })`. Every reference
 * to those entities is checked at compile time (see TypedSagaDefinition); the result is the
 * runtime's type-erased shape. Throws when the definition cannot run (checkSagaDefinition).
 * (Two steps, so that the entities are fixed before the definition is checked against them: were
 * they inferred together, the command literals in `stages` would widen them instead.)
 */
export function defineSaga<const Xs extends readonly AnyEntity[]>(...entities: Xs) {
  return <C, const St extends SagaTrigger<Xs[number]>, const Sv extends string = never>(
    definition: TypedSagaDefinition<C, Xs[number], St, Sv>,
  ): TypedSaga<C, Xs[number], Sv> => typedSaga(entities, definition);
}

/**
 * A saga in the runtime's shape that remembers, for the compiler only, the entities it was
 * defined over, so that the saga kit can check expected commands against them; `Sv` is the
 * services it declares (`defineApp` checks them against the app's).
 */
export type TypedSaga<C, X extends AnyEntity, Sv extends string = string> = SagaDefinition<C, Sv> & {
  readonly __entities?: X;
};

/**
 * Throws unless every event a typed saga names is one its entity declares: the trigger, and each
 * `abortOn` key (an entity type it lists, then an event of that entity). The compiler checks the
 * same names; this catches JavaScript and type-asserted definitions, whose abort handlers would
 * otherwise never be called.
 */
function checkTypedTriggers<C>(
  entities: readonly AnyEntity[],
  definition: Pick<SagaDefinition<C>, "name" | "startedBy">,
  handlers: AbortHandlers<C> | undefined,
): void {
  const listed = (type: string) => entities.find((entity) => entity.type === type);
  const starter = listed(definition.startedBy.entityType);
  if (!starter)
    throw new Error(`saga ${definition.name} starts on ${definition.startedBy.entityType}, which it does not list`);
  checkSagaTrigger(definition, starter);
  for (const [type, events] of Object.entries(handlers ?? {})) {
    const entity = listed(type);
    if (!entity)
      throw new Error(`saga ${definition.name}: abortOn entity type ${JSON.stringify(type)}: not one the saga lists`);
    for (const name of Object.keys(events ?? {}))
      checkDeclaredEvent(`saga ${definition.name}: abortOn ${type}`, [entity], name);
  }
}

function typedSaga<C, X extends AnyEntity, St extends SagaTrigger<X>, Sv extends string>(
  entities: readonly AnyEntity[],
  definition: TypedSagaDefinition<C, X, St, Sv>,
): TypedSaga<C, X, Sv> {
  // The runtime calls these only with facts of the entity type and event name they are keyed by
  // (factEvents matches `startedBy`; the lookup below matches the abort keys): the one place the
  // erased facts meet the typed handlers.
  const handlers = definition.abortOn as AbortHandlers<C> | undefined;
  checkTypedTriggers(entities, definition, handlers);
  const declared = new Map(entities.map((entity) => [entity.type, new Set(entity.eventTypes)]));
  const start = (fact: RecordedEvent, sagaId: string): C => definition.start(fact as TriggeredFact<X, St>, sagaId);
  // Only facts of the listed entities' declared event types reach the typed handlers (upcast to
  // their current version before anything reads them). A fact of a type its entity no longer
  // declares (renamed or removed in code, still in flight or read back by gap repair) concerns no
  // instance, as facts of other entities do: the entity itself refuses to fold such a log
  // (`UnfoldableEvent`), so the type must be declared again to be used at all.
  const instanceOf = (fact: RecordedEvent): string | null =>
    declared.get(fact.meta.entityType)?.has(fact.type) === true ? definition.instanceOf(fact as FactOfAny<X>) : null;
  return defineUntypedSaga<C, Sv>({
    name: definition.name,
    startedBy: definition.startedBy,
    entityTypes: [...declared.keys()],
    services: [...(definition.services ?? [])],
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

/**
 * The longest task key (UTF-16 code units): the operator's resolve names a task by its key
 * (`POST /admin/sagas/{id}/resolve`, the dashboard's form), and a saga's status row lists them.
 */
export const MAX_TASK_KEY_CHARS = 200;

/** Whether `key` is of a task key's length, 1 to MAX_TASK_KEY_CHARS: the one rule for definitions and resolve forms. */
export const isTaskKeyLength = (key: string): boolean => key.length >= 1 && key.length <= MAX_TASK_KEY_CHARS;

/**
 * The idempotency key of a task's action: the same for every retry and every redelivery.
 * `<sagaId>/<taskKey>` to run, `<sagaId>/<taskKey>/undo` to compensate. One key names one action
 * because neither part holds "/": a saga id is `tenant:saga:instance`, each part of its grammar
 * (`sagaNameSchema`, instance keys as entity ids, checked on delivery), and a task key holding
 * "/" (`x/undo` would be `x`'s compensation) stops its saga before the task runs (`plan`).
 * The key is then fitted to the Idempotency-Key grammar (`fitIdempotencyKey`: 1-255 visible
 * ASCII, which the entity checks on every envelope): unchanged when it already fits, else cut to
 * 200 characters with non-visible ones replaced and the SHA-256 of the whole key appended, since a
 * 128-character instance id and an app's task key (of any length, possibly with spaces or
 * non-ASCII) can exceed it.
 */
export function taskIdempotencyKey(sagaId: string, taskKey: string, phase: "run" | "compensate"): Promise<string> {
  return fitIdempotencyKey(`${sagaId}/${taskKey}${phase === "compensate" ? "/undo" : ""}`);
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
    case "CompensationDone":
    case "CompensationResolved": {
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
        reason: event.reason ?? state.reason,
        escalatedFrom: event.reason !== undefined ? "turning" : state.status === "running" ? "running" : "compensating",
      };
    case "OperatorActed":
      return state;
    case "OperatorRetried":
      // A saga that was turning round is running again until the CompensationBegan recorded with this.
      return {
        ...state,
        status: state.escalatedFrom === "compensating" ? "compensating" : "running",
        error: null,
        attempts: {},
        escalatedFrom: null,
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

/**
 * Why the saga's host would refuse an action before it reaches its entity or service, or null
 * when it would send it: a command its entity would refuse unread (`parseSagaCommand`: an id
 * outside the URL grammar, no such command, data its schema refuses), a call `callRefusal` refuses. The host builds it from the app's entity types
 * and services; `plan` and the operator's decisions ask it, and stay pure.
 */
export type ActionCheck = (action: SagaAction) => string | null;

/**
 * What the saga should do at `now`: record transitions, run due tasks, or sleep until `wakeAt`.
 * `check` is asked of each compensating action about to be due: one it refuses stops the saga
 * for attention instead of running (see planCompensation). A forward action it refuses is the
 * host's to answer as the task's rejection, recorded with the stage's other outcomes
 * (saga-runner.ts).
 */
export function plan<C>(
  definition: SagaDefinition<C>,
  state: SagaState,
  now: number,
  policy: SagaRuntimePolicy,
  check: ActionCheck,
): Plan {
  if (state.status === "running") return planForward(definition, state, now, policy);
  if (state.status === "compensating") return planCompensation(state, now, policy.retry, check);
  return { kind: "wait", wakeAt: null };
}

function escalate(error: string, now: number): Plan {
  return { kind: "record", events: [{ type: "AttentionNeeded", error, at: now }] };
}

/** Task keys are often built from ids (`reserve:{sku}`): only own keys of `done` count. */
function isDone(state: SagaState, key: string): boolean {
  return Object.hasOwn(state.done, key);
}

/**
 * What is wrong with `tasks`, entered after `earlier`, or null: a key holding "/" (its idempotency
 * key would be another task's: `x/undo` runs under `x`'s compensation key), one used twice among
 * them or by one of `earlier` (a second task under a key would be taken for done and silently
 * skipped), an action that is not plain JSON (the saga's log stores tasks as JSON, so after a
 * restart the task would run with other data: a Date as a string, an undefined field gone, and
 * its command's idempotency fingerprint changed), or a call whose own idempotency key breaks the
 * Idempotency-Key grammar (`ownKeyIssue`). Tasks are built when a stage is entered (often from
 * ids), so this is checked then, before any of them runs.
 */
function taskProblem(tasks: readonly SagaTask[], earlier: readonly SagaTask[]): string | null {
  const seen = new Set(earlier.map((t) => t.key));
  for (const task of tasks) {
    if (!isTaskKeyLength(task.key))
      return `has task key ${JSON.stringify(task.key.slice(0, 64))}${task.key.length > 64 ? "…" : ""}, which is not 1-${MAX_TASK_KEY_CHARS} characters (an operator's resolve names a task by its key)`;
    if (task.key.includes("/")) return `has task key ${task.key}, which holds "/" (the idempotency key separator)`;
    if (seen.has(task.key)) return `repeats task key ${task.key}`;
    seen.add(task.key);
    const issue =
      jsonIssue(task.run, "run") ?? (task.compensate === undefined ? null : jsonIssue(task.compensate, "compensate"));
    if (issue !== null) return `has task ${task.key} that is not plain JSON: ${issue}`;
    const keyIssue =
      ownKeyIssue(task.run, "run") ??
      (task.compensate === undefined ? null : ownKeyIssue(task.compensate, "compensate"));
    if (keyIssue !== null) return `has task ${task.key} whose ${keyIssue}`;
  }
  return null;
}

/**
 * What is wrong with the idempotency key a call names itself (`ServiceCallAction.idempotencyKey`,
 * `serviceCall(…, { idempotencyKey })`), or null: it must already fit the Idempotency-Key grammar
 * (1-255 visible ASCII, `idempotencyKeyIssue`). The platform fits the keys it makes
 * (`taskIdempotencyKey`), but an app's own key is refused instead: it was chosen so that another
 * caller (the settle route beside a payment's charge, another system) deduplicates with it, and a
 * fitted key would silently stop matching theirs, so the one charge could be made twice. `where`
 * names the action (`run`, `compensate`) in the message.
 */
function ownKeyIssue(action: SagaAction, where: string): string | null {
  if (action.kind !== "call" || action.idempotencyKey === undefined) return null;
  const key: unknown = action.idempotencyKey;
  // Untyped code can give anything; a task is plain JSON by now, so only the type is in doubt.
  const issue =
    typeof key === "string" ? idempotencyKeyIssue(key) : `is a ${key === null ? "null" : typeof key}, not a string`;
  if (issue === null) return null;
  // The key is quoted in the saga's log and the admin view: at most its first 64 characters.
  const quoted =
    typeof key === "string" && key.length > 64 ? `${JSON.stringify(key.slice(0, 64))}…` : JSON.stringify(key);
  return `${where} idempotencyKey ${quoted} ${issue}: a call's own key must be 1-255 visible ASCII characters (no spaces), since it is sent as given, never fitted`;
}

/**
 * What is wrong with final tasks beyond `taskProblem`, or null: one with a `compensate` or
 * `nothingToUndo`, which untyped code can give (`FinalSagaTask` has neither). A final task runs
 * its `run` and nothing undoes it, so either would only mislead: checked when the saga turns
 * round, before any final task runs, like their keys.
 */
function finalTaskProblem(tasks: readonly FinalSagaTask[]): string | null {
  for (const task of tasks) {
    if (task.compensate !== undefined)
      return `has task ${task.key} with a compensate (a final task runs its run; nothing undoes it)`;
    if (task.nothingToUndo !== undefined)
      return `has task ${task.key} with nothingToUndo (a final task runs its run; nothing undoes it)`;
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
    // The definition's mistake stops the saga where an operator sees it, before the stage is entered.
    const problem = taskProblem(tasks, state.history.flat());
    if (problem !== null) return escalate(`stage ${stage.name} ${problem}`, now);
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
      if (!pivoting || state.stage === state.pivotStage)
        return { kind: "record", events: [turnRound(definition, state, why, now)] };
      return escalate(`past the point of no return, ${why}`, now);
    }
    if (a.count >= policy.retry.maxAttempts) {
      const why = `${task.key} failed ${a.count} times; last: ${a.lastError ?? "unknown"}`;
      return pivoting
        ? escalate(`past the point of no return, ${why}`, now)
        : { kind: "record", events: [turnRound(definition, state, why, now)] };
    }
  }
  // From the pivot on, a slow stage is retried forward, never turned round.
  if (!pivoting && now >= state.stageDeadline)
    return { kind: "record", events: [turnRound(definition, state, `stage ${stageName} timed out`, now)] };
  const pending = state.tasks.filter((t) => !isDone(state, t.key));
  const due = pending.filter((t) => (ownValue(state.attempts, t.key)?.retryAt ?? 0) <= now);
  const retryAts = pending.map((t) => ownValue(state.attempts, t.key)?.retryAt ?? now);
  const wakeAt = pivoting ? Math.min(...retryAts) : Math.min(state.stageDeadline, ...retryAts);
  if (due.length === 0) return { kind: "wait", wakeAt };
  return { kind: "run", tasks: due.map((task) => ({ task, phase: "run", action: task.run })), wakeAt };
}

/**
 * Turns the saga round: the `CompensationBegan` event, which compensates every task of every stage
 * entered so far, newest stage first, then the definition's `finallyCompensate` tasks. Even tasks
 * with no known outcome: a request may have taken effect while its answer was lost, and
 * compensations are harmless when the task never took effect. When the final tasks are wrong
 * (their keys, `taskProblem`, or a compensate given one, `finalTaskProblem`), `AttentionNeeded`
 * instead, carrying `reason` so that it is not lost.
 */
function turnRound<C>(definition: SagaDefinition<C>, state: SagaState, reason: string, now: number): SagaEvent {
  const groups: SagaTask[][] = [];
  for (const stage of [...state.history].reverse()) {
    const undo = stage.filter((t) => t.compensate !== undefined);
    if (undo.length > 0) groups.push(undo);
  }
  const final = definition.finallyCompensate(state.context as C, reason);
  const problem = taskProblem(final, state.history.flat()) ?? finalTaskProblem(final);
  if (problem !== null) return { type: "AttentionNeeded", error: `finallyCompensate ${problem}`, reason, at: now };
  if (final.length > 0) groups.push([...final]);
  return { type: "CompensationBegan", reason, groups, at: now };
}

function planCompensation(state: SagaState, now: number, policy: RetryPolicy, check: ActionCheck): Plan {
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
  // A task of a stage entered is undone by its `compensate`. A final task (finallyCompensate's:
  // its key is no entered stage's, taskProblem) runs its `run`, even in a log recorded before a
  // final task's `compensate` was refused; still in the compensating phase, so under the key
  // (`…/undo`) final tasks have always run under, and one that already ran is not run again.
  const entered = new Set(state.history.flat().map((t) => t.key));
  const action = (task: SagaTask): SagaAction =>
    task.compensate !== undefined && entered.has(task.key) ? task.compensate : task.run;
  const tasks = due.map((task): DueTask => ({ task, phase: "compensate", action: action(task) }));
  // A refused action is refused again on every attempt (the log holds the task as built, and the
  // entity types and services do not change until a deploy): retrying it would only make the
  // operator wait out SAGA_COMPENSATION_MAX_ATTEMPTS backoffs for the same answer. Unlike a forward
  // refusal, it has no way round, so it stops the saga now; the operator's retry is refused while
  // it stands.
  for (const { task, action: act } of tasks) {
    const refusal = check(act);
    if (refusal !== null)
      return escalate(bounded(`compensating ${task.key} (${actionLabel(act)}) is refused: ${refusal}`), now);
  }
  return { kind: "run", tasks, wakeAt };
}

/**
 * An action as an error names it: `entityType.command`, or `service.operation` (the operation cut
 * as a reason quotes it, or left out when not a string).
 */
function actionLabel(action: SagaAction): string {
  if (action.kind === "command") return `${action.entityType}.${action.command}`;
  const operation: unknown = action.operation;
  return typeof operation === "string" ? `${action.service}.${shortened(operation)}` : action.service;
}

/**
 * The longest reason or error a task's outcome records (characters): a service or entity may
 * answer with text of any length (one quoting its input), and the saga's log keeps it, lists and
 * dashboards show it, and `finallyCompensate` is handed it. Longer text is cut, ending in "…".
 */
export const OUTCOME_TEXT_MAX = 2_000;

// String(): an untyped service may answer without its text; the log then says so, not a TypeError.
const bounded = (text: string): string => {
  const said = String(text);
  return said.length > OUTCOME_TEXT_MAX ? `${said.slice(0, OUTCOME_TEXT_MAX - 1)}…` : said;
};

/** `outcome` with its reason or error cut to OUTCOME_TEXT_MAX. */
function boundedOutcome(outcome: TaskOutcome): TaskOutcome {
  switch (outcome.kind) {
    case "done":
      return outcome;
    case "failed":
      return { ...outcome, error: bounded(outcome.error) };
    default:
      return { ...outcome, reason: bounded(outcome.reason) };
  }
}

/**
 * The saga events a task's outcome records; `delayMs` is the backoff chosen for a retry. A reason
 * or error longer than OUTCOME_TEXT_MAX is recorded cut.
 */
export function outcomeEvents(
  state: SagaState,
  due: DueTask,
  answered: TaskOutcome,
  now: number,
  delayMs: number,
): SagaEvent[] {
  const outcome = boundedOutcome(answered);
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
  // `nothingToUndo` names rejections of the task's `compensate`, never of a final task's `run`
  // (planCompensation hands the task's own `compensate` object as the action when it undoes).
  const undoing = due.action === due.task.compensate;
  if (
    undoing &&
    outcome.kind === "rejected" &&
    outcome.code !== undefined &&
    due.task.nothingToUndo?.includes(outcome.code)
  ) {
    return [{ type: "CompensationDone", key, at: now }];
  }
  const error = outcome.kind === "rejected" ? `rejected: ${outcome.reason}` : outcome.error;
  const retryAfter = outcome.kind === "failed" ? (outcome.retryAfterMs ?? 0) : 0;
  return [{ type: "CompensationFailed", key, error, retryAt: now + Math.max(delayMs, retryAfter), at: now }];
}

/** How a saga's log and logs name a fact: `entityType/entityId#seq EventType`. */
export function factLabel(fact: RecordedEvent): string {
  return `${fact.meta.entityType}/${fact.meta.entityId}#${fact.seq} ${fact.type}`;
}

/** Whether `fact` is of the entity type and event type that start `definition`'s instances. */
export function startsSaga<C>(definition: SagaDefinition<C>, fact: RecordedEvent): boolean {
  return fact.meta.entityType === definition.startedBy.entityType && fact.type === definition.startedBy.eventType;
}

/**
 * The saga events a fact delivered to this instance records (none for a duplicate). A second
 * starting fact (another event id) for an instance that has started is only observed: `instanceOf`
 * gave two starts one instance, which the runner logs as the app's mistake. Throws when
 * the definition's `start` returns a context that is not plain JSON: the app's mistake fails the
 * delivery, which is retried, then dead-lettered with this error for an operator to see (as an
 * `instanceOf` naming a bad key: src/core/saga/saga-delivery.ts).
 */
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
    fact: factLabel(fact),
    clock: fact.meta.hlc,
    at: now,
  };
  const starts = startsSaga(definition, fact);
  if (state.status === "new") {
    // Facts about an instance that has not started (late or reordered) are not the saga's to act on.
    if (!starts) return [];
    const context = definition.start(fact, sagaId);
    // The log stores the context as JSON: a restart would give the stages another one.
    const issue = jsonIssue(context, "context");
    if (issue !== null)
      throw new Error(`saga ${definition.name}: start returned a context that is not plain JSON: ${issue}`);
    return [observed, { type: "SagaStarted", context, fact: fact.meta.eventId, at: now }];
  }
  // From the pivot on the saga goes forward whatever arrives; the pivot's owner refuses the late
  // abort (e.g. an order refuses a cancel once confirmed).
  if (state.status === "running" && state.pivotStage === null && definition.abortOn) {
    const reason = definition.abortOn(fact, state.context as C);
    if (reason !== null) return [observed, turnRound(definition, state, reason, now)];
  }
  return [observed];
}

/**
 * Why an operator's action was refused; `type` is stable (the admin API answers it as the 409
 * problem's `code`), and nothing is recorded:
 * - `wrong-status`: the action does not apply to the saga's status (retry: only a saga needing
 *   attention; compensate: a running saga or one needing attention);
 * - `past-pivot`: compensate of a saga past its point of no return, which only goes forward;
 * - `escalates-again`: the action would stop the saga for attention again at once, with `error`
 *   (a mistake acting again cannot fix: a repeated task key, fixed by deploying the corrected
 *   definition; or a compensation its entity or service refuses unread, fixed by deploying an
 *   entity type or contract that takes it: its action was recorded when its stage was entered, so
 *   a changed definition does not reach it);
 * - `not-pending`: resolve of a task whose compensation is not what stopped the saga (no
 *   compensation of that task is waiting in the group the saga stopped in).
 */
export type OperatorRefusal =
  | { readonly type: "wrong-status"; readonly status: SagaState["status"] }
  | { readonly type: "past-pivot"; readonly status: SagaState["status"] }
  | { readonly type: "escalates-again"; readonly error: string }
  | { readonly type: "not-pending"; readonly key: string };

/** What an operator's action comes to: the saga events to record, or why it is refused. */
export type OperatorDecision =
  | { readonly ok: true; readonly events: readonly SagaEvent[] }
  | { readonly ok: false; readonly refusal: OperatorRefusal };

/** The reason a saga turned round by an operator's `compensate` records. */
const FORCED_COMPENSATION = "compensation forced by an operator";

const refuse = (refusal: OperatorRefusal): OperatorDecision => ({ ok: false, refusal });

/**
 * The operator's "retry" of a saga that needs attention: with fresh attempts, it resumes what the
 * saga was doing when it escalated — its forward steps (past the pivot, or a stage whose task keys
 * were wrong), its turn round (for the reason recorded), or its compensation. Refused for a saga
 * that needs no attention, or one the retry would stop again at once (`escalates-again`).
 */
export function operatorRetry<C>(
  definition: SagaDefinition<C>,
  state: SagaState,
  now: number,
  policy: SagaRuntimePolicy,
  check: ActionCheck,
): OperatorDecision {
  if (state.status !== "attention") return refuse({ type: "wrong-status", status: state.status });
  if (state.escalatedFrom === "turning")
    return retryTurningRound(definition, state, state.reason ?? FORCED_COMPENSATION, now, policy, check);
  return unlessStoppedAgain(definition, state, [{ type: "OperatorRetried", at: now }], now, policy, check);
}

/**
 * The operator's "compensate": a running saga is turned round (if its final tasks' keys are wrong,
 * it stops for attention instead, as any turn round would). A saga needing attention is retried
 * when it was turning round or compensating, and turned round when it stopped going forward
 * before its pivot (every stage entered is compensated, newest first; the stage that stopped it
 * was never entered). Refused past the pivot (`past-pivot`): it can only go forward.
 */
export function operatorCompensate<C>(
  definition: SagaDefinition<C>,
  state: SagaState,
  now: number,
  policy: SagaRuntimePolicy,
  check: ActionCheck,
): OperatorDecision {
  const forwardOnly = state.pivotStage !== null;
  if (state.status === "attention") {
    if (state.escalatedFrom !== "running") return operatorRetry(definition, state, now, policy, check);
    if (forwardOnly) return refuse({ type: "past-pivot", status: state.status });
    return retryTurningRound(definition, state, FORCED_COMPENSATION, now, policy, check);
  }
  if (state.status !== "running") return refuse({ type: "wrong-status", status: state.status });
  if (forwardOnly) return refuse({ type: "past-pivot", status: state.status });
  return { ok: true, events: [turnRound(definition, state, FORCED_COMPENSATION, now)] };
}

/**
 * The keys of the tasks whose compensation `operatorResolve` would declare done: those of the
 * compensation group a saga stopped in, not compensated yet, when it needs attention from
 * compensating; none otherwise. The admin list and the dashboard offer a resolve for each.
 */
export function resolvableTasks(state: SagaState): string[] {
  if (state.status !== "attention" || state.escalatedFrom !== "compensating") return [];
  const group = state.compensation[state.compensationGroup] ?? [];
  return group.map((t) => t.key).filter((key) => !state.compensated.includes(key));
}

/**
 * The operator's "resolve": the compensation of task `key`, which stopped a compensating saga for
 * attention (one its entity or service refuses, or that kept failing), is declared done by hand
 * (the operator undid that step outside the saga), and the saga resumes its compensation with
 * fresh attempts. Refused (`not-pending`) unless the saga needs attention from compensating and
 * `key` is a task of its current group not compensated yet. Accepted even if the next
 * compensation stops the saga again: each stuck one is resolved in turn.
 */
export function operatorResolve(state: SagaState, key: string, now: number): OperatorDecision {
  if (!resolvableTasks(state).includes(key)) return refuse({ type: "not-pending", key });
  return {
    ok: true,
    events: [
      { type: "OperatorRetried", at: now },
      { type: "CompensationResolved", key, at: now },
    ],
  };
}

/**
 * The operator's retry, then the turn round for `reason`; refused if the final tasks' keys still
 * stop it, or if its first compensations are actions `check` refuses (they would stop it at once).
 */
function retryTurningRound<C>(
  definition: SagaDefinition<C>,
  state: SagaState,
  reason: string,
  now: number,
  policy: SagaRuntimePolicy,
  check: ActionCheck,
): OperatorDecision {
  const retried: SagaEvent = { type: "OperatorRetried", at: now };
  const turn = turnRound(definition, evolve(state, retried), reason, now);
  return turn.type === "AttentionNeeded"
    ? refuse({ type: "escalates-again", error: turn.error })
    : unlessStoppedAgain(definition, state, [retried, turn], now, policy, check);
}

/**
 * `events`, unless the saga they lead to would stop for attention again before it runs a task
 * (the plan's transitions folded on, nothing run): then refused with that escalation's error.
 * The plan is asked with the host's `check`, so a compensation its entity type or service still
 * refuses refuses the action, until a fixed definition, entity type or contract is deployed.
 */
function unlessStoppedAgain<C>(
  definition: SagaDefinition<C>,
  state: SagaState,
  events: readonly SagaEvent[],
  now: number,
  policy: SagaRuntimePolicy,
  check: ActionCheck,
): OperatorDecision {
  let next = events.reduce(evolve, state);
  // Each transition enters a stage or ends the saga: a bounded walk.
  for (let step = 0; step < definition.stages.length + 2; step++) {
    const p = plan(definition, next, now, policy, check);
    if (p.kind !== "record") break;
    for (const event of p.events)
      if (event.type === "AttentionNeeded") return refuse({ type: "escalates-again", error: event.error });
    next = p.events.reduce(evolve, next);
  }
  return { ok: true, events };
}

/** The detail an operator reads when `action` was refused. */
export function describeRefusal(action: OperatorAction, refusal: OperatorRefusal): string {
  switch (refusal.type) {
    case "wrong-status":
      return `cannot ${action} a saga that is ${refusal.status}`;
    case "past-pivot":
      return `cannot compensate a saga past its point of no return (${refusal.status}): it only goes forward; retry it`;
    case "escalates-again":
      return `${action === "compensate" ? "compensating" : "retrying"} would stop the saga for attention again at once (${refusal.error}): fix it first (a task key: deploy the corrected saga definition; a refused compensation: deploy an entity type or service contract that takes it, since its action was recorded when its stage was entered, or undo the step by hand and resolve it)`;
    case "not-pending":
      return `no compensation of task ${JSON.stringify(refusal.key.slice(0, 80))} is waiting on an operator: resolve names a task whose compensation stopped the saga`;
  }
}

/** The id of one saga instance, which is also the name of the object that hosts it. */
export function sagaInstanceId(tenant: string, sagaName: string, instanceKey: string): string {
  return `${tenant}:${sagaName}:${instanceKey}`;
}

/**
 * Why the saga runtime refuses `action` before its service is reached, or null when it makes the
 * call: the saga declares its services (`services`) and not this one (`saga charge-order does not
 * declare service ghost`), the app lacks it (`service`
 * undefined: `no service ghost`), the call's own idempotency key breaks the Idempotency-Key
 * grammar (only in a task an earlier version recorded: `plan` refuses such a key when its stage is
 * entered), or the service's contract refuses its operation or request (`checkServiceCall`).
 * `service` is the app's service of that name; one without a contract (written by hand) checks
 * its calls itself. The saga runner and the saga kit build their `ActionCheck` from it: forward,
 * a refusal is the task's rejection; compensating, it stops the saga for attention (`plan`).
 */
export function callRefusal(
  saga: { readonly name: string; readonly services?: readonly string[] },
  action: ServiceCallAction,
  service: { readonly contract: ServiceContract | undefined } | undefined,
): string | null {
  if (saga.services && !saga.services.includes(action.service))
    return `saga ${saga.name} does not declare service ${action.service}`;
  if (service === undefined) return `no service ${action.service}`;
  const keyIssue = action.idempotencyKey === undefined ? null : idempotencyKeyIssue(action.idempotencyKey);
  if (keyIssue !== null)
    return `call ${action.service}.${action.operation}: its idempotencyKey ${keyIssue} (1-255 visible ASCII, no spaces)`;
  return service.contract === undefined ? null : checkServiceCall(service.contract, action);
}
