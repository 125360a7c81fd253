// The saga host: one Durable Object per saga instance (tenant, saga, instance key), a durable
// state machine with its own event log. Facts delivered to it (at least once, in any order) are
// deduplicated by event id; its alarm drives the saga: it runs due tasks (entity commands through
// the ENTITY binding, external calls through guarded clients), records their outcomes, and
// re-arms for the next retry or stage deadline. After a restart it folds its log and carries on.
// Every task's action carries an idempotency key derived from (saga id, task), so a retry or a
// second drive never executes a step twice.
import { describeFieldErrors } from "../../src/core/model/entity.js";
import { DurableObject } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { sql } from "drizzle-orm";
import { SQLSchemaMigrations } from "durable-utils/sql-migrations";
import { backoffDelay } from "../../src/core/resilience/backoff.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { commandFingerprint } from "../../src/core/protocol/fingerprint.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { withTimeout } from "../../src/core/resilience/timeout.js";
import { logEvent, setLogLevel } from "../../src/core/runtime/log.js";
import { ownValue } from "../../src/core/model/own-keys.js";
import {
  evolve,
  factEvents,
  NEW_SAGA,
  operatorCompensate,
  operatorRetry,
  outcomeEvents,
  plan,
  sagaInstanceId,
  taskIdempotencyKey,
  type DueTask,
  type SagaDefinition,
  type SagaEvent,
  type SagaRuntimePolicy,
  type SagaState,
  type TaskOutcome,
} from "../../src/core/model/saga.js";
import { sagaNamed, serviceNamed, type CloudApp } from "../app.js";
import { entityStub } from "../stubs.js";
import { sagaStorageMigrations } from "../storage-schema.js";
import { sagaInstances } from "../schema.js";

/** Entity commands are internal calls: bounded by a timeout, retried by the saga. */
const COMMAND_TIMEOUT_MS = 10_000;
/** Transitions and task rounds one drive may take before it yields and re-arms. */
const MAX_ROUNDS = 64;
const PUBLISH_RETRY_MS = 5_000;

export interface SagaAddress {
  readonly tenant: string;
  readonly saga: string;
  readonly instanceKey: string;
}

export interface SagaView extends SagaAddress {
  readonly id: string;
  readonly status: SagaState["status"];
  readonly stage: string | null;
  readonly reason: string | null;
  readonly error: string | null;
  readonly done: readonly string[];
  readonly log: readonly { readonly seq: number; readonly type: string; readonly at: number }[];
}

export type OperatorOutcome =
  | { readonly ok: true; readonly view: SagaView }
  | { readonly ok: false; readonly status: string };

/** The saga object's RPC contract: the fact consumer delivers, the admin API inspects and acts. */
export interface SagaRpc {
  deliver(address: SagaAddress, facts: readonly RecordedEvent[]): Promise<{ readonly recorded: number }>;
  inspect(): Promise<SagaView | null>;
  retry(): Promise<OperatorOutcome | null>;
  compensate(): Promise<OperatorOutcome | null>;
}

/**
 * The saga host class that runs `app`'s sagas, for the Worker to export under the name its
 * wrangler binding gives (`SagaHost`). Durable Object classes are constructed by the runtime
 * with `(ctx, env)` only, so the app is bound by subclassing: no module-level registry, and a
 * test can build a host for any app.
 */
export function createSagaHost(app: CloudApp): new (ctx: DurableObjectState, env: Env) => SagaHost {
  return class extends SagaHost {
    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env, app);
    }
  };
}

export class SagaHost extends DurableObject<Env> implements SagaRpc {
  readonly #app: CloudApp;
  #address: SagaAddress | null = null;
  #definition: SagaDefinition<unknown> | null = null;
  #state: SagaState = NEW_SAGA;
  #seq = 0;
  #published: string | null = null;
  #driving: Promise<void> | null = null;
  #again = false;
  #schemaReady = false;

