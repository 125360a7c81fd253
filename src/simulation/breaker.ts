// The circuit breakers in the simulator: one breaker object per guarded dependency (the payment
// gateway of each tenant, the example's notifier), its state and transition log in storage (they
// survive an eviction; the keeper in memory does not), running production's admit/report sequence
// (src/core/resilience/breaker-keeper.ts) and reached over RPC that fails like any other RPC; and
// production's guarded-call sequence (src/core/resilience/guarded-call.ts) on the simulated clock,
// through which the app models call their dependency. Dependencies have outages (a few seconds
// during which every call fails), so breakers open, probe and close under the gateway's faults.
// Three invariants are checked here on every admission, report and call: no call is admitted
// while the breaker is open before its cool-down or while its probe is out, no breaker closes but
// by its half-open probe's success, and no call reaches a dependency without its breaker's
// admission.
import type { BackoffPolicy } from "../core/resilience/backoff.js";
import { BreakerKeeper } from "../core/resilience/breaker-keeper.js";
import {
  CLOSED_BREAKER,
  type Admission,
  type BreakerPolicy,
  type BreakerState,
  type BreakerTransition,
  type ProbeMark,
} from "../core/resilience/circuit-breaker.js";
import { guardedCall, type GuardOptions, type Guarded } from "../core/resilience/guarded-call.js";
import { CallTimedOut } from "../core/resilience/timeout.js";
import type { BreakerRow } from "../core/resilience/breaker-keeper.js";
import { WORLD_LIMITS } from "./config.js";
import { SimObject } from "./object.js";
import type { World } from "./world.js";

/**
 * The breakers' settings in the simulator: production's failure threshold (BREAKER_FAILURE_THRESHOLD's
 * default), a cool-down short enough to cycle many times a run (production: 30 s; the workerd
 * suites: 400 ms), and production's gateway timeout.
 */
export const SIM_BREAKER_POLICY: BreakerPolicy = { failureThreshold: 5, openMs: 2_000 };
const TIMEOUT_MS = 5_000;
const BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 2_000 };
/** An outage of a dependency lasts this long (ms): at least, and at most more. */
const OUTAGE_MS = { min: 2_000, spread: 4_000 } as const;

/** Counts of what the breakers did in a run. */
export interface BreakerCounts {
  opened: number;
  halfOpened: number;
  closed: number;
  /** Calls refused because the breaker was open (the saga defers them). */
  refused: number;
  outages: number;
}

/** One breaker object: its state and transitions (durable), its keeper (memory). */
export class SimBreaker extends SimObject {
  readonly name: string;
  state: BreakerState = CLOSED_BREAKER;
  readonly transitions: BreakerTransition[] = [];
  #keeper: BreakerKeeper | null = null;

  constructor(world: World, name: string) {
    super(world);
    this.name = name;
  }

  protected onEvict(): void {
    this.#keeper = null;
  }

  protected async onAlarm(): Promise<void> {}

  /** Production's admit/report sequence of this incarnation, over this object's storage and D1's row. */
  keeper(): BreakerKeeper {
    if (this.#keeper) return this.#keeper;
    const world = this.world;
    this.#keeper = new BreakerKeeper(
      {
        save: (state, transition) => {
          this.state = state;
          if (transition) {
            this.transitions.push(transition);
            world.breakers.counted(transition);
          }
        },
        now: () => world.clock.now,
        mirror: (row) =>
          this.d1Write(() => {
            const stored = world.breakers.rows.get(row.name);
            if (!stored || stored.version < row.version) world.breakers.rows.set(row.name, row);
          }),
        log: () => {},
      },
      this.name,
      SIM_BREAKER_POLICY,
      { state: this.state, transitions: this.transitions.length },
    );
    return this.#keeper;
  }
}

/** Every breaker object of the world, the guarded calls through them, and the dependencies' outages. */
export class SimBreakers {
  readonly objects = new Map<string, SimBreaker>();
  /** D1's `circuit_breakers` rows (the admin API's list), by name. */
  readonly rows = new Map<string, BreakerRow>();
  readonly counts: BreakerCounts = { opened: 0, halfOpened: 0, closed: 0, refused: 0, outages: 0 };
  readonly #world: World;
  readonly #outageUntil = new Map<string, number>();

