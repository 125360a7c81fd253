// Specifications of the guarded-call sequence (src/core/resilience/guarded-call.ts) and the breaker
// object's admit/report sequence (src/core/resilience/breaker-keeper.ts), which production and
// the simulator both run: what reaches the dependency, what the breaker is told, when a call is
// retried or refused, and what the breaker object stores and mirrors. The ports are a scripted
// breaker, timers that answer at once (or time out when told), and plain in-memory storage.
import { describe, expect, it } from "vitest";
import { BreakerKeeper, type BreakerKeeperPorts, type BreakerRow } from "../../src/core/resilience/breaker-keeper.js";
import {
  CLOSED_BREAKER,
  type Admission,
  type BreakerState,
  type BreakerTransition,
} from "../../src/core/resilience/circuit-breaker.js";
import { guardedCall, type BreakerPort, type GuardTiming } from "../../src/core/resilience/guarded-call.js";
import { CallTimedOut } from "../../src/core/resilience/timeout.js";

const OPTIONS = { timeoutMs: 1_000, attempts: 3, backoff: { baseMs: 10, maxMs: 100 } };
const NOW = 1_767_225_600_000;

/** A breaker that admits as scripted and records what it is told. */
function breaker(verdicts: (Admission | Error)[]): BreakerPort & { readonly reports: string[] } {
  const reports: string[] = [];
  return {
    name: "gateway",
    reports,
    admit: async () => {
      const next = verdicts.shift() ?? { allowed: true, probe: false };
      if (next instanceof Error) throw next;
      return next;
    },
    report: async (ok, error, probe) => {
      const outcome = ok ? "ok" : `failed: ${error}`;
      reports.push(probe === null ? outcome : `${outcome} (probe ${probe})`);
    },
  };
}

/** Timers that answer at once; `sleeps` records each backoff. */
function timing(): GuardTiming & { readonly sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    bounded: (work) => work(new AbortController().signal),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
}

describe("a guarded call", () => {
  it("returns the answer of an admitted attempt and reports the success", async () => {
    const b = breaker([]);
    expect(await guardedCall(b, async () => 42, OPTIONS, timing())).toEqual({ ok: true, value: 42 });
    expect(b.reports).toEqual(["ok"]);
  });

  it("does not reach the dependency while the breaker is open and says when to come back", async () => {
    const b = breaker([{ allowed: false, retryAfterMs: 700 }]);
    let reached = 0;
    const answer = await guardedCall(b, async () => ++reached, OPTIONS, timing());
    expect(answer).toEqual({ ok: false, kind: "open", retryAfterMs: 700 });
    expect(reached).toBe(0);
    expect(b.reports).toEqual([]);
  });

  it("reports each failed attempt and retries after a backoff, up to its attempts", async () => {
    const b = breaker([]);
    const t = timing();
    const answer = await guardedCall(
      b,
      async () => {
        throw new Error("gateway answered 503");
      },
      OPTIONS,
      t,
    );
    expect(answer).toEqual({ ok: false, kind: "failed", error: "gateway answered 503" });
    expect(b.reports).toEqual(Array(3).fill("failed: gateway answered 503"));
    expect(t.sleeps).toHaveLength(2);
    for (const ms of t.sleeps) expect(ms).toBeLessThanOrEqual(OPTIONS.backoff.maxMs);
  });

  it("counts an attempt that did not answer in time as failed", async () => {
    const b = breaker([]);
    const never = (): Promise<never> => new Promise<never>(() => {});
    // The attempt never answers: its bound gives up on it; admission and report answer at once.
    const t: GuardTiming = {
      bounded: async (work, ms) => {
        if (work !== never) return work(new AbortController().signal);
        void work(new AbortController().signal);
        throw new CallTimedOut(ms);
      },
      sleep: async () => {},
    };
    const answer = await guardedCall(b, never, { ...OPTIONS, attempts: 1 }, t);
    expect(answer).toEqual({ ok: false, kind: "failed", error: "no answer within 1000 ms" });
    expect(b.reports).toEqual(["failed: no answer within 1000 ms"]);
  });

  it("fails an attempt without reaching the dependency when the breaker cannot be asked", async () => {
    const b = breaker([new Error("breaker unreachable")]);
    let reached = 0;
    const answer = await guardedCall(b, async () => ++reached, { ...OPTIONS, attempts: 1 }, timing());
    expect(answer).toEqual({ ok: false, kind: "failed", error: "circuit breaker unavailable: breaker unreachable" });
    expect(reached).toBe(0);
  });

  it("reports the probe's outcome marked with the time the probe was let through", async () => {
    const b = breaker([{ allowed: true, probe: true, probeSince: NOW }]);
    await guardedCall(b, async () => "sent", OPTIONS, timing());
    expect(b.reports).toEqual([`ok (probe ${NOW})`]);
  });

  it("still answers when the breaker does not take the report", async () => {
    const b: BreakerPort = {
      name: "gateway",
      admit: async () => ({ allowed: true, probe: false }),
      report: async () => {
        throw new Error("breaker unreachable");
      },
    };
    expect(await guardedCall(b, async () => "sent", OPTIONS, timing())).toEqual({ ok: true, value: "sent" });
  });
});

