// The circuit breaker object's effect sequence, one implementation for production's breaker
// object (cloud/sagas/breaker-host.ts gives it ports over its SQLite state and transition log and
// D1's `circuit_breakers`) and the simulator's (src/simulation/breaker.ts, over its models): each
// admission and report takes one step of the pure machine (circuit-breaker.ts), stores the new
// state and its transition in one write when anything changed, logs a transition, and mirrors
// the breaker into D1 on a transition or once per incarnation (a failed mirror is only logged:
// the object's own state stays the truth). Build one per object incarnation from what is stored.
import {
  admit,
  recordFailure,
  recordSuccess,
  type Admission,
  type BreakerPolicy,
  type BreakerState,
  type BreakerStep,
  type BreakerTransition,
  type ProbeMark,
} from "./circuit-breaker.js";

/** The breaker's row in D1 (`circuit_breakers`), for the admin API; `version` counts transitions. */
export interface BreakerRow {
  readonly name: string;
  readonly status: BreakerState["status"];
  readonly consecutiveFailures: number;
  readonly openedAt: number | null;
  readonly lastReason: string | null;
  readonly version: number;
}

/** What the keeper needs of its host. All times are epoch ms. */
export interface BreakerKeeperPorts {
  /** Stores `state` and appends `transition` (when not null), all or none. */
  save(state: BreakerState, transition: BreakerTransition | null): void;
  now(): number;
  /** Writes the row unless D1 holds one of an equal or higher version; rejects when D1 fails. */
  mirror(row: BreakerRow): Promise<void>;
  log(level: "warn", message: string, fields: Readonly<Record<string, string>>): void;
}

/** One breaker for one object incarnation: `stored` is its state and how many transitions it logged. */
export class BreakerKeeper {
  readonly name: string;
  readonly #ports: BreakerKeeperPorts;
  readonly #policy: BreakerPolicy;
  #state: BreakerState;
  #version: number;
  /** Whether this incarnation has written the breaker's row to D1. */
  #listed = false;

  constructor(
    ports: BreakerKeeperPorts,
    name: string,
    policy: BreakerPolicy,
    stored: { readonly state: BreakerState; readonly transitions: number },
  ) {
    this.#ports = ports;
    this.name = name;
    this.#policy = policy;
    this.#state = stored.state;
    this.#version = stored.transitions;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** May a call go out now? (`admit` of the machine: fail fast while open, one probe after the cool-down.) */
  async admit(): Promise<Admission> {
    const step = admit(this.#state, this.#policy, this.#ports.now());
    await this.#commit(step);
    return step.verdict;
  }

  /**
   * An admitted call's outcome, marked with its admission (`probeMark`): failures open a closed
   * breaker, and only the probe's outcome closes or reopens a half-open one.
   */
  async report(ok: boolean, error: string | null, probe: ProbeMark): Promise<void> {
    const now = this.#ports.now();
    await this.#commit(
      ok
        ? recordSuccess(this.#state, now, probe)
        : recordFailure(this.#state, this.#policy, now, error ?? "failed", probe),
    );
  }

  async #commit(step: BreakerStep<unknown>): Promise<void> {
    const changed = step.state !== this.#state;
    this.#state = step.state;
    const t = step.transition;
    if (changed) this.#ports.save(step.state, t);
    if (t) {
      this.#version++;
      this.#ports.log("warn", "circuit breaker changed", {
        breaker: this.name,
        from: t.from,
        to: t.to,
        reason: t.reason,
      });
    }
    if (!t && this.#listed) return;
    this.#listed = true;
    const s = this.#state;
    try {
      await this.#ports.mirror({
        name: this.name,
        status: s.status,
        consecutiveFailures: s.consecutiveFailures,
        openedAt: s.openedAt,
        lastReason: t?.reason ?? null,
        version: this.#version,
      });
    } catch (error) {
      this.#ports.log("warn", "breaker mirror failed", {
        breaker: this.name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
