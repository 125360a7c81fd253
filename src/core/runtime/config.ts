// The platform's settings, parsed once from the Worker's `[vars]` with zod. Every host reads
// these typed values instead of `Number(env.X ?? …)` of its own, so a malformed value is
// caught in one place: the Worker's `fetch` answers 500 `config-invalid` (and logs which
// setting), rather than a value like `NaN` or a JSON error surfacing later inside every alarm
// of every saga for ever. Durable Objects, which must keep running (an alarm that throws is
// retried a few times, then stops), take the defaults for the invalid settings and log them.
import { z } from "zod";
import { logEvent } from "./log.js";
import { isStageTimeoutMs, MAX_STAGE_TIMEOUT_MS } from "../model/saga.js";
import type { FieldError } from "../http/problem.js";

/** Log levels, lowest first. */
export type LogLevel = "info" | "warn" | "error";

/** The platform's settings (units in the names); each default is the one documented in README. */
export interface Config {
  readonly logLevel: LogLevel;
  /** Facts an entity may hold unacknowledged before it sheds commands with 429. */
  readonly entityMaxBacklog: number;
  readonly sagaMaxAttempts: number;
  readonly sagaCompensationMaxAttempts: number;
  readonly sagaRetryBaseMs: number;
  readonly sagaRetryMaxMs: number;
  /** Stage name → timeout (ms), overriding the stages' declared timeouts. */
  readonly sagaStageTimeouts: Readonly<Record<string, number>>;
  /** Per-attempt timeout of guarded calls to outside services. */
  readonly gatewayTimeoutMs: number;
  readonly breakerFailureThreshold: number;
  readonly breakerOpenMs: number;
  readonly liveRevalidateMs: number;
  /** How often an open dashboard stream re-checks its session, ms: it ends at the first check that finds it gone. */
  readonly dashboardSessionRecheckMs: number;
  readonly tenantPolicyMaxAgeMs: number;
  /** How long an isolate trusts its copy of a key's and tenant's standing (admission staleness). */
  readonly tenantAdmissionMaxStaleMs: number;
  /** Requests of one tenant one isolate serves at once before shedding with 429 `overloaded`. */
  readonly tenantMaxInFlight: number;
  /** Commands of one entity one isolate lets wait on its object at once before shedding. */
  readonly entityMaxInFlight: number;
  /** Longest a command may wait for its entity before it is shed instead of decided. */
  readonly entityMaxQueueDelayMs: number;
  /** How long a Durable Streams long-poll waits for data before answering 204 (ms). */
  readonly streamLongPollTimeoutMs: number;
  /** A view's change feed keeps at least its newest this many changes (retention by count). */
  readonly viewChangesRetainCount: number;
  /** …and every change recorded less than this long ago, whichever keeps more (retention by age, ms). */
  readonly viewChangesRetainAgeMs: number;
}

// A `[vars]` value is a string (or, written unquoted in wrangler.toml, a number); unset or empty
// means the default. Bounds keep a typo from meaning "never" or "always".
const positiveInt = (fallback: number, max: number) =>
  z
    .union([z.string(), z.number()])
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return fallback;
      const n = typeof v === "number" ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
      if (!Number.isSafeInteger(n) || n < 1 || n > max) {
        ctx.addIssue({
          code: "custom",
          message: `expected a whole number from 1 to ${max}, got ${JSON.stringify(v).slice(0, 40)}`,
        });
        return z.NEVER;
      }
      return n;
    });

const DAY_MS = 86_400_000;

const stageTimeouts = z
  .union([z.string(), z.record(z.string(), z.unknown())])
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === "") return {};
    let parsed: unknown = v;
    if (typeof v === "string") {
      try {
        parsed = JSON.parse(v);
      } catch {
        ctx.addIssue({ code: "custom", message: "expected a JSON object of stage name → ms" });
        return z.NEVER;
      }
    }
    // The range a stage's declared timeout is checked against (checkSagaDefinition).
    const checked = z.record(z.string(), z.number().refine(isStageTimeoutMs)).safeParse(parsed);
    if (!checked.success) {
      ctx.addIssue({
        code: "custom",
        message: `expected a JSON object of stage name → whole ms from 1 to ${MAX_STAGE_TIMEOUT_MS}`,
      });
      return z.NEVER;
    }
    // A null-prototype copy: a stage named `constructor` is a name like any other.
    return Object.assign(Object.create(null) as Record<string, number>, checked.data);
  });

