// The simulated platform's configuration: its bounds and timers, the test-only mutation switches,
// and the fingerprint a request's idempotency key is bound to.
import type { ConsumerMutations } from "../core/consumer/entity-plan.js";
import type { LiveMutations } from "../core/live/live-feed-host.js";
import type { RebuildMutations } from "../core/projection/rebuild-job.js";
import type { SagaRuntimePolicy } from "../core/model/saga.js";
import { RELAY_POLICY, type RelayPolicy } from "../core/outbox/relay.js";
import { QUEUE_LIMITS } from "../core/protocol/cloud-event.js";
import { Prng } from "./prng.js";

/** Test-only switches that re-introduce fixed defects (see `npm run sim:mutants`). */
export interface Mutations extends ConsumerMutations, RebuildMutations, LiveMutations {}

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

/**
 * The facts queue's message limit in one run, in bytes as the queue counts them: what the relay
 * believes (`relay`, its policy) and what the simulated queue enforces (`queueMessageBytes`). Most
 * runs have production's limits, under which no fact of the workloads comes near the limit; one
 * run in four (drawn from its seed) gets a tight limit so that facts are parked: those over the
 * relay's limit before any send, and those between the queue's slightly lower limit and the
 * relay's when the queue refuses them (the relay halves its batch, then parks the lone fact).
 */
export interface QueueLimits {
  readonly relay: RelayPolicy;
  readonly queueMessageBytes: number;
  readonly tight: boolean;
}

/** Production's limits (Cloudflare Queues'), as the relay and the queue both count them. */
export const PRODUCTION_QUEUE_LIMITS: QueueLimits = {
  relay: RELAY_POLICY,
  queueMessageBytes: QUEUE_LIMITS.messageBytes,
  tight: false,
};

/** The range of a tight run's message limit, and by how much at most the queue's is below the relay's. */
const TIGHT_MESSAGE_BYTES = { min: 560, max: 640, queueBelowRelay: 40 } as const;

/** The queue limits of the run with `seed` (its own stream: the run's other draws are unchanged). */
export function queueLimitsFor(seed: number): QueueLimits {
  const prng = new Prng((seed ^ 0x7a11ed) >>> 0);
  if (prng.int(4) !== 0) return PRODUCTION_QUEUE_LIMITS;
  const messageBytes = TIGHT_MESSAGE_BYTES.min + prng.int(TIGHT_MESSAGE_BYTES.max - TIGHT_MESSAGE_BYTES.min);
  return {
    relay: { ...RELAY_POLICY, messageBytes },
    queueMessageBytes: messageBytes - prng.int(TIGHT_MESSAGE_BYTES.queueBelowRelay),
    tight: true,
  };
}
