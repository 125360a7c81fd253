// Acknowledgements from the consumer to an entity: one that arrives before the entity has
// recorded the send that carried the facts still counts, so nothing is re-sent spuriously.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { armTransform } from "../src/core/resilience/fault-injection.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { eventually, newTenant, tenantClient } from "./support/api.js";
import { deliver, holdRelay, logOf } from "./support/facts.js";

const disarm: (() => void)[] = [];
afterEach(() => {
  while (disarm.length) disarm.pop()?.();
});

interface RelayCursors {
  sent_up_to: number;
  acked_up_to: number;
  redeliver_at: number | null;
}

function relayOf(tenant: string, sku: string): Promise<RelayCursors> {
  const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, "inventory", sku)));
  return runInDurableObject(stub, (_actor, state) =>
    state.storage.sql
      .exec<{ sent_up_to: number; acked_up_to: number; redeliver_at: number | null }>(
        "SELECT sent_up_to, acked_up_to, redeliver_at FROM relay_state",
      )
      .one(),
  );
}

describe("acknowledgements", () => {
  it("keeps an acknowledgement that arrives before the entity recorded the send, and sets no re-send deadline for it", async () => {
    const tenant = await newTenant("ack");
    const api = tenantClient(tenant.apiKey);
    const held = holdRelay(tenant.id);
    disarm.push(held);
    await api.command("inventory", "a", "restock", { quantity: 1 });
    await api.command("inventory", "a", "restock", { quantity: 2 });
    // The facts reach the consumer (here: by hand) while the entity has recorded no send yet.
    await deliver(await logOf(tenant.apiKey, "inventory", "a"));
    expect(await relayOf(tenant.id, "a")).toMatchObject({ sent_up_to: 0, acked_up_to: 2 });

    // Now the entity's own send goes out (into a queue that drops it: no later acknowledgement).
    disarm.push(armTransform("relay.batch", (batch, ctx) => (ctx.tenant === tenant.id ? [] : batch)));
    held();
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "a")));
    await runDurableObjectAlarm(stub);
    const after = await eventually(async () => {
      const cursors = await relayOf(tenant.id, "a");
      return cursors.sent_up_to === 2 ? cursors : undefined;
    });
    expect(after).toMatchObject({ acked_up_to: 2, redeliver_at: null });
  });
});
