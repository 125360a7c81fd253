// The cloud tier's view of an entity object: it reads ranges of the entity's log (to repair gaps
// and to rebuild projections) and acknowledges applied facts, all through the ENTITY binding.
import { pageOrNothing, type EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { entityStub } from "../stubs.js";

const PAGE = 1000;

/** The entity's events with after < seq ≤ upTo, oldest first. */
export async function readFromEntity(
  env: Env,
  address: EntityAddress,
  after: number,
  upTo: number,
): Promise<RecordedEvent[]> {
  const stub = entityStub(env, address);
  const events: RecordedEvent[] = [];
  let cursor = after;
  while (cursor < upTo) {
    // A cursor past the head would mean `upTo` names an event the entity never recorded: nothing to read.
    const page = pageOrNothing(await stub.events(address, cursor, Math.min(PAGE, upTo - cursor)));
    if (!page || page.events.length === 0) break;
    events.push(...page.events);
    cursor = page.events[page.events.length - 1]?.seq ?? upTo;
  }
  return events;
}
