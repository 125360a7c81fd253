// Which saga instances a consumer batch is handed to (src/core/saga/saga-delivery.ts), as the
// queue consumer's adapter and the simulator both compute it.
import { describe, expect, it } from "vitest";
import { notifyOnClose } from "../../examples/todo/notify-on-close.js";
import { todoLists } from "../../examples/todo/todo-list.js";
import { defineUntypedSaga, type SagaDefinition } from "../../src/core/model/saga.js";
import { concernsSagas, sagaDeliveries } from "../../src/core/saga/saga-delivery.js";
import { fact } from "../../src/testing/facts.js";

const sagas = [notifyOnClose as SagaDefinition<unknown>];

describe("saga delivery", () => {
  it("hands a fact to the instance it concerns, named by tenant, saga and instance key", () => {
    const closed = fact(todoLists, "groceries", "ListClosed", { items: 2 }, { tenant: "t1", seq: 3 });
    expect(sagaDeliveries(sagas, [closed])).toEqual([
      {
        id: "t1:notify-on-close:groceries",
        tenant: "t1",
        saga: notifyOnClose,
        instanceKey: "groceries",
        facts: [closed],
      },
    ]);
  });

  it("leaves out facts no saga follows", () => {
    const added = fact(todoLists, "groceries", "ItemAdded", { itemId: "i1", title: "milk" });
    expect(concernsSagas(sagas, [added])).toBe(false);
    expect(sagaDeliveries(sagas, [added])).toEqual([]);
  });

  it("makes one delivery per instance and tenant, its facts oldest first", () => {
    const later = fact(todoLists, "a", "ListClosed", { items: 1 }, { tenant: "t1", seq: 9 });
    const earlier = fact(todoLists, "a", "ListClosed", { items: 1 }, { tenant: "t1", seq: 4 });
    const otherTenant = fact(todoLists, "a", "ListClosed", { items: 1 }, { tenant: "t2", seq: 1 });
    const deliveries = sagaDeliveries(sagas, [later, otherTenant, earlier]);
    expect(deliveries.map((d) => [d.id, d.facts.map((f) => f.seq)])).toEqual([
      ["t1:notify-on-close:a", [4, 9]],
      ["t2:notify-on-close:a", [1]],
    ]);
  });

  it("refuses an instance key outside an entity id's grammar, naming the saga and the fact", () => {
    // Instance "a/b" would run a task "undo" under the key of instance "a" compensating its task "b".
    const slashed = defineUntypedSaga({ ...notifyOnClose, instanceOf: () => "a/b" });
    const closed = fact(todoLists, "a", "ListClosed", { items: 1 }, { tenant: "t1", seq: 3 });
    expect(() => sagaDeliveries([slashed], [closed])).toThrow(
      `saga notify-on-close names instance "a/b" for fact ${closed.meta.eventId}: an instance key is 1-128 of A-Z a-z 0-9 . _ ~ -`,
    );
  });
});
