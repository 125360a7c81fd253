// Acknowledgements from the consumer to an entity: one that arrives before the entity has sent
// the facts still counts and takes them out of its outbox, so nothing is sent spuriously.
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
  pending_from: number;
  sent_up_to: number;
  acked_up_to: number;
  redeliver_at: number | null;
}

function relayOf(tenant: string, sku: string): Promise<RelayCursors> {
  const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, "inventory", sku)));
  return runInDurableObject(stub, (_actor, state) =>
    state.storage.sql
      .exec<{ pending_from: number; sent_up_to: number; acked_up_to: number; redeliver_at: number | null }>(
        "SELECT pending_from, sent_up_to, acked_up_to, redeliver_at FROM relay_state",
      )
      .one(),
  );
}

describe("acknowledgements", () => {
  it("keeps an acknowledgement that arrives before the entity sent the facts, which then leave its outbox unsent", async () => {
    const tenant = await newTenant("ack");
    const api = tenantClient(tenant.apiKey);
    const held = holdRelay(tenant.id);
    disarm.push(held);
    await api.command("inventory", "a", "restock", { quantity: 1 });
    await api.command("inventory", "a", "restock", { quantity: 2 });
    // The API's Worker, which sends the facts its commands record, reports its failed sends back.
    await eventually(async () => ((await relayOf(tenant.id, "a")).pending_from === 1 ? true : undefined));
    // The facts reach the consumer (here: by hand) while the entity has sent nothing yet.
    await deliver(await logOf(tenant.apiKey, "inventory", "a"));
    expect(await relayOf(tenant.id, "a")).toEqual({
      pending_from: 3,
      sent_up_to: 0,
      acked_up_to: 2,
      redeliver_at: null,
    });

    // Sends work again: the entity's alarm finds nothing left to send and sets no re-send deadline.
    const sent: unknown[] = [];
    disarm.push(
      armTransform("relay.batch", (batch, ctx) => {
        if (ctx.tenant === tenant.id) sent.push(...batch);
        return batch;
      }),
    );
    held();
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant.id, "inventory", "a")));
    await runDurableObjectAlarm(stub);
    expect(sent).toEqual([]);
    expect(await relayOf(tenant.id, "a")).toMatchObject({ acked_up_to: 2, redeliver_at: null });
  });
});
