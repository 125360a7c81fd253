// Puts the facts entity objects hand to their commands' callers (CommandEnvelope.callerRelays) on
// the facts queue, batched across the commands one isolate's callers made: commands to many
// entities, each with one new fact, share one `sendBatch` instead of each object sending its own.
// Two callers relay: the tenant API's Worker (edge/entity/fact-handoff.ts) and the saga hosts,
// whose tasks' commands a stage sends to many entities at once (cloud/sagas/saga-host.ts). Every
// send is a subrequest and locally a turn of the queue's broker; measured in workerd, one message
// per sendBatch cost about 0.3 ms of CPU per message and 20 per sendBatch about 0.05 ms.
//
// The entity counted the facts as sent when it handed them off (relay-host.ts), so a failure here
// must reach it: a send that fails is reported to each entity in it (`reportFailure`), which sends
// those facts again itself with backoff. A command whose answer never arrived, or an isolate that
// dies holding facts, leaves them sent and unacknowledged, which the entity's probe at their
// acknowledgement deadline repairs (or the consumer's gap repair, once the entity's next fact arrives).
import type { EntityAddress, HandOff } from "../protocol/entity-protocol.js";
import type { FactsQueueMessage } from "../protocol/cloud-event.js";
import { faultPoint, transformPoint } from "../resilience/fault-injection.js";
import { logEvent } from "../runtime/log.js";
import { packHandOffs } from "./relay.js";

/**
 * How long a caller waits before it sends what is waiting (ms): the facts of the commands answered
 * meanwhile join its batch. Facts reach the consumer in queue batches of up to a second anyway,
 * and no command's answer waits for the send. Measured with the bench's in-isolate dispatch
 * (`npm run bench -- --only isolate`, one entity): an accepted command cost the Worker 0.758 ms of
 * CPU at 2 ms and 0.589 ms at 10 ms, against 0.612 ms with no send at all.
 */
export const HAND_OFF_LINGER_MS = 10;

/** What a hand-off needs of its runtime, built from the bindings of the caller that sends. */
export interface HandOffPorts {
  /** One `sendBatch` of `messages` to the facts queue; throws if the queue refused it. */
  send(messages: readonly FactsQueueMessage[]): Promise<void>;
  /** Tells the entity at `address` that its facts from `fromSeq` handed off were not sent (`EntityRpc.handOffFailed`). */
  reportFailure(address: EntityAddress, fromSeq: number): Promise<void>;
  /** Resolves after `ms` (the runtime's `scheduler.wait`). */
  wait(ms: number): Promise<void>;
}

/**
 * `build`'s ports, built once per env (one per isolate) and shared by every command of it: the
 * callers' adapters (edge/entity/fact-handoff.ts, cloud/sagas/saga-host.ts) build them over their
 * own bindings, which no command should pay for again.
 */
export function portsPerEnv<E extends object>(build: (env: E) => HandOffPorts): (env: E) => HandOffPorts {
  const built = new WeakMap<E, HandOffPorts>();
  return (env) => {
    let ports = built.get(env);
    if (ports === undefined) {
      ports = build(env);
      built.set(env, ports);
    }
    return ports;
  };
}

interface Held {
  readonly address: EntityAddress;
  readonly handOff: HandOff;
}

/**
 * One isolate's facts waiting to be sent, shared by its callers (requests, or objects). The first
 * caller of a linger window waits it out and sends, in its own context and through its own ports,
 * everything added meanwhile; the callers that join its window return at once (one timer per
 * window, not one per command: a timer's turn was about 5 % of the Worker's JavaScript per command
 * in a V8 profile of the bench's in-isolate dispatch). No caller awaits a promise of another's
 * context, which would hang if that context ended first: a joiner's facts ride on the sender's
 * context, as an isolate's death would leave them, sent or not, for the entity's probe to repair.
 */
export class FactHandOff {
  #held: Held[] = [];
  /** Whether a caller is waiting out a linger window (it takes everything held when it ends). */
  #lingering = false;
  /** Sends under way (one per linger window), for `settled`. */
  readonly #sending = new Set<Promise<void>>();

  /** Adds `handOff` to the next send; resolves once it is sent or joined a window (give it to `waitUntil`). */
  async add(ports: HandOffPorts, address: EntityAddress, handOff: HandOff): Promise<void> {
    this.#held.push({ address, handOff });
    if (this.#lingering) return;
    this.#lingering = true;
    try {
      await ports.wait(HAND_OFF_LINGER_MS);
    } finally {
      this.#lingering = false;
    }
    const held = this.#held;
    this.#held = [];
    const sending = Promise.all(batches(held).map((batch) => send(ports, batch))).then(() => {});
    this.#sending.add(sending);
    try {
      await sending;
    } finally {
      this.#sending.delete(sending);
    }
  }

  /**
   * Resolves once every fact handed off so far has been sent, or its failure reported to its
   * entity. A test seam: a test that rewrites an entity's storage waits here first, so no report
   * lands on the storage it rewrote. Facts still lingering are taken by a caller whose wait ends
   * before one of the same length started now.
   */
  async settled(wait: HandOffPorts["wait"]): Promise<void> {
    while (this.#held.length > 0 || this.#sending.size > 0) {
      if (this.#sending.size > 0) await Promise.allSettled([...this.#sending]);
      else await wait(HAND_OFF_LINGER_MS);
    }
  }
}

/** The hand-offs in sends within the queue's limits (relay.ts, `packHandOffs`). */
function batches(held: readonly Held[]): Held[][] {
  const groups = packHandOffs(held.map((h) => h.handOff.messages.map((m) => m.bytes)));
  return groups.map((group) => group.flatMap((i) => held[i] ?? []));
}

async function send(ports: HandOffPorts, batch: readonly Held[]): Promise<void> {
  const failed: Held[] = [];
  const sending: Held[] = [];
  for (const h of batch) {
    // The fault-injection seam, per entity as the entity's own send runs it (production: a no-op).
    try {
      faultPoint("relay.send", h.address);
      sending.push(h);
    } catch {
      failed.push(h);
    }
  }
  try {
    // A rewrite that throws stands for the queue refusing the batch, as in the entity's own send.
    const messages: FactsQueueMessage[] = sending.flatMap((h) =>
      transformPoint(
        "relay.batch",
        h.handOff.messages.map((m) => m.body),
        h.address,
      ),
    );
    if (messages.length > 0) await ports.send(messages);
    for (const h of sending) {
      try {
        faultPoint("relay.afterSend", h.address);
      } catch {
        failed.push(h);
      }
    }
  } catch (error) {
    logEvent("warn", "hand-off send failed; the entities send again", {
      entities: sending.length,
      error: error instanceof Error ? error.message : String(error),
    });
    failed.push(...sending);
  }
  await Promise.all(failed.map((h) => reportFailure(ports, h)));
}

async function reportFailure(ports: HandOffPorts, h: Held): Promise<void> {
  try {
    await ports.reportFailure(h.address, h.handOff.fromSeq);
  } catch (error) {
    // The facts stay sent and unacknowledged: the entity's probe repairs them at their deadline.
    logEvent("error", "hand-off failure not reported; the entity's probe repairs it", {
      ...h.address,
      fromSeq: h.handOff.fromSeq,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
