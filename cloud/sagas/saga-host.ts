// The saga host: one Durable Object per saga instance (tenant, saga, instance key), a durable
// state machine with its own event log. Facts delivered to it (at least once, in any order) are
// deduplicated by event id; its alarm drives the saga: it runs due tasks (entity commands through
// the ENTITY binding, external calls through the app's services), records their outcomes, and
// re-arms for the next retry or stage deadline. After a restart it folds its log and carries on.
// The whole effect sequence is the shared `SagaRunner` (src/core/saga/saga-runner.ts), which the
// simulator runs too; this object gives it ports over its SQLite log, its alarm, entity RPC, the
// app's services and D1, binds the instance's address, and renders the admin API's view.
import { DurableObject } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { sql } from "drizzle-orm";
import { SQLSchemaMigrations } from "durable-utils/sql-migrations";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { commandFingerprint } from "../../src/core/protocol/fingerprint.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { withTimeout } from "../../src/core/resilience/timeout.js";
import { logEvent, setLogLevel } from "../../src/core/runtime/log.js";
import {
  resolvableTasks,
  type OperatorRefusal,
  type SagaDefinition,
  type SagaEvent,
  type SagaRuntimePolicy,
  type SagaState,
} from "../../src/core/model/saga.js";
import {
  SagaRunner,
  type SagaAddress,
  type SagaRunnerPorts,
  type SagaStatusRow,
} from "../../src/core/saga/saga-runner.js";
import { sagaNamed, serviceNamed, type CloudApp } from "../app.js";
import { entityStub } from "../stubs.js";
import { FactHandOff, portsPerEnv, type HandOffPorts } from "../../src/core/outbox/fact-hand-off.js";
import type { CommandEnvelope, CommandOutcome } from "../../src/core/protocol/entity-protocol.js";
import { sagaStorageMigrations } from "../storage-schema.js";
import { sagaInstances } from "../schema.js";
import { alarmTime } from "../../src/core/runtime/alarm-time.js";

export type { SagaAddress } from "../../src/core/saga/saga-runner.js";

/**
 * The facts the commands of this isolate's sagas hand back, sent in batches across entities
 * (src/core/outbox/fact-hand-off.ts): a stage's tasks command many entities at once, and their
 * facts share a `sendBatch` where each object would send its own; a test seam.
 */
export const sagaFactHandOff = new FactHandOff();

/**
 * A saga task's command, whose facts its saga host sends (`callerRelays`): the outcome without the
 * hand-off, which goes to `sagaFactHandOff` in the background, the task waiting for none of it.
 */
async function relayingCommand(env: Env, envelope: CommandEnvelope): Promise<CommandOutcome> {
  const outcome = await entityStub(env, envelope).command({ ...envelope, callerRelays: true });
  if (!outcome.ok || outcome.handOff === undefined) return outcome;
  const { handOff, ...answered } = outcome;
  const address = { tenant: envelope.tenant, entityType: envelope.entityType, entityId: envelope.entityId };
  void sagaFactHandOff.add(handOffPorts(env), address, handOff);
  return answered;
}

/**
 * The hand-off's ports over `env`: `FACTS.sendBatch`, and the entity's `handOffFailed` (the same
 * as the Worker's, edge/entity/fact-handoff.ts: the edge and the cloud share code only through src/).
 */
const handOffPorts = portsPerEnv(
  (env: Env): HandOffPorts => ({
    send: async (messages) => {
      await env.FACTS.sendBatch(messages.map((body) => ({ body, contentType: "json" as const })));
    },
    reportFailure: (address, fromSeq) => entityStub(env, address).handOffFailed(address, fromSeq),
    wait: (ms) => scheduler.wait(ms),
  }),
);

export interface SagaView extends SagaAddress {
  readonly id: string;
  readonly status: SagaState["status"];
  readonly stage: string | null;
  readonly reason: string | null;
  readonly error: string | null;
  readonly done: readonly string[];
  /** The tasks whose compensation the operator's resolve would declare done (`resolvableTasks`). */
  readonly resolvable: readonly string[];
  /**
   * The newest 100 entries of the saga's log, oldest first; an operator's action (`OperatorActed`)
   * and a resolved compensation also say who acted and on which task.
   */
  readonly log: readonly ({ readonly seq: number; readonly type: string; readonly at: number } & AuditFields)[];
}

