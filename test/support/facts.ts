// Helpers for driving the facts consumer by hand: hold an entity's facts at the edge, build the
// queue messages the relay would have sent, and deliver them in any order, any number of times.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { toCloudEvent } from "../../src/core/protocol/cloud-event.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { armFault, InjectedFault } from "../../src/core/resilience/fault-injection.js";
import worker from "../../worker.js";
import { factHandOff } from "../../edge/entity/fact-handoff.js";
import { sagaFactHandOff } from "../../cloud/sagas/saga-host.js";
import { call } from "./api.js";

/** Keeps the relay of every entity of `tenant` from sending, until the returned function runs. */
export function holdRelay(tenant: string): () => void {
  return armFault("relay.send", (ctx) => {
    if (ctx.tenant === tenant) throw new InjectedFault("relay.send");
  });
}

/**
 * Resolves once the tenant API and the saga hosts have sent (or, under `holdRelay`, failed to send
 * and reported) the facts their commands were handed, which they do within their linger after the
 * answer: from then on the facts are their entities' to send.
 */
export async function handOffsSettled(): Promise<void> {
  const wait = (ms: number) => scheduler.wait(ms);
  await Promise.all([factHandOff.settled(wait), sagaFactHandOff.settled(wait)]);
}

/** Makes the consumer fail every batch of the given entity, until the returned function runs. */
export function failConsumerFor(tenant: string, entityId?: string): () => void {
  return armFault("consumer.apply", (ctx) => {
    if (ctx.tenant === tenant && (entityId === undefined || ctx.entityId === entityId))
      throw new InjectedFault("consumer.apply");
  });
}

export async function logOf(apiKey: string, type: string, id: string): Promise<RecordedEvent[]> {
  const res = await call(`/v1/entities/${type}/${id}/events?limit=1000`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  return ((await res.json()) as { events: RecordedEvent[] }).events;
}

let messageCounter = 0;

/** Delivers the events to the facts consumer as one batch, as the queue would. */
export function deliver(events: readonly RecordedEvent[], attempts = 1) {
  return deliverRaw(events.map(toCloudEvent), attempts);
}

/** Delivers arbitrary bodies (facts already on the wire, or poison messages) as one batch. */
export async function deliverRaw(bodies: readonly unknown[], attempts = 1) {
  const batch = createMessageBatch(
    "factline-facts",
    bodies.map((body) => ({ id: `m-${messageCounter++}`, timestamp: new Date(), attempts, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}
