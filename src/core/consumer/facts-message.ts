// What a facts-queue message means to the consumer, and how a parked fact's notice becomes the
// fact again. Shared by production's queue handler (cloud/consumer/fact-consumer.ts) and the
// simulator's consumer, so both read a message body and resolve a notice the same way.
import { describeFieldErrors, fieldErrors } from "../model/entity.js";
import type { RecordedEvent } from "../model/envelope.js";
import type { EntityAddress } from "../protocol/entity-protocol.js";
import {
  cloudEventSchema,
  fromCloudEvent,
  parkedFactNoticeSchema,
  type ParkedFactNotice,
} from "../protocol/cloud-event.js";
import type { DecodedMessage } from "./consumer-host.js";

/**
 * Reads a facts-queue message body (untrusted: anything may be put on a queue): a parked fact's
 * notice (checked strictly, so it is never taken for a fact), a fact (a Factline CloudEvent,
 * returned at the schema version it was recorded with; the caller upcasts), or `invalid` with
 * the fields that failed, which the consumer dead-letters at once since no retry can help.
 */
export function decodeFactsMessage(body: unknown): DecodedMessage<ParkedFactNotice> {
  const notice = parkedFactNoticeSchema.safeParse(body);
  if (notice.success) return { kind: "parked", notice: notice.data };
  const parsed = cloudEventSchema.safeParse(body);
  if (!parsed.success)
    return { kind: "invalid", error: `not a Factline fact: ${describeFieldErrors(fieldErrors(parsed.error))}` };
  return { kind: "fact", event: fromCloudEvent(parsed.data) };
}

/** The entity a notice names. */
export function noticeAddress(notice: ParkedFactNotice): EntityAddress {
  return { tenant: notice.tenant, entityType: notice.entitytype, entityId: notice.entityid };
}

/**
 * The fact a parked notice names, read from its entity with `read(address, after, upTo)` (the
 * entity's log over RPC, where no queue limit applies). Throws when the read fails or the log's
 * fact at that seq is not the one named (a notice is only trusted as far as its entity's log
 * confirms it); the consumer then retries the notice later.
 */
export async function resolveParkedFact(
  notice: ParkedFactNotice,
  read: (address: EntityAddress, after: number, upTo: number) => Promise<readonly RecordedEvent[]>,
): Promise<RecordedEvent> {
  const [event] = await read(noticeAddress(notice), notice.seq - 1, notice.seq);
  if (!event || event.seq !== notice.seq || event.meta.eventId !== notice.eventid)
    throw new Error(`entity log has no fact ${notice.seq} ${notice.eventid}`);
  return event;
}
