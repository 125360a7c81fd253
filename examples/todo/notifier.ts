// The example app's outside service, plugged in through `defineApp({ services: { notifier } })`.
// A real app would call an e-mail or chat API here (through `guardedCall`); the example records
// the message in D1, once per idempotency key, so a retried or repeated call sends nothing twice.
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import type { Service } from "../../factline.js";
import { todoNotifications } from "./schema.js";

const sendRequest = z.object({ listId: z.string(), message: z.string() });

/** `send {listId, message}` → done. Any other operation, or a malformed request, is rejected. */
export const notifier: Service = {
  async call(operation, data, { env, tenant, idempotencyKey }) {
    if (operation !== "send") return { kind: "rejected", reason: `the notifier has no operation ${operation}` };
    const request = sendRequest.safeParse(data);
    if (!request.success) return { kind: "rejected", reason: `invalid notification: ${request.error.message}` };
    await drizzle(env.DB)
      .insert(todoNotifications)
      .values({ idempotencyKey, tenantId: tenant, listId: request.data.listId, message: request.data.message })
      .onConflictDoNothing();
    return { kind: "done", result: { sent: true } };
  },
};
