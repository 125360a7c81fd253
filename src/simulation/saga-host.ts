// The saga object in the simulator, driving the saga engine (src/core/model/saga.ts) as
// cloud/sagas/saga-host.ts does: its log and alarm survive an eviction, its state does not.
import type { RecordedEvent } from "../core/model/envelope.js";
import {
  evolve as evolveSaga,
  factEvents,
  NEW_SAGA,
  operatorRetry,
  outcomeEvents,
  plan as planSaga,
  sagaInstanceId,
  taskIdempotencyKey,
  type DueTask,
  type SagaDefinition,
  type SagaEvent,
  type SagaState,
  type TaskOutcome,
} from "../core/model/saga.js";
import { backoffDelay } from "../core/resilience/backoff.js";
import { ownValue } from "../core/model/own-keys.js";
import { WORLD_LIMITS, fingerprintOf } from "./config.js";
import { Evicted, SimObject } from "./object.js";
import type { World } from "./world.js";

/** A saga object: its event log and alarm (durable), its folded state (memory). */
export class SimSaga extends SimObject {
  readonly id: string;
  readonly tenant: string;
  readonly definition: SagaDefinition<unknown>;
  readonly log: SagaEvent[] = [];
  #state: SagaState | null = null;
  #driving: Promise<void> | null = null;
  #again = false;

  constructor(world: World, tenant: string, definition: SagaDefinition<unknown>, instanceKey: string) {
    super(world);
    this.tenant = tenant;
    this.definition = definition;
    this.id = sagaInstanceId(tenant, definition.name, instanceKey);
  }

  get state(): SagaState {
    if (!this.#state) {
      let s = NEW_SAGA;
      for (const e of this.log) s = evolveSaga(s, e);
      this.#state = s;
      // A restart may have cut a drive short before it re-armed: an unfinished saga always has a timer.
      if ((s.status === "running" || s.status === "compensating") && this.alarmAt === null)
        this.setAlarm(this.world.clock.now);
    }
    return this.#state;
  }

  protected onEvict(): void {
    this.#state = null;
    this.#driving = null;
    this.#again = false;
  }

  protected async onAlarm(): Promise<void> {
    await this.#drive();
  }

  deliver(facts: readonly RecordedEvent[]): void {
    const now = this.world.clock.now;
    let recorded = 0;
    for (const fact of facts) recorded += this.#append(factEvents(this.definition, this.state, this.id, fact, now));
    if (recorded > 0) this.#wake(now);
  }

  /** The operator's retry of a saga that needs attention. */
  operatorRetry(): boolean {
    const events = operatorRetry(this.state, this.world.clock.now);
    if (!events) return false;
    this.#append(events);
    this.#wake(this.world.clock.now);
    return true;
  }

  #append(events: readonly SagaEvent[]): number {
    let s = this.state;
    for (const e of events) {
      this.log.push(e);
      s = evolveSaga(s, e);
    }
    this.#state = s;
    return events.length;
  }

  #wake(at: number): void {
    if (this.alarmAt === null || this.alarmAt > at) this.setAlarm(at);
  }

  async #drive(): Promise<void> {
    if (this.#driving) {
      this.#again = true;
      return this.#driving;
    }
    const incarnation = this.incarnation;
    this.#driving = (async () => {
      try {
        do {
          this.#again = false;
          await this.#rounds();
        } while (this.#again);
      } finally {
        if (this.incarnation === incarnation) this.#driving = null;
      }
    })();
    return this.#driving;
  }

  async #rounds(): Promise<void> {
    const world = this.world;
    const policy = WORLD_LIMITS.sagaPolicy;
    for (let round = 0; round < 64; round++) {
      const now = world.clock.now;
      const next = planSaga(this.definition, this.state, now, policy);
      if (next.kind === "record") {
        this.#append(next.events);
        continue;
      }
      if (next.kind === "wait") {
        if (next.wakeAt !== null) this.setAlarm(Math.max(next.wakeAt, now));
        return;
      }
      const incarnation = this.incarnation;
      const outcomes = await Promise.all(next.tasks.map(async (due) => ({ due, outcome: await this.#run(due) })));
      if (this.incarnation !== incarnation) throw new Evicted();
      const at = world.clock.now;
      for (const { due, outcome } of outcomes) {
        const attempts = (ownValue(this.state.attempts, due.task.key)?.count ?? 0) + 1;
        this.#append(outcomeEvents(this.state, due, outcome, at, backoffDelay(attempts, policy.retry)));
      }
      await this.boundary(0);
    }
    this.setAlarm(world.clock.now);
  }

  async #run(due: DueTask): Promise<TaskOutcome> {
    const world = this.world;
    const action = due.action;
    const key =
      (action.kind === "call" ? action.idempotencyKey : undefined) ??
      taskIdempotencyKey(this.id, due.task.key, due.phase);
    if (action.kind === "call") {
      const service = ownValue(world.app.services, action.service);
      if (!service) return { kind: "rejected", reason: `no service ${action.service}` };
      return service.call(action.operation, action.data, { tenant: this.tenant, idempotencyKey: key, world });
    }
    const type = world.entityType(action.entityType);
    const parsed = type.parseCommand(action.command, action.data);
    if (!parsed?.ok) return { kind: "rejected", reason: `invalid ${action.entityType}.${action.command}` };
    // The saga host bounds an entity command by a timeout (COMMAND_TIMEOUT_MS); the command may still run later.
    const outcome = await Promise.race([
      world.clock.sleep(WORLD_LIMITS.sagaCommandTimeoutMs).then(() => "failed" as const),
      world.rpcCommand({
        tenant: this.tenant,
        entityType: action.entityType,
        entityId: action.entityId,
        command: action.command,
        data: parsed.command.data,
        idempotencyKey: key,
        fingerprint: fingerprintOf(action.command, action.data),
        expectedVersion: null,
        causeHlc: this.state.clock,
        correlationId: this.id,
        causationId: this.state.causation,
        traceparent: null,
      }),
    ]);
    if (outcome === "failed") return { kind: "failed", error: "the entity did not answer" };
    if (outcome.ok) {
      const last = outcome.result.events[outcome.result.events.length - 1];
      return {
        kind: "done",
        result: { version: outcome.result.version },
        ...(last ? { clock: last.meta.hlc, eventId: last.meta.eventId } : {}),
      };
    }
    const p = outcome.problem;
    if (p.status === 409 || p.status === 429 || p.status >= 500) return { kind: "failed", error: p.detail };
    return { kind: "rejected", reason: p.detail, ...(p.code ? { code: p.code } : {}) };
  }
}
