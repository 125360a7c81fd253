// Facts on the wire are CloudEvents 1.0 (structured JSON mode), so consumers other than
// Factline's own can read them. Factline's extension attributes carry what projections need
// to order and deduplicate: tenant, entity, per-entity sequence, clock and trace context.
import { z } from "zod";
import type { RecordedEvent } from "../model/envelope.js";

export const cloudEventSchema = z.object({
  specversion: z.literal("1.0"),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  subject: z.string(),
  time: z.string(),
  datacontenttype: z.literal("application/json"),
  data: z.unknown(),
  tenant: z.string().min(1),
  entitytype: z.string().min(1),
  entityid: z.string().min(1),
  eventtype: z.string().min(1),
  seq: z.number().int().positive(),
  schemaversion: z.number().int().positive(),
  hlc: z.string(),
  correlationid: z.string(),
  causationid: z.string().nullable(),
  traceparent: z.string().optional(),
});

export type FactCloudEvent = z.infer<typeof cloudEventSchema>;

export function toCloudEvent(event: RecordedEvent): FactCloudEvent {
  const m = event.meta;
  return {
    specversion: "1.0",
    id: m.eventId,
    source: `/factline/${m.tenant}/${m.entityType}/${m.entityId}`,
    type: `factline.${m.entityType}.${event.type}`,
    subject: `${m.entityType}/${m.entityId}`,
    time: m.recordedAt,
    datacontenttype: "application/json",
    data: event.data,
    tenant: m.tenant,
    entitytype: m.entityType,
    entityid: m.entityId,
    eventtype: event.type,
    seq: event.seq,
    schemaversion: event.schemaVersion,
    hlc: m.hlc,
    correlationid: m.correlationId,
    causationid: m.causationId,
    ...(m.traceparent ? { traceparent: m.traceparent } : {}),
  };
}

export function fromCloudEvent(ce: FactCloudEvent): RecordedEvent {
  return {
    seq: ce.seq,
    type: ce.eventtype,
    schemaVersion: ce.schemaversion,
    data: ce.data,
    meta: {
      eventId: ce.id,
      tenant: ce.tenant,
      entityType: ce.entitytype,
      entityId: ce.entityid,
      hlc: ce.hlc,
      recordedAt: ce.time,
      correlationId: ce.correlationid,
      causationId: ce.causationid,
      idempotencyKey: null,
      traceparent: ce.traceparent ?? null,
    },
  };
}

/**
 * Cloudflare Queues' producer limits, in bytes as the queue counts them (UTF-8 of the JSON body
 * plus about 100 bytes of its own metadata per message; decimal kilobytes, as the errors state:
 * "message size of N bytes exceeds limit of 128000"). Source: developers.cloudflare.com/queues/
 * platform/limits and workerd#6834.
 */
export const QUEUE_LIMITS = {
  messageBytes: 128_000,
  batchBytes: 256_000,
  batchMessages: 100,
  perMessageOverheadBytes: 100,
} as const;

/**
 * The largest fact an entity may record, as its queue message counts (see `queueMessageBytes`):
 * below the queue's message limit with headroom, so that a fact recorded today can always be sent.
 * A command whose facts would pass it is refused at decide time (413 `fact-too-large`).
 */
export const MAX_FACT_MESSAGE_BYTES = 120_000;

/**
 * Length of `text` in UTF-8 bytes (what the queue, D1 and HTTP limits count, not UTF-16 units),
 * counted without encoding it: a lone surrogate counts 3, as `TextEncoder` writes it (U+FFFD).
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a surrogate pair: two units, four bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * Whether a message with this JSON body would cost more than `limit` bytes (see
 * `queueMessageBytes`). Cheap for the usual small fact: a UTF-16 code unit is at most 3 UTF-8
 * bytes, so a short text is decided by its length without being counted.
 */
export function exceedsQueueBytes(body: unknown, limit: number): { readonly exceeds: boolean; readonly bytes: number } {
  const json = JSON.stringify(body);
  const most = json.length * 3 + QUEUE_LIMITS.perMessageOverheadBytes;
  if (most <= limit) return { exceeds: false, bytes: most };
  const bytes = utf8Length(json) + QUEUE_LIMITS.perMessageOverheadBytes;
  return { exceeds: bytes > limit, bytes };
}

/** Bytes one message with this JSON body costs against the queue's limits, metadata included. */
export function queueMessageBytes(body: unknown): number {
  return utf8Length(JSON.stringify(body)) + QUEUE_LIMITS.perMessageOverheadBytes;
}

/**
 * A fact as the relay puts it on the facts queue: its CloudEvent and its size as a queue message
 * (`queueMessageBytes`). Built once, when the entity decides: the decide-time size check
 * (`MAX_FACT_MESSAGE_BYTES`) and the relay's batch packing share the one JSON encoding, and the
 * runtime's own serialization in `sendBatch` is the only other.
 */
export interface FactMessage {
  readonly body: FactCloudEvent;
  readonly bytes: number;
}

/** `event` as a queue message, measured with one JSON encoding (see `FactMessage`). */
export function factMessage(event: RecordedEvent): FactMessage {
  const body = toCloudEvent(event);
  return { body, bytes: queueMessageBytes(body) };
}

/**
 * Whether an error thrown by `send`/`sendBatch` is the queue refusing the size of what was sent
 * (a message over 128 KB or a batch over 256 KB): resending the same thing can never succeed. The
 * runtime throws untyped errors (workerd#6834), so this matches their wording.
 */
export function isQueueSizeRejection(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /exceeds limit of \d+|payload too large|too large/i.test(message);
}

/**
 * Sent on the facts queue in place of a fact too large for it (a "parked" fact): it names the
 * fact, and the consumer reads the fact itself from its entity over the entity's binding, where no
 * queue limit applies. Not a CloudEvent on purpose: nothing may mistake it for the fact.
 */
export const parkedFactNoticeSchema = z
  .object({
    kind: z.literal("factline.fact-parked"),
    tenant: z.string().min(1),
    entitytype: z.string().min(1),
    entityid: z.string().min(1),
    seq: z.number().int().positive(),
    eventid: z.string().min(1),
    eventtype: z.string().min(1),
    /** The fact's size as a queue message, in bytes. */
    bytes: z.number().int().nonnegative(),
    reason: z.string(),
    /** Epoch milliseconds at which the relay parked it. */
    parkedAt: z.number().int().nonnegative(),
  })
  .strict();

/** A parked fact's notice as it travels on the facts queue. */
export type ParkedFactNotice = z.infer<typeof parkedFactNoticeSchema>;

/** What the relay puts on the facts queue: a fact, or the notice standing in for a parked one. */
export type FactsQueueMessage = FactCloudEvent | ParkedFactNotice;

/** The notice for `event`, parked at `parkedAt` (epoch ms) because it is `bytes` as a queue message. */
export function parkedFactNotice(
  event: RecordedEvent,
  bytes: number,
  reason: string,
  parkedAt: number,
): ParkedFactNotice {
  return {
    kind: "factline.fact-parked",
    tenant: event.meta.tenant,
    entitytype: event.meta.entityType,
    entityid: event.meta.entityId,
    seq: event.seq,
    eventid: event.meta.eventId,
    eventtype: event.type,
    bytes,
    reason,
    parkedAt,
  };
}
