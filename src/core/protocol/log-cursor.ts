// A reader's position in an entity's log: the seq of the last event it holds (`?after=`,
// `Last-Event-ID`, the dashboard's live log). An entity's log never shrinks and no answer names a
// seq past its head, so a position past the head was never given to anyone: a stale cursor from
// another entity or environment, or a client's bug. Following it would skip every event recorded
// up to it, silently, so it is refused. A position equal to the head is the caught-up reader's and
// is served (an empty page; a live stream that waits for the next event). The entity's object
// decides, in the same synchronous step as the read, so no commit can fall between the check and
// the read.
import { problem, type Problem } from "../http/problem.js";
import type { EntityAddress } from "./entity-protocol.js";

/**
 * The refusal (400 `cursor-past-end`, naming the latest seq) of a read of `address`'s log after
 * `after` when its latest event is `head` (0 before the first), or undefined when `after` is at
 * most `head`.
 */
export function cursorPastHead(address: EntityAddress, after: number, head: number): Problem | undefined {
  if (after <= head) return undefined;
  return problem(
    "cursor-past-end",
    `${address.entityType} ${address.entityId} has no event ${after}: its latest is ${head}; resume after a seq it sent (0 reads from the first)`,
  );
}
