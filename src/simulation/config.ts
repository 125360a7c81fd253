// The simulated platform's configuration: its bounds and timers, the test-only mutation switches,
// and the fingerprint a request's idempotency key is bound to.
import type { ConsumerMutations } from "../core/consumer/entity-plan.js";
import type { RebuildMutations } from "../core/projection/rebuild-job.js";
import type { SagaRuntimePolicy } from "../core/model/saga.js";

/** Test-only switches that re-introduce fixed defects (see `npm run sim:mutants`). */
export interface Mutations extends ConsumerMutations, RebuildMutations {}

/** Bounds of the world (the platform's configuration in the simulator). */
export const WORLD_LIMITS = {
  entityMaxBacklog: 250,
  /** ENTITY_MAX_QUEUE_DELAY_MS (the default): a client command that waited longer is shed, not decided. */
  entityMaxQueueDelayMs: 500,
  consumerMaxBatch: 25,
  consumerMaxConcurrency: 3,
  maxQueueDelayMs: 20_000,
  /** Queue max_retries + 1: after this many deliveries the queue dead-letters a message itself. */
  queueMaxDeliveries: 6,
  rpcLatencyMs: 2,
  d1LatencyMs: 3,
  stallMs: 45_000,
  sagaCommandTimeoutMs: 10_000,
  sagaPolicy: {
    retry: { maxAttempts: 6, maxCompensationAttempts: 12, baseMs: 50, maxMs: 2_000 },
  } satisfies SagaRuntimePolicy,
} as const;

/** A canonical fingerprint of (command, body): equal for equal requests (production hashes the same text). */
export function fingerprintOf(command: string, data: unknown): string {
  return `${command}:${canonicalJson(data)}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