  constructor(world: World) {
    this.#world = world;
  }

  counted(t: BreakerTransition): void {
    if (t.to === "open") this.counts.opened++;
    else if (t.to === "half-open") this.counts.halfOpened++;
    else this.counts.closed++;
  }

  /**
   * Whether dependency `name` is down at this call: an outage in progress, or one starting now
   * (the `outage` fault), lasting a few seconds.
   */
  down(name: string): boolean {
    const world = this.#world;
    if (world.clock.now < (this.#outageUntil.get(name) ?? 0)) return true;
    if (!world.faults.strike("outage")) return false;
    this.counts.outages++;
    this.#outageUntil.set(name, world.clock.now + OUTAGE_MS.min + world.faults.int(OUTAGE_MS.spread));
    return true;
  }

  /**
   * `attempt` (one call reaching dependency `name`; throws when it failed) as production's
   * guarded call through the dependency's breaker, `attempts` times at most.
   */
  guarded<T>(name: string, attempt: () => Promise<T>, attempts = 1): Promise<Guarded<T>> {
    const world = this.#world;
    const breaker = this.#object(name);
    let admitted = false;
    const options: GuardOptions = { timeoutMs: TIMEOUT_MS, attempts, backoff: BACKOFF };
    return guardedCall(
      {
        name,
        admit: async () => {
          const verdict = await this.#rpc(breaker, () => this.#admit(breaker));
          admitted = verdict.allowed;
          if (!verdict.allowed) this.counts.refused++;
          return verdict;
        },
        report: (ok, error, probe) => this.#rpc(breaker, () => this.#report(breaker, ok, error, probe)),
      },
      async () => {
        if (!admitted) world.anomaly(`a call reached ${name} without its breaker's admission`);
        admitted = false;
        return attempt();
      },
      options,
      {
        bounded: (work, ms) =>
          Promise.race([
            work(new AbortController().signal),
            world.clock.sleep(ms).then((): never => {
              throw new CallTimedOut(ms);
            }),
          ]),
        sleep: (ms) => world.clock.sleep(ms),
      },
    );
  }

  /** The keeper's admission, checked against the breaker's stored state before it. */
  async #admit(breaker: SimBreaker): Promise<Admission> {
    const before = breaker.state;
    const now = this.#world.clock.now;
    const verdict = await breaker.keeper().admit();
    if (!verdict.allowed) return verdict;
    const openMs = SIM_BREAKER_POLICY.openMs;
    if (before.status === "open" && now < (before.openedAt ?? now) + openMs)
      this.#world.anomaly(
        `breaker ${breaker.name} admitted a call ${now - (before.openedAt ?? now)} ms after it opened (open for ${openMs} ms)`,
      );
    if (before.status === "half-open" && now < (before.probeSince ?? now) + openMs)
      this.#world.anomaly(`breaker ${breaker.name} admitted a second call while its probe was out`);
    return verdict;
  }

  /** The keeper's report, checked: only the half-open probe's success may close the breaker. */
  async #report(breaker: SimBreaker, ok: boolean, error: string | null, probe: ProbeMark): Promise<void> {
    const before = breaker.state;
    await breaker.keeper().report(ok, error, probe);
    const byProbe = before.status === "half-open" && ok && probe !== null && probe === before.probeSince;
    if (before.status !== "closed" && breaker.state.status === "closed" && !byProbe)
      this.#world.anomaly(`breaker ${breaker.name} closed from ${before.status} without its probe's success`);
  }

  /** An RPC to a breaker object: it may fail before acting, or act and lose its answer. */
  async #rpc<T>(breaker: SimBreaker, act: () => Promise<T>): Promise<T> {
    const world = this.#world;
    await world.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
    if (world.faults.strike("rpcFailBefore")) throw new Error("circuit breaker unreachable");
    if (world.faults.strike("evict")) breaker.evict();
    const answer = await act();
    await world.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
    if (world.faults.strike("rpcTimeoutAfter")) throw new Error("circuit breaker answer lost");
    return answer;
  }

  #object(name: string): SimBreaker {
    let b = this.objects.get(name);
    if (!b) {
      b = new SimBreaker(this.#world, name);
      this.objects.set(name, b);
    }
    return b;
  }
}
