// The example app's saga: when a list is closed, tell its owner, through the app's `notifier`
// service (a saga's `call` task names a service and an operation, built by `serviceCall` so that
// both are checked against the service's contract; the platform looks the service up in the app's
// `services`, runs it under a stable idempotency key and retries it with backoff).
import { defineSaga, serviceCall } from "../../src/app-api.js";
import { notifierContract } from "./notifier-contract.js";
import { todoLists } from "./todo-list.js";

export interface NotifyContext {
  readonly listId: string;
  readonly items: number;
}

export const notifyOnClose = defineSaga(todoLists)({
  name: "notify-on-close",
  startedBy: { entityType: "todo-lists", eventType: "ListClosed" },
  // The services its calls name; defineApp checks the app provides each.
  services: [notifierContract.name],
  // One instance per list; only the closing fact concerns it.
  instanceOf: (fact) => (fact.type === "ListClosed" ? fact.meta.entityId : null),
  start: (fact): NotifyContext => ({ listId: fact.meta.entityId, items: fact.data.items }),
  stages: [
    {
      name: "notify",
      // Nothing undoes a closed list and its owner must hear of it: the notification is the
      // point of no return, so a call that keeps failing (a notifier outage outlasting the
      // attempts) escalates to an operator ("attention") instead of giving up silently.
      pivot: true,
      timeoutMs: 60_000,
      tasks: (c) => [
        {
          key: "notify",
          run: serviceCall(notifierContract, "send", {
            listId: c.listId,
            message: `list ${c.listId} is done (${c.items} items)`,
          }),
        },
      ],
    },
  ],
  finallyCompensate: () => [],
});
