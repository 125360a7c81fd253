// The simulator's fault model: where faults may strike, how often, and a count of every one
// injected. Each kind names a failure the platform meets in production (PLATFORM-NOTES.md).
import type { Prng } from "./prng.js";

/** Probabilities per opportunity (0..1). */
export interface FaultRates {
  /** A message accepted by the queue is never delivered. */
  readonly queueDrop: number;
  /** A message is delivered twice. */
  readonly queueDuplicate: number;
  /** A message is delayed by up to `maxQueueDelayMs` (so batches arrive out of order). */
  readonly queueDelay: number;
  /** A stray producer puts a message that is no fact on the facts queue (per relay send). */
  readonly queueStray: number;
  /** `sendBatch` fails (the relay retries with backoff; the API's Worker reports it to the entity). */
  readonly sendFail: number;
  /**
   * The API's Worker is lost holding facts an entity handed to a command (edge/entity/fact-handoff.ts):
   * they are neither sent nor reported, and only the entity's probe brings them back.
   */
  readonly handOffLost: number;
  /** An object (entity, saga, rebuilder) is evicted at an effect boundary: memory lost, storage kept. */
  readonly evict: number;
  /** A D1 batch fails before it commits (nothing applied). */
  readonly d1FailBefore: number;
  /** A D1 batch commits, then its caller sees an error (it runs again). */
  readonly d1FailAfter: number;
  /** An RPC to an object fails before it acts. */
  readonly rpcFailBefore: number;
  /** An RPC acts, then its caller sees a timeout (the answer is lost). */
  readonly rpcTimeoutAfter: number;
  /** An RPC takes longer than a saga stage's timeout. */
  readonly rpcStall: number;
  /** An outbound (payment gateway) call fails before acting. */
  readonly outboundFailBefore: number;
  /** An outbound call acts, then times out (the answer is lost). */
  readonly outboundTimeoutAfter: number;
  /** A guarded dependency (a tenant's gateway, the notifier) goes down for a few seconds: every call fails. */
  readonly outage: number;
  /** The gateway declines a charge. */
  readonly decline: number;
  /** The consumer fails planning one entity's facts (a bug or a transient read error). */
  readonly consumerApplyFail: number;
  /** Handing one entity's facts to its sagas fails. */
  readonly sagaDeliverFail: number;
}

export const DEFAULT_FAULTS: FaultRates = {
  queueDrop: 0.01,
  queueDuplicate: 0.02,
  queueDelay: 0.05,
  queueStray: 0.002,
  sendFail: 0.02,
  handOffLost: 0.01,
  evict: 0.01,
  d1FailBefore: 0.01,
  d1FailAfter: 0.01,
  rpcFailBefore: 0.01,
  rpcTimeoutAfter: 0.01,
  rpcStall: 0.004,
  outboundFailBefore: 0.03,
  outboundTimeoutAfter: 0.03,
  outage: 0.01,
  decline: 0.05,
  consumerApplyFail: 0.01,
  sagaDeliverFail: 0.02,
};

/** Every rate multiplied by `factor` (0: no faults at all, for the quiet phase that lets the system heal). */
export function scaleFaults(rates: FaultRates, factor: number): FaultRates {
  const scaled: { -readonly [K in keyof FaultRates]: number } = { ...rates };
  for (const kind of Object.keys(rates) as (keyof FaultRates)[]) scaled[kind] = Math.min(1, rates[kind] * factor);
  return scaled;
}

/** Draws faults from its own stream and counts each one injected, by kind. */
export class Faults {
  readonly #prng: Prng;
  rates: FaultRates;
  readonly injected = new Map<keyof FaultRates, number>();
  total = 0;

  constructor(prng: Prng, rates: FaultRates) {
    this.#prng = prng;
    this.rates = rates;
  }

  /** Whether a fault of `kind` strikes at this opportunity (and counts it if so). */
  strike(kind: keyof FaultRates): boolean {
    if (!this.#prng.chance(this.rates[kind])) return false;
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
    this.total++;
    return true;
  }

  /** A random draw from the fault stream (latencies, delays). */
  next(): number {
    return this.#prng.next();
  }

  int(n: number): number {
    return this.#prng.int(n);
  }
}
