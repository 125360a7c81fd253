// What the client's node tests share: a client for inventory/sku-1 over a fetch double, closed
// after each test, and waits that let the event loop turn instead of sleeping for a set time.
import { type ClientOptions, createClient, type OutboxStore } from "factline/client";
import { inventory } from "../../src/domain/inventory.js";

export const BASE = "http://factline.test";
export const KEY = "inventory/sku-1";

const clients: { close(): void }[] = [];

/**
 * A client of the inventory definition over `store` and `fetch`, with short retries and any other
 * `options` (a bound a test drives, such as `liveSilenceMs`); closed by `closeClients`.
 */
export function clientOn(
  store: OutboxStore,
  fetch: typeof globalThis.fetch,
  options: Partial<Pick<ClientOptions<[typeof inventory]>, "commandTimeoutMs" | "liveSilenceMs">> = {},
) {
  const client = createClient({
    baseUrl: BASE,
    apiKey: "fl_x",
    entities: [inventory],
    outbox: store,
    fetch,
    retry: { baseMs: 5, maxMs: 20 },
    ...options,
  });
  clients.push(client);
  return client;
}

/** Closes every client `clientOn` made (give it to `afterEach`). */
export function closeClients(): void {
  for (const client of clients.splice(0)) client.close();
}

/**
 * Lets every request, stream read and timer already due run (a few turns of the event loop): time
 * for a client that should not act to have acted, had it been going to.
 */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Turns the event loop until `check` holds, at most about a second. */
export async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** The inventory state after restocks of `quantities`. */
export function stateAfter(quantities: readonly number[]): unknown {
  let state = inventory.initialState();
  for (const quantity of quantities) state = inventory.evolve(state, { type: "Restocked", data: { quantity } });
  return state;
}
