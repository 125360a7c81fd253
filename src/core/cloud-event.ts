// Facts on the wire are CloudEvents 1.0 (structured JSON mode), so consumers other than
// Factline's own can read them. Factline's extension attributes carry what projections need
// to order and deduplicate: tenant, entity, per-entity sequence, clock and trace context.
import { z } from "zod";
import type { RecordedEvent } from "./envelope.js";

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
