// The home of one circuit breaker (one Durable Object per guarded dependency), so every isolate
// that calls the dependency sees the same state. Transitions are facts: appended to the object's
// own log, and mirrored into D1 for the admin API (GET /admin/breakers).
import { DurableObject } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { sql } from "drizzle-orm";
import { SQLSchemaMigrations } from "durable-utils/sql-migrations";
import { breakerStorageMigrations } from "../storage-schema.js";
import {
  admit,
  CLOSED_BREAKER,
  recordFailure,
  recordSuccess,
  type Admission,
  type BreakerPolicy,
  type BreakerState,
  type BreakerStep,
  type BreakerTransition,
} from "../../src/core/resilience/circuit-breaker.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { logEvent, setLogLevel } from "../../src/core/runtime/log.js";
import { circuitBreakers } from "../schema.js";

export interface BreakerView {
  readonly name: string;
  readonly state: BreakerState;
  readonly transitions: readonly (BreakerTransition & { readonly seq: number })[];
}

/** The breaker's RPC contract, as guarded calls see it. */
export interface BreakerRpc {
  admit(name: string): Promise<Admission>;
  report(name: string, ok: boolean, error: string | null): Promise<void>;
  inspect(name: string): Promise<BreakerView>;
}

/** The breaker's thresholds from the settings (BREAKER_FAILURE_THRESHOLD, BREAKER_OPEN_MS). */
export function breakerPolicy(env: Env): BreakerPolicy {
  const config = hostConfig(env, "breaker");
  return { failureThreshold: config.breakerFailureThreshold, openMs: config.breakerOpenMs };
}

export class CircuitBreakerHost extends DurableObject<Env> implements BreakerRpc {
  #state: BreakerState = CLOSED_BREAKER;
  #version = 0;
  /** Whether this breaker's row was written to D1 since the object woke up. */
  #listed = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    setLogLevel(hostConfig(env, "breaker").logLevel);
    void ctx.blockConcurrencyWhile(async () => {
      await new SQLSchemaMigrations({
        doStorage: ctx.storage,
        migrations: breakerStorageMigrations,
      }).runAll();
      const saved = ctx.storage.sql.exec<{ state: string }>("SELECT state FROM breaker_state").toArray()[0];
      if (saved) this.#state = JSON.parse(saved.state) as BreakerState;
      this.#version = ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM breaker_log").one().n;
    });
  }

  async admit(name: string): Promise<Admission> {
    const step = admit(this.#state, breakerPolicy(this.env), Date.now());
    await this.#commit(name, step);
    return step.verdict;
  }

  async report(name: string, ok: boolean, error: string | null): Promise<void> {
    const now = Date.now();
    const step = ok
      ? recordSuccess(this.#state, now)
      : recordFailure(this.#state, breakerPolicy(this.env), now, error ?? "failed");
    await this.#commit(name, step);
  }

  async inspect(name: string): Promise<BreakerView> {
    const transitions = this.ctx.storage.sql
      .exec<{ seq: number; from_status: string; to_status: string; at: number; reason: string }>(
        "SELECT * FROM breaker_log ORDER BY seq DESC LIMIT 50",
      )
      .toArray()
      .map((r) => ({
        seq: r.seq,
        from: r.from_status as BreakerState["status"],
        to: r.to_status as BreakerState["status"],
        at: r.at,
        reason: r.reason,
      }));
    return { name, state: this.#state, transitions };
  }

  async #commit(name: string, step: BreakerStep<unknown>): Promise<void> {
    const changed = step.state !== this.#state;
    this.#state = step.state;
    const t = step.transition;
    if (changed) {
      this.ctx.storage.transactionSync(() => {
        this.ctx.storage.sql.exec(
          "INSERT OR REPLACE INTO breaker_state (singleton, state) VALUES (1, ?)",
          JSON.stringify(step.state),
        );
        if (t)
          this.ctx.storage.sql.exec(
            "INSERT INTO breaker_log (from_status, to_status, at, reason) VALUES (?, ?, ?, ?)",
            t.from,
            t.to,
            t.at,
            t.reason,
          );
      });
    }
    if (t) {
      this.#version++;
      logEvent("warn", "circuit breaker changed", { breaker: name, from: t.from, to: t.to, reason: t.reason });
    }
    if (t || !this.#listed) {
      this.#listed = true;
      await this.#mirror(name, t);
    }
  }

  /** Mirrors the breaker into D1; the object's own log stays the truth if this write fails. */
  async #mirror(name: string, t: BreakerTransition | null): Promise<void> {
    const s = this.#state;
    const row = {
      name,
      status: s.status,
      consecutiveFailures: s.consecutiveFailures,
      openedAt: s.openedAt,
      lastReason: t?.reason ?? null,
      version: this.#version,
      updatedAt: Date.now(),
    };
    try {
      await drizzle(this.env.DB)
        .insert(circuitBreakers)
        .values(row)
        .onConflictDoUpdate({
          target: circuitBreakers.name,
          set: {
            status: row.status,
            consecutiveFailures: row.consecutiveFailures,
            openedAt: row.openedAt,
            lastReason: row.lastReason,
            version: row.version,
            updatedAt: row.updatedAt,
          },
          setWhere: sql`${circuitBreakers.version} < ${row.version}`,
        });
    } catch (error) {
      logEvent("warn", "breaker mirror failed", {
        breaker: name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