/** A breaker object's storage, D1 row and clock, as a keeper sees them. */
class BreakerObject {
  state: BreakerState = CLOSED_BREAKER;
  readonly transitions: BreakerTransition[] = [];
  readonly rows: BreakerRow[] = [];
  readonly logged: string[] = [];
  now = NOW;
  mirrorFails = false;

  ports(): BreakerKeeperPorts {
    return {
      save: (state, transition) => {
        this.state = state;
        if (transition) this.transitions.push(transition);
      },
      now: () => this.now,
      mirror: async (row) => {
        if (this.mirrorFails) throw new Error("D1 unavailable");
        this.rows.push(row);
      },
      log: (_level, message) => this.logged.push(message),
    };
  }

  /** A keeper as a freshly woken object builds it from storage. */
  keeper(): BreakerKeeper {
    return new BreakerKeeper(
      this.ports(),
      "gateway",
      { failureThreshold: 2, openMs: 1_000 },
      {
        state: this.state,
        transitions: this.transitions.length,
      },
    );
  }
}

describe("the breaker object", () => {
  it("stores the transition that opens it and mirrors it with the transition's count as its version", async () => {
    const object = new BreakerObject();
    const keeper = object.keeper();
    await keeper.report(false, "503", null);
    await keeper.report(false, "503", null);
    expect(object.state.status).toBe("open");
    expect(object.transitions.map((t) => `${t.from}>${t.to}`)).toEqual(["closed>open"]);
    expect(object.rows.at(-1)).toMatchObject({
      status: "open",
      version: 1,
      lastReason: "2 consecutive failures; last: 503",
    });
  });

  it("refuses calls while open, then lets one probe through after the cool-down", async () => {
    const object = new BreakerObject();
    const keeper = object.keeper();
    await keeper.report(false, "503", null);
    await keeper.report(false, "503", null);
    expect(await keeper.admit()).toEqual({ allowed: false, retryAfterMs: 1_000 });
    object.now += 1_000;
    expect(await keeper.admit()).toEqual({ allowed: true, probe: true, probeSince: object.now });
    expect(await keeper.admit()).toMatchObject({ allowed: false });
    await keeper.report(true, null, object.now);
    expect(object.transitions.map((t) => t.to)).toEqual(["open", "half-open", "closed"]);
  });

  it("carries on from its stored state after an eviction", async () => {
    const object = new BreakerObject();
    const first = object.keeper();
    await first.report(false, "503", null);
    await first.report(false, "503", null);
    const fresh = object.keeper();
    expect(await fresh.admit()).toMatchObject({ allowed: false });
    object.now += 1_000;
    await fresh.admit();
    expect(object.rows.at(-1)).toMatchObject({ status: "half-open", version: 2 });
  });

  it("mirrors itself once per incarnation even without a transition, so the admin API lists it", async () => {
    const object = new BreakerObject();
    const keeper = object.keeper();
    await keeper.admit();
    await keeper.admit();
    await keeper.report(true, null, null);
    expect(object.rows).toEqual([
      { name: "gateway", status: "closed", consecutiveFailures: 0, openedAt: null, lastReason: null, version: 0 },
    ]);
  });

  it("only logs a mirror that failed: its own state stays the truth and the call goes on", async () => {
    const object = new BreakerObject();
    object.mirrorFails = true;
    const keeper = object.keeper();
    expect(await keeper.admit()).toEqual({ allowed: true, probe: false });
    expect(object.logged).toEqual(["breaker mirror failed"]);
  });
});
