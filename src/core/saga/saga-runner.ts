// The saga object's whole effect sequence, one implementation for the Durable Object
// (cloud/sagas/saga-host.ts gives it ports over SQLite, the object's alarm, entity RPC, the app's
// services and D1) and the simulator (src/simulation/saga-host.ts gives it ports over its models):
// facts delivered (deduplicated, the log's storage made ready before the first event), the alarm
// woken, the drive (rounds of `plan`: transitions recorded, due tasks run concurrently — entity
// commands bounded by a timeout, service calls through the app's services — their outcomes
// recorded with backoff, at most MAX_ROUNDS rounds before it yields and re-arms), the status
// mirrored to D1 when it changed (retried after MIRROR_RETRY_MS when D1 fails), the operator's
// retry and compensate, and the wake-up check that an unfinished saga always has an alarm. The
// rules themselves are the pure saga engine (src/core/model/saga.ts); this file owns the order in
// which their effects happen. Build one per object incarnation: the log survives, memory does not.
import { describeFieldErrors, type ParsedCommand } from "../model/entity.js";
import type { ServiceContract } from "../model/service-contract.js";
import type { RecordedEvent } from "../model/envelope.js";
import { ownValue } from "../model/own-keys.js";
import { jsonIssue } from "../model/plain-json.js";
import {
  callRefusal,
  evolve,
  factEvents,
  factLabel,
  startsSaga,
  NEW_SAGA,
  operatorCompensate,
  operatorResolve,
  resolvableTasks,
  operatorRetry,
  outcomeEvents,
  plan,
  sagaInstanceId,
  taskIdempotencyKey,
  type ActionCheck,
  type DueTask,
  type EntityCommandAction,
  type OperatorAction,
  type OperatorDecision,
  type OperatorRefusal,
  type SagaDefinition,
  type SagaEvent,
  type SagaRuntimePolicy,
  type SagaState,
  type TaskOutcome,
} from "../model/saga.js";
import type { CommandEnvelope, CommandOutcome } from "../protocol/entity-protocol.js";
import { backoffDelay } from "../resilience/backoff.js";
import { entityIdRefusal } from "../entity/command-host.js";

/**
 * Why `action`'s entity would refuse it unread for its id, or null: an id outside the URL grammar
 * (the entity object's own first check, `entityIdRefusal` in command-host.ts, answered 400 on
 * every attempt). The saga runner rejects such a command before sending it, and the saga kit
 * does the same.
 */
export function commandIdRefusal(action: EntityCommandAction): string | null {
  const refused = entityIdRefusal(action.entityId);
  return refused ? `invalid ${action.entityType}.${action.command}: ${refused.detail}` : null;
}

/**
 * `action`'s data as its entity type parses it (`parse`: the type's `parseCommand`, undefined for
 * no such type or command), or why its entity would refuse it unread: an id outside the URL
 * grammar (`commandIdRefusal`), no such type or command, or data its schema refuses. The saga
 * runner sends the parsed data, and the saga kit, given the entity types, refuses the same.
 */
export function parseSagaCommand(
  action: EntityCommandAction,
  parse: (entityType: string, command: string, data: unknown) => ParsedCommand | undefined,
): { readonly ok: true; readonly data: unknown } | { readonly ok: false; readonly reason: string } {
  const badId = commandIdRefusal(action);
  if (badId !== null) return { ok: false, reason: badId };
  const parsed = parse(action.entityType, action.command, action.data);
  if (parsed?.ok) return { ok: true, data: parsed.command.data };
  const why = parsed ? describeFieldErrors(parsed.errors) : "no such command";
  return { ok: false, reason: `invalid ${action.entityType}.${action.command}: ${why}` };
}

/** Entity commands are internal calls: bounded by this timeout (ms), retried by the saga. */
export const COMMAND_TIMEOUT_MS = 10_000;
/** Transitions and task rounds one drive may take before it yields and re-arms its alarm. */
export const MAX_ROUNDS = 64;
/** After a failed status mirror or a drive that threw, the alarm fires again this much later (ms). */
export const MIRROR_RETRY_MS = 5_000;

/** Which saga instance an object hosts (the object's name is its `sagaInstanceId`). */
export interface SagaAddress {
  readonly tenant: string;
  readonly saga: string;
  readonly instanceKey: string;
}

