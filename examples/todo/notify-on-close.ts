// The example app's saga: when a list is closed, tell its owner, through the app's `notifier`
// service (a saga's `call` task names a service and an operation; the platform looks the service
// up in the app's `services`, runs it under a stable idempotency key and retries it with backoff).
import { z } from "zod";
import { defineSaga } from "../../src/core/saga.js";

export interface NotifyContext {
  readonly listId: string;
  readonly items: number;
}

const closed = z.object({ items: z.number() });

export const notifyOnClose = defineSaga<NotifyContext>({
  name: "notify-on-close",
  startedBy: { entityType: "todo-lists", eventType: "ListClosed" },
  // One instance per list; only the closing fact concerns it.
  instanceOf: (fact) => (fact.meta.entityType === "todo-lists" && fact.type === "ListClosed" ? fact.meta.entityId : null),
  start: (fact) => ({ listId: fact.meta.entityId, items: closed.parse(fact.data).items }),
  stages: [
    {
      name: "notify",
      timeoutMs: 60_000,
      tasks: (c) => [
        { key: "notify", run: { kind: "call", service: "notifier", operation: "send", data: { listId: c.listId, message: `list ${c.listId} is done (${c.items} items)` } } },
      ],
    },
  ],
  finallyCompensate: () => [],
});
