// The example app's entity: a to-do list. `add` an item, `complete` it, `close` the list once
// every item is done. Plain TypeScript on Factline's definition API; no Cloudflare imports.
import { z } from "zod";
import { defineEntity, entityIdSchema, type EventsOf, event, reject } from "../../src/app-api.js";

/** At most this many items per list (the state is one JSON value in the entity's memory). */
const MAX_ITEMS = 100;

export interface TodoItem {
  readonly itemId: string;
  readonly title: string;
  readonly done: boolean;
}

export interface TodoListState {
  /** Items in the order added. An array, not a record keyed by the client's ids: no prototype keys. */
  readonly items: readonly TodoItem[];
  readonly closed: boolean;
}

export const todoLists = defineEntity({
  type: "todo-lists",
  initialState: { items: [], closed: false } as TodoListState,
  commands: {
    add: z.object({ itemId: entityIdSchema, title: z.string().trim().min(1).max(200) }).strict(),
    complete: z.object({ itemId: entityIdSchema }).strict(),
    close: z.object({}).strict(),
  },
  events: {
    ItemAdded: event<{ itemId: string; title: string }>(),
    ItemCompleted: event<{ itemId: string }>(),
    ListClosed: event<{ items: number }>(),
  },
  decide(state, command) {
    if (state.closed) return reject("list-closed", "the list is closed");
    switch (command.type) {
      case "add": {
        const existing = state.items.find((i) => i.itemId === command.data.itemId);
        if (existing)
          return existing.title === command.data.title
            ? []
            : reject("duplicate-item", `item ${command.data.itemId} exists`);
        if (state.items.length >= MAX_ITEMS) return reject("list-full", `a list holds at most ${MAX_ITEMS} items`);
        return [{ type: "ItemAdded", data: command.data }];
      }
      case "complete": {
        const item = state.items.find((i) => i.itemId === command.data.itemId);
        if (!item) return reject("unknown-item", `no item ${command.data.itemId}`);
        return item.done ? [] : [{ type: "ItemCompleted", data: command.data }];
      }
      case "close":
        if (state.items.some((i) => !i.done)) return reject("items-open", "complete every item first");
        return [{ type: "ListClosed", data: { items: state.items.length } }];
    }
  },
  evolve(state, event): TodoListState {
    switch (event.type) {
      case "ItemAdded":
        return {
          ...state,
          items: [...state.items, { itemId: event.data.itemId, title: event.data.title, done: false }],
        };
      case "ItemCompleted":
        return { ...state, items: state.items.map((i) => (i.itemId === event.data.itemId ? { ...i, done: true } : i)) };
      case "ListClosed":
        return { ...state, closed: true };
    }
  },
});

export type TodoEvent = EventsOf<typeof todoLists.definition.events>;
