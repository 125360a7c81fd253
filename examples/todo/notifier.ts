// The example app's outside service, plugged in through `defineApp({ services: { notifier } })`.
// A real app would call an e-mail or chat API here (through `guardedCall`); the example records
// the message in D1, once per idempotency key, so a retried or repeated call sends nothing twice.
import { drizzle } from "drizzle-orm/d1";
import { implementService } from "../../factline.js";
import { notifierContract } from "./notifier-contract.js";
import { todoNotifications } from "./schema.js";

/**
 * `send {listId, message}` → done. Any other operation, or a request the contract's schema
 * refuses, is rejected before the handler runs (implementService).
 */
export const notifier = implementService(notifierContract, {
  async send({ listId, message }, { env, tenant, idempotencyKey }) {
    await drizzle(env.DB)
      .insert(todoNotifications)
      .values({ idempotencyKey, tenantId: tenant, listId, message })
      .onConflictDoNothing();
    return { kind: "done", result: { sent: true } };
  },
});
