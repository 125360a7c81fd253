// Baseline (c): the consumer a team would write first. One D1 statement per fact, awaited one
// after another, no batching and no checkpoints (the row's version guards against replays).
// It keeps the same `inventory_view` rows as the real projection, under its own tenant ids, in
// generation 0 (the generation a tenant's rows have until its first rebuild).
import { cloudEventSchema } from "../../src/core/protocol/cloud-event.js";

const UPSERT = `
  INSERT INTO inventory_view (tenant_id, generation, sku, on_hand, reserved, available, shipped, version, updated_at)
  VALUES (?, 0, ?, ?, 0, ?, 0, ?, ?)
  ON CONFLICT (tenant_id, generation, sku) DO UPDATE SET
    on_hand = on_hand + excluded.on_hand, available = available + excluded.available,
    version = excluded.version, updated_at = excluded.updated_at
  WHERE excluded.version > inventory_view.version`;

// Facts applied per tenant in this isolate. The harness polls this instead of D1: local D1 runs one
// query at a time, and a poll queued behind the naive consumer's statements can wait minutes.
const appliedByTenant = new Map<string, number>();

export function naivelyApplied(tenant: string): number {
  return appliedByTenant.get(tenant) ?? 0;
}

export async function consumeNaively(batch: MessageBatch<unknown>, db: D1Database): Promise<void> {
  for (const message of batch.messages) {
    const parsed = cloudEventSchema.safeParse(message.body);
    if (!parsed.success || parsed.data.eventtype !== "Restocked") {
      message.ack();
      continue;
    }
    const fact = parsed.data;
    const quantity = (fact.data as { quantity: number }).quantity;
    await db.prepare(UPSERT).bind(fact.tenant, fact.entityid, quantity, quantity, fact.seq, fact.time).run();
    message.ack();
    appliedByTenant.set(fact.tenant, (appliedByTenant.get(fact.tenant) ?? 0) + 1);
  }
}