  constructor(ctx: DurableObjectState, env: Env, app: CloudApp) {
    super(ctx, env);
    this.#app = app;
    setLogLevel(hostConfig(env, "saga").logLevel);
    void ctx.blockConcurrencyWhile(async () => {
      // Any fact that names an instance reaches its object, started or not (an inventory fact
      // carries whatever order id a client wrote): an object that never starts must leave no
      // storage behind, so the schema is created on the first write (#ensureSchema), not here.
      if (!this.#hasSchema()) return;
      await this.#ensureSchema();
      const identity = ctx.storage.sql
        .exec<{ tenant: string; saga: string; instance_key: string }>(
          "SELECT tenant, saga, instance_key FROM saga_identity",
        )
        .toArray()[0];
      if (!identity) return;
      this.#bind({ tenant: identity.tenant, saga: identity.saga, instanceKey: identity.instance_key });
      for (const row of ctx.storage.sql.exec<{ seq: number; body: string }>(
        "SELECT seq, body FROM saga_log ORDER BY seq",
      )) {
        this.#state = evolve(this.#state, JSON.parse(row.body) as SagaEvent);
        this.#seq = row.seq;
      }
      // A restart may have cut a drive short before it re-armed: an unfinished saga always has a timer.
      const active = this.#state.status === "running" || this.#state.status === "compensating";
      if (active && (await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now());
    });
  }

  async deliver(address: SagaAddress, facts: readonly RecordedEvent[]): Promise<{ recorded: number }> {
    const definition = this.#bind(address);
    const id = this.#id();
    const now = Date.now();
    let recorded = 0;
    for (const fact of facts) {
      let events = factEvents(definition, this.#state, id, fact, now);
      if (events.length === 0) continue;
      if (!this.#schemaReady) {
        await this.#ensureSchema();
        // Decide again after the await: a twin delivery may have started the saga meanwhile.
        events = factEvents(definition, this.#state, id, fact, now);
      }
      if (this.#seq === 0 && events.length > 0) this.#storeIdentity(address);
      recorded += this.#append(events);
    }
    if (recorded > 0) await this.#wake(now);
    return { recorded };
  }

  async inspect(): Promise<SagaView | null> {
    return this.#address && this.#seq > 0 ? this.#view() : null;
  }

  async retry(): Promise<OperatorOutcome | null> {
    return this.#operator((state, now) => operatorRetry(state, now), "retry");
  }

  async compensate(): Promise<OperatorOutcome | null> {
    return this.#operator(
      (state, now) => (this.#definition ? operatorCompensate(this.#definition, state, now) : null),
      "compensate",
    );
  }

  override async alarm(): Promise<void> {
    try {
      await this.#drive();
    } catch (error) {
      // A bug or a storage failure: keep the saga alive and try again shortly.
      logEvent("error", "saga drive failed", {
        saga: this.#address ? this.#id() : null,
        error: error instanceof Error ? error.message : String(error),
      });
      await this.ctx.storage.setAlarm(Date.now() + PUBLISH_RETRY_MS);
    }
  }

  async #operator(
    decide: (state: SagaState, now: number) => SagaEvent[] | null,
    action: string,
  ): Promise<OperatorOutcome | null> {
    if (!this.#address || this.#seq === 0) return null;
    const events = decide(this.#state, Date.now());
    if (!events) {
      const s = this.#state;
      // Past the pivot a saga only goes forward: say so, not just "running".
      const forwardOnly =
        s.pivotStage !== null &&
        (s.status === "running" || (s.status === "attention" && s.escalatedFrom === "running"));
      return { ok: false, status: forwardOnly ? `${s.status} past its point of no return` : s.status };
    }
    this.#append(events);
    logEvent("info", "saga operator action", { saga: this.#id(), action });
    await this.#wake(Date.now());
    return { ok: true, view: this.#view() };
  }

  /** Drives the saga until it waits; a drive requested while one runs makes that one go again. */
  async #drive(): Promise<void> {
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
    const definition = this.#definition;
    if (!definition) return;
    const policy = this.#policy();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const now = Date.now();
      const next = plan(definition, this.#state, now, policy);
      if (next.kind === "record") {
        this.#append(next.events);
        continue;
      }
      if (next.kind === "wait") {
        await this.#publish();
        if (next.wakeAt !== null) await this.ctx.storage.setAlarm(Math.max(next.wakeAt, Date.now()));
        return;
      }
      const outcomes = await Promise.all(next.tasks.map(async (due) => ({ due, outcome: await this.#run(due) })));
      const at = Date.now();
      for (const { due, outcome } of outcomes) {
        const attempts = (ownValue(this.#state.attempts, due.task.key)?.count ?? 0) + 1;
        if (outcome.kind === "failed" || outcome.kind === "rejected") {
          logEvent("warn", "saga task did not succeed", {
            saga: this.#id(),
            task: due.task.key,
            phase: due.phase,
            outcome: outcome.kind,
            detail: outcome.kind === "failed" ? outcome.error : outcome.reason,
          });
        }
        this.#append(outcomeEvents(this.#state, due, outcome, at, backoffDelay(attempts, policy.retry)));
      }
      await this.#publish();
    }
    await this.ctx.storage.setAlarm(Date.now());
  }

  async #run(due: DueTask): Promise<TaskOutcome> {
    const address = this.#address;
    if (!address) throw new Error("saga object used before it was bound");
    const action = due.action;
    const key =
      (action.kind === "call" ? action.idempotencyKey : undefined) ??
      taskIdempotencyKey(this.#id(), due.task.key, due.phase);
    try {
      if (action.kind === "command") return await this.#command(address, action, key);
      const service = serviceNamed(this.#app, action.service);
      if (!service) return { kind: "rejected", reason: `no service ${action.service}` };
      return await service.call(action.operation, action.data, {
        env: this.env,
        tenant: address.tenant,
        idempotencyKey: key,
      });
    } catch (error) {
      return { kind: "failed", error: error instanceof Error ? error.message : String(error) };
    }
  }

  async #command(
    address: SagaAddress,
    action: Extract<DueTask["action"], { kind: "command" }>,
    key: string,
  ): Promise<TaskOutcome> {
    const entity = this.#app.entities.get(action.entityType);
    const parsed = entity?.parseCommand(action.command, action.data);
    if (!parsed?.ok)
      return {
        kind: "rejected",
        reason: `invalid ${action.entityType}.${action.command}: ${parsed ? describeFieldErrors(parsed.errors) : "no such command"}`,
      };
    const stub = entityStub(this.env, {
      tenant: address.tenant,
      entityType: action.entityType,
      entityId: action.entityId,
    });
    const fingerprint = await commandFingerprint(action.command, action.data);
    const envelope = {
      tenant: address.tenant,
      entityType: action.entityType,
      entityId: action.entityId,
      command: action.command,
      data: parsed.command.data,
      idempotencyKey: key,
      fingerprint,
      expectedVersion: null,
      causeHlc: this.#state.clock,
      correlationId: this.#id(),
      causationId: this.#state.causation,
      traceparent: null,
    };
    const outcome = await withTimeout(() => stub.command(envelope), COMMAND_TIMEOUT_MS);
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
    this.ctx.storage.transactionSync(() => {
      for (const event of events) {
        this.#seq++;
        this.ctx.storage.sql.exec(
          "INSERT INTO saga_log (seq, type, body, at) VALUES (?, ?, ?, ?)",
          this.#seq,
          event.type,
          JSON.stringify(event),
          event.at,
        );
      }
    });
    for (const event of events) this.#state = evolve(this.#state, event);
    return events.length;
  }

  async #wake(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Mirrors status changes into D1 for the admin API; the saga's own log stays the truth. */
  async #publish(): Promise<void> {
    const address = this.#address;
    if (!address) return;
    const view = this.#view();
    const signature = JSON.stringify([view.status, view.stage, view.reason, view.error]);
    if (signature === this.#published) return;
    logEvent(view.status === "attention" ? "error" : "info", "saga status", {
      saga: view.id,
      status: view.status,
      stage: view.stage,
      reason: view.reason,
      error: view.error,
    });
    const now = Date.now();
    const row = {
      id: view.id,
      tenantId: address.tenant,
      saga: address.saga,
      instanceKey: address.instanceKey,
      status: view.status,
      stage: view.stage,
      reason: view.reason,
      error: view.error,
      version: this.#seq,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await drizzle(this.env.DB)
        .insert(sagaInstances)
        .values(row)
        .onConflictDoUpdate({
          target: sagaInstances.id,
          set: {
            status: row.status,
            stage: row.stage,
            reason: row.reason,
            error: row.error,
            version: row.version,
            updatedAt: row.updatedAt,
          },
          setWhere: sql`${sagaInstances.version} < ${row.version}`,
        });
      this.#published = signature;
    } catch (error) {
      logEvent("warn", "saga status mirror failed", {
        saga: view.id,
        error: error instanceof Error ? error.message : String(error),
      });
      await this.ctx.storage.setAlarm(Date.now() + PUBLISH_RETRY_MS);
    }
  }

  #policy(): SagaRuntimePolicy {
    const config = hostConfig(this.env, "saga");
    return {
      retry: {
        maxAttempts: config.sagaMaxAttempts,
        maxCompensationAttempts: config.sagaCompensationMaxAttempts,
        baseMs: config.sagaRetryBaseMs,
        maxMs: config.sagaRetryMaxMs,
      },
      timeoutOverrides: config.sagaStageTimeouts,
    };
  }

  #view(): SagaView {
    const address = this.#address;
    if (!address) throw new Error("saga object used before it was bound");
    const s = this.#state;
    const log = this.ctx.storage.sql
      .exec<{ seq: number; type: string; at: number }>("SELECT seq, type, at FROM saga_log ORDER BY seq DESC LIMIT 100")
      .toArray()
      .reverse();
    return {
      ...address,
      id: this.#id(),
      status: s.status,
      stage: this.#definition?.stages[s.stage]?.name ?? null,
      reason: s.reason,
      error: s.error,
      done: Object.keys(s.done),
      log,
    };
  }

  #bind(address: SagaAddress): SagaDefinition<unknown> {
    if (this.#address) {
      const a = this.#address;
      if (a.tenant !== address.tenant || a.saga !== address.saga || a.instanceKey !== address.instanceKey) {
        throw new Error(`saga object for ${sagaInstanceId(a.tenant, a.saga, a.instanceKey)} addressed as another`);
      }
    }
    const definition = sagaNamed(this.#app, address.saga);
    if (!definition) throw new Error(`no saga ${address.saga}`);
    this.#address = address;
    this.#definition = definition;
    return definition;
  }

  #id(): string {
    const a = this.#address;
    if (!a) throw new Error("saga object used before it was bound");
    return sagaInstanceId(a.tenant, a.saga, a.instanceKey);
  }

  #hasSchema(): boolean {
    return (
      this.ctx.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'saga_log'").toArray()
        .length > 0
    );
  }

  /** Creates (or migrates) the saga's tables; only storage work, so nothing interleaves with it. */
  async #ensureSchema(): Promise<void> {
    if (this.#schemaReady) return;
    await new SQLSchemaMigrations({
      doStorage: this.ctx.storage,
      migrations: sagaStorageMigrations,
    }).runAll();
    this.#schemaReady = true;
  }

  #storeIdentity(address: SagaAddress): void {
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO saga_identity (singleton, tenant, saga, instance_key) VALUES (1, ?, ?, ?)",
      address.tenant,
      address.saga,
      address.instanceKey,
    );
  }
}
