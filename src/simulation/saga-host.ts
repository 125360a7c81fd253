// The saga object in the simulator: its event log and alarm (durable) and production's own saga
// sequence (src/core/saga/saga-runner.ts, the code cloud/sagas/saga-host.ts runs) over ports on
// this object's models — the log, the alarm, entity commands over the world's RPC (bounded by the
// runner's timeout on the simulated clock), the app's service models and D1's `saga_instances`
// rows (the status mirror). The runner is built anew after every eviction, from the log alone.
import type { RecordedEvent } from "../core/model/envelope.js";
import { ownValue } from "../core/model/own-keys.js";
import {
  OPERATOR_ACTOR,
  sagaInstanceId,
  type SagaDefinition,
  type SagaEvent,
  type SagaState,
} from "../core/model/saga.js";
import { CallTimedOut } from "../core/resilience/timeout.js";
import { SagaRunner, type SagaRunnerPorts } from "../core/saga/saga-runner.js";
import { WORLD_LIMITS, fingerprintOf } from "./config.js";
import { never, SimObject } from "./object.js";
import type { World } from "./world.js";

/** A saga object: its event log and alarm (durable), its runner with the folded state (memory). */
export class SimSaga extends SimObject {
  /** Whether it still has work or waits for an operator (not yet completed or compensated). */
  get unfinished(): boolean {
    const status = this.state.status;
    return status === "running" || status === "compensating" || status === "attention";
  }

  readonly id: string;
  readonly tenant: string;
  readonly instanceKey: string;
  readonly definition: SagaDefinition<unknown>;
  readonly log: SagaEvent[] = [];
  #runner: SagaRunner | null = null;

  constructor(world: World, tenant: string, definition: SagaDefinition<unknown>, instanceKey: string) {
    super(world);
    this.tenant = tenant;
    this.definition = definition;
    this.instanceKey = instanceKey;
    this.id = sagaInstanceId(tenant, definition.name, instanceKey);
  }

  /** The folded state of the log (this incarnation's runner, built on first use). */
  get state(): SagaState {
    return this.#host().state;
  }

  protected onEvict(): void {
    this.#runner = null;
  }

  protected async onAlarm(): Promise<void> {
    const outcome = await this.#host().alarmFired();
    if (outcome.error) this.world.anomaly(`saga ${this.id}: its drive threw: ${outcome.error}`);
  }

  /** Facts concerning this instance (the consumer's delivery); answers how many events were recorded. */
  deliver(facts: readonly RecordedEvent[]): Promise<number> {
    return this.#host().deliver(facts);
  }

  /** The operator's retry of a saga that needs attention. */
  operatorRetry(): void {
    void this.#host().retry(OPERATOR_ACTOR);
  }

  /**
   * Production's runner of this incarnation over this object's models. Built on first use after
   * a wake-up; as production's object does when it wakes, it arms the alarm of an unfinished saga
   * that has none.
   */
  #host(): SagaRunner {
    if (this.#runner) return this.#runner;
    const world = this.world;
    const ports: SagaRunnerPorts = {
      storage: {
        read: () => this.log,
        prepare: async () => {},
        // Synchronous like transactionSync: no effect boundary inside, so no eviction tears it.
        append: (events, firstSeq) => {
          if (firstSeq !== this.log.length + 1)
            throw new Error(`saga ${this.id}: append at ${firstSeq}, log at ${this.log.length}`);
          this.log.push(...events);
        },
      },
      now: () => world.clock.now,
      getAlarm: async () => this.alarmAt,
      setAlarm: async (at) => this.setAlarm(at),
      bounded: (work, ms) => this.#answer(() => Promise.race([work(), world.clock.sleep(ms).then(() => timedOut(ms))])),
      parseCommand: (type, command, data) =>
        world.app.entities.find((e) => e.type === type)?.parseCommand(command, data),
      fingerprint: async (command, data) => fingerprintOf(command, data),
      command: async (envelope) => {
        // As the saga host does: it sends its tasks' facts (world.ts, rpcCommand, hands them over).
        const outcome = await world.rpcCommand({ ...envelope, callerRelays: true });
        if (outcome === "failed") throw new Error("the entity did not answer");
        return outcome;
      },
      service: (name) => {
        const service = ownValue(world.app.services, name);
        return (
          service && {
            contract: service.contract,
            call: (operation, data, context) =>
              this.#answer(() => service.call(operation, data, { ...context, world })),
          }
        );
      },
      mirror: (row) =>
        this.d1Write(() => {
          const stored = world.d1.sagaInstances.get(row.id);
          if (!stored || stored.version < row.version) world.d1.sagaInstances.set(row.id, row);
        }),
      log: () => {},
    };
    const runner = new SagaRunner(
      ports,
      { tenant: this.tenant, saga: this.definition.name, instanceKey: this.instanceKey },
      this.definition,
      WORLD_LIMITS.sagaPolicy,
    );
    this.#runner = runner;
    void runner.resume();
    return runner;
  }

  /**
   * Awaits an outside answer (an RPC, a service call) as the object's effect boundary: an
   * incarnation evicted meanwhile never sees it (see `never`), and the object may be evicted here.
   */
  async #answer<T>(work: () => Promise<T>): Promise<T> {
    const incarnation = this.incarnation;
    const settled = await work().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    if (this.incarnation !== incarnation) return never();
    await this.boundary(0);
    if (!settled.ok) throw settled.error;
    return settled.value;
  }
}

function timedOut(ms: number): never {
  throw new CallTimedOut(ms);
}
