// Typed facts for the kits: a recorded event of a given entity, its type and data checked against
// the entity's `events`, with the metadata the runtime would have given it.
import type { AnyEntity, EventDataOf, EventNameOf } from "../core/model/entity.js";
import type { FactOf } from "../core/model/saga.js";

let counter = 0;
const seqs = new Map<string, number>();

/** Where a built fact sits: its tenant (default "tenant-kit") and position in its entity's log (default: next). */
export interface FactOptions {
  readonly tenant?: string;
  readonly seq?: number;
}

/**
 * A fact of `entity` (`entityId`'s next event unless `seq` is given) of event type `type` with
 * `data`; ids, clocks and timestamps are fresh and increasing, so facts built in order sort in order.
 */
export function fact<X extends AnyEntity, K extends EventNameOf<X>>(
  entity: X,
  entityId: string,
  type: K,
  data: EventDataOf<X, K>,
  options: FactOptions = {},
): FactOf<X, K> {
  counter += 1;
  const tenant = options.tenant ?? "tenant-kit";
  const log = `${tenant}/${entity.type}/${entityId}`;
  const seq = options.seq ?? (seqs.get(log) ?? 0) + 1;
  seqs.set(log, Math.max(seq, seqs.get(log) ?? 0));
  const at = new Date(Date.UTC(2026, 0, 1) + counter * 1000).toISOString();
  return {
    type,
    data,
    seq,
    schemaVersion: entity.eventVersion(type),
    meta: {
      eventId: `kit-event-${counter}`,
      tenant,
      entityType: entity.type,
      entityId,
      hlc: String(counter).padStart(16, "0"),
      recordedAt: at,
      correlationId: `kit-correlation-${counter}`,
      causationId: null,
      idempotencyKey: null,
      traceparent: null,
    },
  };
}
