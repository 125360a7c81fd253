// A facts-queue message that carries a pack of facts (cloud-event.ts, `packFactMessages`) is
// consumed as one message per fact: each part is decoded, grouped with its entity, applied or
// failed, retried or dead-lettered on its own, as a fact sent alone is. The queue settles the
// whole message, so the parts' outcomes are gathered here: once every part has settled, the
// message is retried (after the longest delay a part asked for) if any part was, else acked.
// Parts that were applied come again with a retried message, and the checkpoints skip them.
// Shared by production's queue handler and the simulator's queue.

/** How a queue message is settled (production: the Queues `Message`; the simulator: its queue). */
export interface Settle {
  ack(): void;
  retry(delaySeconds: number): void;
}

/** The facts a message body carries as parts, or null when it is not a pack (a fact, a notice, anything else). */
export function packParts(body: unknown): readonly unknown[] | null {
  return Array.isArray(body) && body.length > 0 ? body : null;
}

/**
 * One `Settle` per part of a message of `count` parts, settling `message` once all have: the
 * first answer of each part counts (a host settles each message once; a second is ignored).
 */
export function settlePartsTogether(message: Settle, count: number): Settle[] {
  let waiting = count;
  let retryAfter: number | null = null;
  const settled = () => {
    if (--waiting > 0) return;
    if (retryAfter === null) message.ack();
    else message.retry(retryAfter);
  };
  return Array.from({ length: count }, () => {
    let done = false;
    return {
      ack: () => {
        if (done) return;
        done = true;
        settled();
      },
      retry: (delaySeconds: number) => {
        if (done) return;
        done = true;
        retryAfter = Math.max(retryAfter ?? 0, delaySeconds);
        settled();
      },
    };
  });
}