/** The status the admin API lists, mirrored to D1 (`saga_instances`); `version` is the log's seq. */
export interface SagaStatusRow {
  readonly id: string;
  readonly address: SagaAddress;
  readonly status: SagaState["status"];
  /** The current stage's name, null before the first stage. */
  readonly stage: string | null;
  readonly reason: string | null;
  readonly error: string | null;
  /** The tasks whose compensation the operator's resolve would declare done (`resolvableTasks`). */
  readonly resolvable: readonly string[];
  readonly version: number;
}

/** An outside service as a saga's `call` task reaches it (production binds the Worker's env). */
export interface SagaService {
  /**
   * The contract it implements (`implementService`, `implementContract`), or undefined for a
   * service written by hand without one, which checks its calls itself: each call is checked
   * against it before the service is reached (`checkServiceCall`). Required, though possibly
   * undefined, so that a host cannot leave it out and silently skip the check.
   */
  readonly contract: ServiceContract | undefined;
  call(
    operation: string,
    data: Readonly<Record<string, unknown>>,
    context: { readonly tenant: string; readonly idempotencyKey: string },
  ): Promise<TaskOutcome>;
}

/** The saga's durable log (production: the `saga_log` and `saga_identity` tables). */
export interface SagaLogStorage {
  /** The events stored, oldest first (empty before the first). Read once per incarnation. */
  read(): Iterable<SagaEvent>;
  /**
   * Makes storage ready for the first event (production: creates the tables). Awaited once, only
   * while the log is empty; the runner decides again after it, since a twin delivery may have
   * started the saga meanwhile.
   */
  prepare(): Promise<void>;
  /**
   * Appends `events` as seqs `firstSeq`, `firstSeq + 1`, …, all or none, durable when it returns
   * (production: one `transactionSync`; with `firstSeq === 1` it stores the address too).
   */
  append(events: readonly SagaEvent[], firstSeq: number): void;
}

/** What the runner needs of its host. All times are epoch ms. */
export interface SagaRunnerPorts {
  readonly storage: SagaLogStorage;
  now(): number;
  /** The alarm's time, or null when none is set. */
  getAlarm(): Promise<number | null>;
  /** Sets the object's alarm to `at`, replacing any set. */
  setAlarm(at: number): Promise<void>;
  /**
   * `work`'s answer, or a rejection with `CallTimedOut` after `ms` (production: `withTimeout`);
   * the work itself may still finish later.
   */
  bounded<T>(work: () => Promise<T>, ms: number): Promise<T>;
  /** A command's body parsed by its entity's schema, as at the HTTP boundary; undefined for no such entity or command. */
  parseCommand(entityType: string, command: string, data: unknown): ParsedCommand | undefined;
  /** The digest of (command, body) an idempotency key is bound to (production: `commandFingerprint`). */
  fingerprint(command: string, data: unknown): Promise<string>;
  /** One command over RPC to its entity's object; rejects when the RPC fails. */
  command(envelope: CommandEnvelope): Promise<CommandOutcome>;
  /** The app's service named `name` (own names only), or undefined. */
  service(name: string): SagaService | undefined;
  /** Writes the status row, unless the stored one has an equal or higher version; rejects when D1 fails. */
  mirror(row: SagaStatusRow): Promise<void>;
  /** A structured log line for operators. */
  log(level: "info" | "warn" | "error", message: string, fields: Readonly<Record<string, string | null>>): void;
}

/** What the operator's action came to: done, or refused, with why (`OperatorRefusal`). */
export type OperatorActionOutcome = { readonly ok: true } | { readonly ok: false; readonly refusal: OperatorRefusal };

/**
 * One saga instance for one object incarnation: the log folded into state at construction, the
 * drive and the status mirror in memory. `definition` is the app's saga named in `address`.
 */
export class SagaRunner {
  readonly address: SagaAddress;
  readonly id: string;
  readonly definition: SagaDefinition<unknown>;
  readonly #ports: SagaRunnerPorts;
  readonly #policy: SagaRuntimePolicy;
  #state: SagaState = NEW_SAGA;
  #seq = 0;
  /** The status last mirrored by this incarnation (a fresh one mirrors again once). */
  #mirrored: string | null = null;
  #driving: Promise<void> | null = null;
  #again = false;