interface AuditFields {
  readonly action?: string;
  readonly by?: string;
  readonly task?: string;
}

function auditFields(event: SagaEvent): AuditFields {
  if (event.type === "OperatorActed")
    return { action: event.action, by: event.by, ...(event.task === undefined ? {} : { task: event.task }) };
  return event.type === "CompensationResolved" ? { task: event.key } : {};
}

export type OperatorOutcome =
  | { readonly ok: true; readonly view: SagaView }
  | { readonly ok: false; readonly refusal: OperatorRefusal };

/** The saga object's RPC contract: the fact consumer delivers, the admin API inspects and acts. */
export interface SagaRpc {
  deliver(address: SagaAddress, facts: readonly RecordedEvent[]): Promise<{ readonly recorded: number }>;
  inspect(): Promise<SagaView | null>;
  /** The operator's actions, each recorded with who acted (`by`: `operator`, `tenant key <id>`); null for no saga. */
  retry(by: string): Promise<OperatorOutcome | null>;
  compensate(by: string): Promise<OperatorOutcome | null>;
  /** Declares task `key`'s compensation done by hand (`SagaRunner.resolve`). */
  resolve(key: string, by: string): Promise<OperatorOutcome | null>;
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
  /** The shared sequence for this incarnation, once the object knows which instance it hosts. */
  #runner: SagaRunner | null = null;
  #schemaReady = false;

