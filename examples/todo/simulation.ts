// The example app (examples/todo) in the simulator: to-do lists with adversarial list and item
// ids, their view, and the notify-on-close saga calling a notifier modelled as an outside service
// that may fail before or after acting. Its invariants: every closed list is notified exactly
// once, and a list never closes with an open item.
import { implementContract, type SagaDefinition } from "../../src/app-api.js";
import { notifierContract } from "./notifier-contract.js";
import { notifyOnClose } from "./notify-on-close.js";
import { todoLists, type TodoListState } from "./todo-list.js";
import { todoListsProjection } from "./todo-lists-view.js";
import type { Operation, SimApp, Workload } from "../../src/simulation/app.js";
import type { Prng } from "../../src/simulation/prng.js";
import type { World } from "../../src/simulation/world.js";
import { KEY_IDS } from "../../src/simulation/admission.js";

const LIST_IDS = ["l1", "l2", "l3", "__proto__", "constructor", "toString"] as const;
const ITEM_IDS = ["i1", "i2", "valueOf", "hasOwnProperty", "__proto__"] as const;

function workload(tenants: readonly string[]): Workload {
  return {
    next(prng: Prng): Operation {
      const tenant = prng.pick(tenants);
      const list = `${prng.pick(LIST_IDS)}${prng.chance(0.5) ? "" : `-${prng.int(50)}`}`;
      const r = prng.next();
      const key = prng.pick(KEY_IDS);
      const base = { kind: "command" as const, tenant, key, entityType: "todo-lists", entityId: list };
      if (r < 0.45)
        return {
          ...base,
          command: "add",
          data: { itemId: prng.pick(ITEM_IDS), title: prng.chance(0.9) ? "do it" : "other" },
        };
      if (r < 0.8) return { ...base, command: "complete", data: { itemId: prng.pick(ITEM_IDS) } };
      if (r < 0.95)
        return {
          ...base,
          command: "close",
          data: {},
          ...(prng.chance(0.3) ? { idempotencyKey: `close-${list}`, repeats: 1 } : {}),
        };
      if (r < 0.96) return { kind: "rebuild", tenant, projection: "todo-lists" };
      if (r < 0.97) return { kind: "subscribe", tenant, key, entityType: "todo-lists", entityId: list, after: 0 };
      if (r < 0.972) return { kind: "suspend", tenant, suspended: true };
      if (r < 0.978) return { kind: "suspend", tenant, suspended: false };
      return { kind: "wait", ms: prng.int(20) };
    },
  };
}

/** The example app for the simulator. */
export function todoApp(): SimApp {
  /** Notifications sent, per idempotency key (the notifier stores one row per key). */
  const sent = new Map<string, string>();
  return {
    name: "todo",
    entities: [todoLists],
    sagas: [notifyOnClose as SagaDefinition<unknown>],
    projections: [{ name: todoListsProjection.name, follows: todoListsProjection.follows }],
    services: {
      notifier: implementContract(notifierContract, {
        // One guarded attempt through the notifier's breaker (as a real notifier would wrap its
        // e-mail or chat API in `guardedCall`); refused while the breaker is open, the saga defers.
        async send({ listId }, { tenant, idempotencyKey, world }) {
          const answer = await world.breakers.guarded("notifier", async () => {
            await world.clock.sleep(5);
            if (world.breakers.down("notifier") || world.faults.strike("outboundFailBefore"))
              throw new Error("notifier unavailable");
            if (!sent.has(idempotencyKey)) sent.set(idempotencyKey, `${tenant}|${listId}`);
            if (world.faults.strike("outboundTimeoutAfter")) throw new Error("notifier timed out");
          });
          if (answer.ok) return { kind: "done", result: { sent: true } };
          return answer.kind === "open"
            ? { kind: "deferred", reason: "the notifier's circuit is open", retryAfterMs: answer.retryAfterMs }
            : { kind: "failed", error: answer.error };
        },
      }),
    },
    workload,
    checkState(entityType, state) {
      const s = state as TodoListState;
      if (entityType === "todo-lists" && s.closed && s.items.some((i) => !i.done)) return "closed with an open item";
      return null;
    },
    checkQuiet(world: World) {
      const anomalies: string[] = [];
      const notified = new Map<string, number>();
      for (const target of sent.values()) notified.set(target, (notified.get(target) ?? 0) + 1);
      for (const e of world.logsOf("todo-lists")) {
        const closed = (e.image.state as TodoListState).closed;
        const n = notified.get(`${e.address.tenant}|${e.address.entityId}`) ?? 0;
        if (closed && n !== 1)
          anomalies.push(`list ${e.address.tenant}/${e.address.entityId} is closed and was notified ${n} times`);
        if (!closed && n !== 0)
          anomalies.push(`list ${e.address.tenant}/${e.address.entityId} is open and was notified`);
      }
      return anomalies;
    },
  };
}
