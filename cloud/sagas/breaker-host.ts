// The home of one circuit breaker (one Durable Object per guarded dependency), so every isolate
// that calls the dependency sees the same state. Transitions are facts: appended to the object's
// own log, and mirrored into D1 for the admin API (GET /admin/breakers). The admit/report sequence
// is the shared `BreakerKeeper` (src/core/resilience/breaker-keeper.ts), which the simulator's
// breaker objects run too; this object gives it ports over its SQLite tables and D1.
import { DurableObject } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { sql } from "drizzle-orm";
import { SQLSchemaMigrations } from "durable-utils/sql-migrations";
import { breakerStorageMigrations } from "../storage-schema.js";
import {
  CLOSED_BREAKER,
  type Admission,
  type BreakerPolicy,
  type BreakerState,
  type BreakerTransition,
  type ProbeMark,
} from "../../src/core/resilience/circuit-breaker.js";
import { BreakerKeeper } from "../../src/core/resilience/breaker-keeper.js";
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
  /**
   * An admitted call's outcome, with its admission's `probeMark` (the probe's `probeSince`, else
   * null; a caller from before marks existed sends none, read as null: not the probe).
   */
  report(name: string, ok: boolean, error: string | null, probe?: ProbeMark): Promise<void>;
  inspect(name: string): Promise<BreakerView>;
}

/** The breaker's thresholds from the settings (BREAKER_FAILURE_THRESHOLD, BREAKER_OPEN_MS). */
export function breakerPolicy(env: Env): BreakerPolicy {
  const config = hostConfig(env, "breaker");
  return { failureThreshold: config.breakerFailureThreshold, openMs: config.breakerOpenMs };
}

export class CircuitBreakerHost extends DurableObject<Env> implements BreakerRpc {
  #stored: { state: BreakerState; transitions: number } = { state: CLOSED_BREAKER, transitions: 0 };
  /** The shared admit/report sequence of this incarnation, built on the first call (it names the breaker). */
  #keeper: BreakerKeeper | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    setLogLevel(hostConfig(env, "breaker").logLevel);
    void ctx.blockConcurrencyWhile(async () => {
      await new SQLSchemaMigrations({
        doStorage: ctx.storage,
        migrations: breakerStorageMigrations,
      }).runAll();
      const saved = ctx.storage.sql.exec<{ state: string }>("SELECT state FROM breaker_state").toArray()[0];
      this.#stored = {
        state: saved ? (JSON.parse(saved.state) as BreakerState) : CLOSED_BREAKER,
        transitions: ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM breaker_log").one().n,
      };
    });
  }

  async admit(name: string): Promise<Admission> {
    return this.#keeperFor(name).admit();
  }

  async report(name: string, ok: boolean, error: string | null, probe?: ProbeMark): Promise<void> {
    return this.#keeperFor(name).report(ok, error, probe ?? null);
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
    return { name, state: this.#keeper?.state ?? this.#stored.state, transitions };
  }

  #keeperFor(name: string): BreakerKeeper {
    if (this.#keeper) return this.#keeper;
    const storage = this.ctx.storage;
    const db = this.env.DB;
    this.#keeper = new BreakerKeeper(
      {
        save: (state, t) =>
          storage.transactionSync(() => {
            storage.sql.exec(
              "INSERT OR REPLACE INTO breaker_state (singleton, state) VALUES (1, ?)",
              JSON.stringify(state),
            );
            if (t)
              storage.sql.exec(
                "INSERT INTO breaker_log (from_status, to_status, at, reason) VALUES (?, ?, ?, ?)",
                t.from,
                t.to,
                t.at,
                t.reason,
              );
          }),
        now: () => Date.now(),
        mirror: async (row) => {
          const updatedAt = Date.now();
          await drizzle(db)
            .insert(circuitBreakers)
            .values({ ...row, updatedAt })
            .onConflictDoUpdate({
              target: circuitBreakers.name,
              set: {
                status: row.status,
                consecutiveFailures: row.consecutiveFailures,
                openedAt: row.openedAt,
                lastReason: row.lastReason,
                version: row.version,
                updatedAt,
              },
              setWhere: sql`${circuitBreakers.version} < ${row.version}`,
            });
        },
        log: (level, message, fields) => logEvent(level, message, fields),
      },
      name,
      breakerPolicy(this.env),
      this.#stored,
    );
    return this.#keeper;
  }
}