  constructor(ctx: DurableObjectState, env: Env, app: CloudApp) {
    super(ctx, env);
    this.#app = app;
    setLogLevel(hostConfig(env, "saga").logLevel);
    void ctx.blockConcurrencyWhile(async () => {
      // Any fact that names an instance reaches its object, started or not (an inventory fact
      // carries whatever order id a client wrote): an object that never starts must leave no
      // storage behind, so the schema is created on the first write (`prepare`), not here.
      if (!this.#hasSchema()) return;
      await this.#ensureSchema();
      const identity = ctx.storage.sql
        .exec<{ tenant: string; saga: string; instance_key: string }>(
          "SELECT tenant, saga, instance_key FROM saga_identity",
        )
        .toArray()[0];
      if (!identity) return;
      await this.#bind({ tenant: identity.tenant, saga: identity.saga, instanceKey: identity.instance_key }).resume();
    });
  }

  async deliver(address: SagaAddress, facts: readonly RecordedEvent[]): Promise<{ recorded: number }> {
    return { recorded: await this.#bind(address).deliver(facts) };
  }

  async inspect(): Promise<SagaView | null> {
    const runner = this.#runner;
    return runner && runner.seq > 0 ? this.#view(runner) : null;
  }

  async retry(by: string): Promise<OperatorOutcome | null> {
    return this.#operator((runner) => runner.retry(by));
  }

  async compensate(by: string): Promise<OperatorOutcome | null> {
    return this.#operator((runner) => runner.compensate(by));
  }

  async resolve(key: string, by: string): Promise<OperatorOutcome | null> {
    return this.#operator((runner) => runner.resolve(key, by));
  }

  override async alarm(): Promise<void> {
    await this.#runner?.alarmFired();
  }

  async #operator(act: (runner: SagaRunner) => ReturnType<SagaRunner["retry"]>): Promise<OperatorOutcome | null> {
    const runner = this.#runner;
    if (!runner) return null;
    const outcome = await act(runner);
    if (!outcome) return null;
    return outcome.ok ? { ok: true, view: this.#view(runner) } : outcome;
  }

  /** The runner for `address`, built on first use; an object addressed as another instance is a bug. */
  #bind(address: SagaAddress): SagaRunner {
    const bound = this.#runner;
    if (bound) {
      const a = bound.address;
      if (a.tenant !== address.tenant || a.saga !== address.saga || a.instanceKey !== address.instanceKey) {
        throw new Error(`saga object for ${bound.id} addressed as another`);
      }
      return bound;
    }
    const definition: SagaDefinition<unknown> | undefined = sagaNamed(this.#app, address.saga);
    if (!definition) throw new Error(`no saga ${address.saga}`);
    this.#runner = new SagaRunner(this.#ports(address), address, definition, this.#policy());
    return this.#runner;
  }

  /** The runner's ports over this object's SQLite log and alarm, entity RPC, the services and D1. */
  #ports(address: SagaAddress): SagaRunnerPorts {
    const storage = this.ctx.storage;
    const env = this.env;
    const app = this.#app;
    return {
      storage: {
        read: () =>
          this.#schemaReady
            ? storage.sql
                .exec<{ body: string }>("SELECT body FROM saga_log ORDER BY seq")
                .toArray()
                .map((row) => JSON.parse(row.body) as SagaEvent)
            : [],
        prepare: () => this.#ensureSchema(),
        append: (events, firstSeq) =>
          storage.transactionSync(() => {
            if (firstSeq === 1)
              storage.sql.exec(
                "INSERT OR IGNORE INTO saga_identity (singleton, tenant, saga, instance_key) VALUES (1, ?, ?, ?)",
                address.tenant,
                address.saga,
                address.instanceKey,
              );
            events.forEach((event, i) => {
              storage.sql.exec(
                "INSERT INTO saga_log (seq, type, body, at) VALUES (?, ?, ?, ?)",
                firstSeq + i,
                event.type,
                JSON.stringify(event),
                event.at,
              );
            });
          }),
      },
      now: () => Date.now(),
      getAlarm: () => storage.getAlarm(),
      setAlarm: (at) => storage.setAlarm(alarmTime(at)),
      bounded: (work, ms) => withTimeout(() => work(), ms),
      parseCommand: (type, command, data) => app.entities.get(type)?.parseCommand(command, data),
      fingerprint: (command, data) => commandFingerprint(command, data),
      command: (envelope) => relayingCommand(env, envelope),
      service: (name) => {
        const service = serviceNamed(app, name);
        return (
          service && {
            contract: service.contract,
            call: (operation, data, context) => service.call(operation, data, { ...context, env }),
          }
        );
      },
      mirror: (row) => this.#mirror(row),
      log: (level, message, fields) => logEvent(level, message, fields),
    };
  }

  /** Upserts the status row, never over a newer version (two incarnations may race on it). */
  async #mirror(row: SagaStatusRow): Promise<void> {
    const now = Date.now();
    const resolvable = [...row.resolvable];
    await drizzle(this.env.DB)
      .insert(sagaInstances)
      .values({
        id: row.id,
        tenantId: row.address.tenant,
        saga: row.address.saga,
        instanceKey: row.address.instanceKey,
        status: row.status,
        stage: row.stage,
        reason: row.reason,
        error: row.error,
        resolvable,
        version: row.version,
        createdAt: now,
        updatedAt: now,
      })
      .onConflictDoUpdate({
        target: sagaInstances.id,
        set: {
          status: row.status,
          stage: row.stage,
          reason: row.reason,
          error: row.error,
          resolvable,
          version: row.version,
          updatedAt: now,
        },
        setWhere: sql`${sagaInstances.version} < ${row.version}`,
      });
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

  #view(runner: SagaRunner): SagaView {
    const s = runner.state;
    // The operator's records carry who acted and on which task; the other entries only their type.
    const log = this.ctx.storage.sql
      .exec<{ seq: number; type: string; at: number; body: string | null }>(
        "SELECT seq, type, at, CASE WHEN type IN ('OperatorActed', 'CompensationResolved') THEN body END AS body FROM saga_log ORDER BY seq DESC LIMIT 100",
      )
      .toArray()
      .reverse()
      .map(({ body, ...entry }) =>
        body === null ? entry : { ...entry, ...auditFields(JSON.parse(body) as SagaEvent) },
      );
    return {
      ...runner.address,
      id: runner.id,
      status: s.status,
      stage: runner.stageName,
      reason: s.reason,
      error: s.error,
      done: Object.keys(s.done),
      resolvable: resolvableTasks(s),
      log,
    };
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
}