  constructor(
    ports: SagaRunnerPorts,
    address: SagaAddress,
    definition: SagaDefinition<unknown>,
    policy: SagaRuntimePolicy,
  ) {
    this.#ports = ports;
    this.address = address;
    this.definition = definition;
    this.#policy = policy;
    this.id = sagaInstanceId(address.tenant, address.saga, address.instanceKey);
    for (const event of ports.storage.read()) {
      this.#state = evolve(this.#state, event);
      this.#seq++;
    }
  }

  /** The folded state of the log. */
  get state(): SagaState {
    return this.#state;
  }

  /** Events in the log (0: the saga never started, and the object stored nothing). */
  get seq(): number {
    return this.#seq;
  }

  /** The current stage's name, null before the first. */
  get stageName(): string | null {
    return this.definition.stages[this.#state.stage]?.name ?? null;
  }

  /**
   * Call once after a wake-up: a restart may have cut a drive short before it re-armed, so an
   * unfinished saga without an alarm gets one now.
   */
  async resume(): Promise<void> {
    const active = this.#state.status === "running" || this.#state.status === "compensating";
    if (active && (await this.#ports.getAlarm()) === null) await this.#ports.setAlarm(this.#ports.now());
  }

  /**
   * Facts concerning this instance (at least once, in any order): each records what the engine
   * says (nothing for a duplicate or a fact before the start), then the alarm is woken. Answers
   * how many events were recorded.
   */
  async deliver(facts: readonly RecordedEvent[]): Promise<number> {
    const now = this.#ports.now();
    let recorded = 0;
    for (const fact of facts) {
      let events = factEvents(this.definition, this.#state, this.id, fact, now);
      if (events.length === 0) continue;
      if (this.#state.status !== "new" && startsSaga(this.definition, fact))
        this.#ports.log("warn", "saga already started: another starting fact is ignored", {
          saga: this.id,
          fact: factLabel(fact),
          eventId: fact.meta.eventId,
          hint: "instanceOf must give each starting fact an instance of its own",
        });
      if (this.#seq === 0) {
        await this.#ports.storage.prepare();
        events = factEvents(this.definition, this.#state, this.id, fact, now);
      }
      recorded += this.#append(events);
    }
    if (recorded > 0) await this.#wake(now);
    return recorded;
  }

  /**
   * The operator's retry of a saga that needs attention (`operatorRetry`); null before the saga
   * started. Refused (`escalates-again`) while a compensation it would resume is a call the app's
   * services still refuse. `by` names who acted, for the saga's log (`OperatorActed`).
   */
  retry(by: string): Promise<OperatorActionOutcome | null> {
    return this.#operator((state, now) => operatorRetry(this.definition, state, now, this.#policy, this.#check), {
      action: "retry",
      by,
    });
  }

  /** The operator's forced compensation (`operatorCompensate`), by `by`; null before the saga started. */
  compensate(by: string): Promise<OperatorActionOutcome | null> {
    return this.#operator((state, now) => operatorCompensate(this.definition, state, now, this.#policy, this.#check), {
      action: "compensate",
      by,
    });
  }

  /**
   * The operator's resolve of task `key`'s compensation, done by hand (`operatorResolve`), by
   * `by`; null before the saga started.
   */
  resolve(key: string, by: string): Promise<OperatorActionOutcome | null> {
    return this.#operator((state, now) => operatorResolve(state, key, now), { action: "resolve", by, task: key });
  }

  /**
   * The alarm fired: drive the saga until it waits. A drive that throws (a bug, a storage failure)
   * is logged and the alarm set again after MIRROR_RETRY_MS, so the saga stays alive; its error is
   * answered for the host to count.
   */
  async alarmFired(): Promise<{ readonly error?: string }> {
    try {
      await this.#drive();
      return {};
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      this.#ports.log("error", "saga drive failed", { saga: this.id, error: text });
      await this.#ports.setAlarm(this.#ports.now() + MIRROR_RETRY_MS);
      return { error: text };
    }
  }