const varsSchema = z.object({
  LOG_LEVEL: z.enum(["info", "warn", "error"]).optional().default("info"),
  ENTITY_MAX_BACKLOG: positiveInt(1000, 1_000_000),
  SAGA_MAX_ATTEMPTS: positiveInt(8, 1000),
  SAGA_COMPENSATION_MAX_ATTEMPTS: positiveInt(20, 1000),
  SAGA_RETRY_BASE_MS: positiveInt(500, DAY_MS),
  SAGA_RETRY_MAX_MS: positiveInt(30_000, DAY_MS),
  SAGA_STAGE_TIMEOUTS: stageTimeouts,
  GATEWAY_TIMEOUT_MS: positiveInt(5_000, 600_000),
  BREAKER_FAILURE_THRESHOLD: positiveInt(5, 1000),
  BREAKER_OPEN_MS: positiveInt(30_000, DAY_MS),
  LIVE_REVALIDATE_MS: positiveInt(20_000, DAY_MS),
  // At most a minute: the dashboard promises an open stream ends within that of its session.
  DASHBOARD_SESSION_RECHECK_MS: positiveInt(10_000, 60_000),
  TENANT_POLICY_MAX_AGE_MS: positiveInt(15_000, DAY_MS),
  TENANT_ADMISSION_MAX_STALE_MS: positiveInt(5_000, 600_000),
  TENANT_MAX_IN_FLIGHT: positiveInt(256, 1_000_000),
  ENTITY_MAX_IN_FLIGHT: positiveInt(64, 1_000_000),
  ENTITY_MAX_QUEUE_DELAY_MS: positiveInt(500, 600_000),
  STREAM_LONG_POLL_TIMEOUT_MS: positiveInt(20_000, 600_000),
  // 10,000 changes / 7 days; at most 10 million / 365 days, so a typo cannot mean "for ever".
  VIEW_CHANGES_RETAIN_COUNT: positiveInt(10_000, 10_000_000),
  VIEW_CHANGES_RETAIN_AGE_MS: positiveInt(7 * DAY_MS, 365 * DAY_MS),
});

type Vars = z.output<typeof varsSchema>;
type VarName = keyof Vars;

function toConfig(v: Vars): Config {
  return {
    logLevel: v.LOG_LEVEL,
    entityMaxBacklog: v.ENTITY_MAX_BACKLOG,
    sagaMaxAttempts: v.SAGA_MAX_ATTEMPTS,
    sagaCompensationMaxAttempts: v.SAGA_COMPENSATION_MAX_ATTEMPTS,
    sagaRetryBaseMs: v.SAGA_RETRY_BASE_MS,
    sagaRetryMaxMs: v.SAGA_RETRY_MAX_MS,
    sagaStageTimeouts: v.SAGA_STAGE_TIMEOUTS,
    gatewayTimeoutMs: v.GATEWAY_TIMEOUT_MS,
    breakerFailureThreshold: v.BREAKER_FAILURE_THRESHOLD,
    breakerOpenMs: v.BREAKER_OPEN_MS,
    liveRevalidateMs: v.LIVE_REVALIDATE_MS,
    dashboardSessionRecheckMs: v.DASHBOARD_SESSION_RECHECK_MS,
    tenantPolicyMaxAgeMs: v.TENANT_POLICY_MAX_AGE_MS,
    tenantAdmissionMaxStaleMs: v.TENANT_ADMISSION_MAX_STALE_MS,
    tenantMaxInFlight: v.TENANT_MAX_IN_FLIGHT,
    entityMaxInFlight: v.ENTITY_MAX_IN_FLIGHT,
    entityMaxQueueDelayMs: v.ENTITY_MAX_QUEUE_DELAY_MS,
    streamLongPollTimeoutMs: v.STREAM_LONG_POLL_TIMEOUT_MS,
    viewChangesRetainCount: v.VIEW_CHANGES_RETAIN_COUNT,
    viewChangesRetainAgeMs: v.VIEW_CHANGES_RETAIN_AGE_MS,
  };
}

/**
 * The settings, and what was wrong with them: `errors` names each malformed variable (`path` is
 * its name); `config` then holds the default in its place, so a host can keep running.
 */
export interface ConfigReading {
  readonly config: Config;
  readonly errors: readonly FieldError[];
}

/** The defaults, as parsed from no variables at all. */
export const DEFAULT_CONFIG: Config = toConfig(varsSchema.parse({}));

const readings = new WeakMap<object, ConfigReading>();

/**
 * Parses the settings from `vars` (the Worker's `env`; other bindings in it are ignored), once per
 * `vars` object. Never throws.
 */
export function readConfig(vars: object): ConfigReading {
  const cached = readings.get(vars);
  if (cached) return cached;
  const raw = vars as Readonly<Record<string, unknown>>;
  const parsed = varsSchema.safeParse(pick(raw));
  let reading: ConfigReading;
  if (parsed.success) reading = { config: toConfig(parsed.data), errors: [] };
  else {
    const errors = parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
    const bad = new Set(errors.map((e) => e.path));
    // The well-formed settings still count; each malformed one falls back to its default.
    const kept = Object.fromEntries(Object.entries(pick(raw)).filter(([name]) => !bad.has(name)));
    reading = { config: toConfig(varsSchema.parse(kept)), errors };
  }
  readings.set(vars, reading);
  return reading;
}

function pick(raw: Readonly<Record<string, unknown>>): Partial<Record<VarName, unknown>> {
  const out: Partial<Record<VarName, unknown>> = {};
  for (const name of Object.keys(varsSchema.shape) as VarName[]) if (raw[name] !== undefined) out[name] = raw[name];
  return out;
}

const logged = new WeakSet<ConfigReading>();

/**
 * The settings a Durable Object or queue consumer runs with: `readConfig(vars).config`, with the
 * malformed settings (already replaced by their defaults) logged once per isolate as an error.
 * Hosts must keep running on a bad value; the Worker's `fetch` is what refuses to serve.
 */
export function hostConfig(vars: object, host: string): Config {
  const reading = readConfig(vars);
  if (reading.errors.length > 0 && !logged.has(reading)) {
    logged.add(reading);
    logEvent("error", "configuration invalid; using defaults for these settings", {
      host,
      errors: describeConfigErrors(reading.errors),
    });
  }
  return reading.config;
}

/** `errors` as one log-friendly line: `NAME: message; NAME: message`. */
export function describeConfigErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`).join("; ");
}
