// The event envelope: an entity's fact as it is stored in its log and returned by the API.
import type { DomainEvent } from "./entity.js";

export interface EventMetadata {
  readonly eventId: string;
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
  /** Hybrid logical clock, encoded to sort as it compares. */
  readonly hlc: string;
  readonly recordedAt: string;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly idempotencyKey: string | null;
  /** W3C trace context of the command that recorded the event. */
  readonly traceparent: string | null;
}

export interface RecordedEvent extends DomainEvent {
  /** Position in the entity's log: 1, 2, 3… with no gaps. */
  readonly seq: number;
  readonly schemaVersion: number;
  readonly meta: EventMetadata;
}

/**
 * An event as a command's HTTP response states it: what the caller could not know before sending
 * it. The rest of its metadata (tenant, entity, correlation and causation ids, idempotency key,
 * trace context) echoes the request; the log and the facts carry all of it.
 */
export interface AcceptedEvent extends DomainEvent {
  readonly seq: number;
  readonly schemaVersion: number;
  readonly meta: Pick<EventMetadata, "eventId" | "hlc" | "recordedAt">;
}

export function acceptedEvent(e: RecordedEvent): AcceptedEvent {
  return {
    seq: e.seq,
    type: e.type,
    schemaVersion: e.schemaVersion,
    data: e.data,
    meta: { eventId: e.meta.eventId, hlc: e.meta.hlc, recordedAt: e.meta.recordedAt },
  };
}

export interface CommandResult {
  readonly type: string;
  readonly id: string;
  readonly version: number;
  readonly events: readonly RecordedEvent[];
}

export interface EntitySnapshotView {
  readonly type: string;
  readonly id: string;
  readonly version: number;
  readonly state: unknown;
}

export interface EventPage {
  readonly events: readonly RecordedEvent[];
  /** The `after` value of the following page, or null at the end of the log. */
  readonly next: number | null;
}