  async #operator(
    decide: (state: SagaState, now: number) => OperatorDecision,
    act: { readonly action: OperatorAction; readonly by: string; readonly task?: string },
  ): Promise<OperatorActionOutcome | null> {
    if (this.#seq === 0) return null;
    const now = this.#ports.now();
    const decision = decide(this.#state, now);
    if (!decision.ok) return decision;
    this.#append([{ type: "OperatorActed", ...act, at: now }, ...decision.events]);
    this.#ports.log("info", "saga operator action", { saga: this.id, ...act });
    await this.#wake(now);
    return { ok: true };
  }

  /** Drives the saga until it waits; a drive requested while one runs makes that one go again. */
  #drive(): Promise<void> {
    if (this.#driving) {
      this.#again = true;
      return this.#driving;
    }
    this.#driving = (async () => {
      try {
        do {
          this.#again = false;
          await this.#rounds();
        } while (this.#again);
      } finally {
        this.#driving = null;
      }
    })();
    return this.#driving;
  }

  async #rounds(): Promise<void> {
    const ports = this.#ports;
    const policy = this.#policy;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const next = plan(this.definition, this.#state, ports.now(), policy, this.#check);
      if (next.kind === "record") {
        this.#append(next.events);
        continue;
      }
      if (next.kind === "wait") {
        await this.#mirror();
        if (next.wakeAt !== null) await ports.setAlarm(Math.max(next.wakeAt, ports.now()));
        return;
      }
      const outcomes = await Promise.all(next.tasks.map(async (due) => ({ due, outcome: await this.#run(due) })));
      const at = ports.now();
      for (const { due, outcome } of outcomes) {
        const attempts = (ownValue(this.#state.attempts, due.task.key)?.count ?? 0) + 1;
        if (outcome.kind === "failed" || outcome.kind === "rejected") {
          ports.log("warn", "saga task did not succeed", {
            saga: this.id,
            task: due.task.key,
            phase: due.phase,
            outcome: outcome.kind,
            detail: outcome.kind === "failed" ? outcome.error : outcome.reason,
          });
        }
        this.#append(outcomeEvents(this.#state, due, outcome, at, backoffDelay(attempts, policy.retry)));
      }
      await this.#mirror();
    }
    // Yield: the next alarm carries on, so one saga cannot hold its object for ever.
    await ports.setAlarm(ports.now());
  }

  /**
   * Why the app refuses an action before it reaches its entity or service, or null: a command
   * its entity would refuse unread (`parseSagaCommand`), a call `callRefusal` refuses (a service the
   * saga does not declare or the app lacks, an own key outside the grammar, a request or operation
   * its contract refuses). `plan` asks it of compensations, which it stops the saga on, and the
   * operator's decisions through the plan. A check that throws (a schema's refinement with a bug)
   * answers null here: the attempt then throws too and is counted as failed, so the saga is not
   * stuck re-planning.
   */
  readonly #check: ActionCheck = (action) => {
    try {
      if (action.kind === "command") {
        const parsed = parseSagaCommand(action, this.#ports.parseCommand);
        return parsed.ok ? null : parsed.reason;
      }
      return callRefusal(this.definition, action, this.#ports.service(action.service));
    } catch {
      return null;
    }
  };

  /**
   * Runs one due task under its stable idempotency key; a throw is a failed attempt, and so is a
   * service's result that is not plain JSON (its adapter's bug: retried, then the saga turns round
   * or, past its pivot, stops for attention). A command its entity type cannot parse, or a call
   * its services refuse (`callRefusal`, each reason naming the service and the operation), is
   * rejected before it is sent; compensations never get here refused, since `plan` stops the saga
   * on them first.
   */
  async #run(due: DueTask): Promise<TaskOutcome> {
    const action = due.action;
    const key =
      (action.kind === "call" ? action.idempotencyKey : undefined) ??
      (await taskIdempotencyKey(this.id, due.task.key, due.phase));
    try {
      if (action.kind === "command") return await this.#command(action, key);
      // What the definition got wrong about a call, found only when it is made, is the call's
      // rejection (the saga turns round, or past its pivot stops for attention), never a send. A
      // literal call's operation and request reach no compiler: every call is held to the
      // contract of the service it reaches, the same zod schemas `serviceCall` types it by.
      const service = this.#ports.service(action.service);
      const refusal = callRefusal(this.definition, action, service);
      // callRefusal refuses a missing service; the second test only tells the compiler so.
      if (refusal !== null || service === undefined)
        return { kind: "rejected", reason: refusal ?? `no service ${action.service}` };
      // The request as the saga built it, not the schema's output: the service parses it again
      // with the same schema, which takes its input (a transforming schema's output may not be).
      const outcome = await service.call(action.operation, action.data, {
        tenant: this.address.tenant,
        idempotencyKey: key,
      });
      // The result is stored in the saga's log and handed to later stages: as JSON after a restart.
      const issue =
        outcome.kind === "done" && outcome.result !== undefined ? jsonIssue(outcome.result, "result") : null;
      if (issue !== null)
        return {
          kind: "failed",
          error: `service ${action.service} answered ${action.operation} with a result that is not plain JSON: ${issue}`,
        };
      return outcome;
    } catch (error) {
      return { kind: "failed", error: error instanceof Error ? error.message : String(error) };
    }
  }

  /**
   * An entity command: parsed as at the HTTP boundary, sent under `key` with the saga's clock,
   * correlation and causation, bounded by COMMAND_TIMEOUT_MS. 409, 429 and 5xx are failures to
   * retry (after the entity's Retry-After at least); any other problem is the entity's refusal.
   */
  async #command(action: EntityCommandAction, key: string): Promise<TaskOutcome> {
    const ports = this.#ports;
    const parsed = parseSagaCommand(action, ports.parseCommand);
    if (!parsed.ok) return { kind: "rejected", reason: parsed.reason };
    const envelope: CommandEnvelope = {
      tenant: this.address.tenant,
      entityType: action.entityType,
      entityId: action.entityId,
      command: action.command,
      data: parsed.data,
      idempotencyKey: key,
      fingerprint: await ports.fingerprint(action.command, action.data),
      expectedVersion: null,
      causeHlc: this.#state.clock,
      correlationId: this.id,
      causationId: this.#state.causation,
      traceparent: null,
    };
    const outcome = await ports.bounded(() => ports.command(envelope), COMMAND_TIMEOUT_MS);
    if (outcome.ok) {
      const last = outcome.result.events[outcome.result.events.length - 1];
      return {
        kind: "done",
        result: { version: outcome.result.version },
        ...(last ? { clock: last.meta.hlc, eventId: last.meta.eventId } : {}),
      };
    }
    const p = outcome.problem;
    if (p.status === 409 || p.status === 429 || p.status >= 500) {
      return {
        kind: "failed",
        error: p.detail,
        ...(p.retryAfter !== undefined ? { retryAfterMs: p.retryAfter * 1000 } : {}),
      };
    }
    return {
      kind: "rejected",
      reason: p.code ? `${p.code}: ${p.detail}` : p.detail,
      ...(p.code ? { code: p.code } : {}),
    };
  }

  #append(events: readonly SagaEvent[]): number {
    if (events.length === 0) return 0;
    this.#ports.storage.append(events, this.#seq + 1);
    this.#seq += events.length;
    for (const event of events) this.#state = evolve(this.#state, event);
    return events.length;
  }

  /** Makes sure the alarm fires by `at`. */
  async #wake(at: number): Promise<void> {
    const current = await this.#ports.getAlarm();
    if (current === null || current > at) await this.#ports.setAlarm(at);
  }

  /**
   * Mirrors a changed status into D1 for the admin API; the saga's own log stays the truth. A
   * failed write is retried by the alarm after MIRROR_RETRY_MS.
   */
  async #mirror(): Promise<void> {
    const ports = this.#ports;
    const s = this.#state;
    const row: SagaStatusRow = {
      id: this.id,
      address: this.address,
      status: s.status,
      stage: this.stageName,
      reason: s.reason,
      error: s.error,
      resolvable: resolvableTasks(s),
      version: this.#seq,
    };
    const signature = JSON.stringify([row.status, row.stage, row.reason, row.error, row.resolvable]);
    if (signature === this.#mirrored) return;
    ports.log(row.status === "attention" ? "error" : "info", "saga status", {
      saga: row.id,
      status: row.status,
      stage: row.stage,
      reason: row.reason,
      error: row.error,
    });
    try {
      await ports.mirror(row);
      this.#mirrored = signature;
    } catch (error) {
      ports.log("warn", "saga status mirror failed", {
        saga: row.id,
        error: error instanceof Error ? error.message : String(error),
      });
      await ports.setAlarm(ports.now() + MIRROR_RETRY_MS);
    }
  }
}
