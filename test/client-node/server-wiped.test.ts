// factline/client against a server that holds no events of an entity the client confirmed events
// of: the server's state was wiped (a local instance started afresh) while the client's outbox kept
// its confirmed state. The server answers such an entity's read and its log pages 404 `not-found`
// and a live stream after a position above 0 400 `cursor-past-end` (tenant-api-double.ts follows
// it). The server is the authority: the client starts the entity again from its initial state at
// version 0, keeps the commands still waiting (sent, they begin the entity again), and follows it
// from the start. An entity the client never confirmed anything of is left as it is.
import { MemoryOutboxStore } from "factline/client";
import { afterEach, describe, expect, it } from "vitest";
import { inventory } from "../../src/domain/inventory.js";
import { clientOn, closeClients, KEY, settle, stateAfter, until } from "./client-kit.js";
import { tenantApi } from "./tenant-api-double.js";

afterEach(closeClients);

/** An outbox that confirmed version 5 of inventory/sku-1 (50 on hand), before the server was wiped. */
async function storeThatConfirmedFive(): Promise<MemoryOutboxStore> {
  const store = new MemoryOutboxStore();
  await store.saveConfirmed(KEY, { version: 5, state: stateAfter([10, 10, 10, 10, 10]) });
  return store;
}

/** Queues `command` for inventory/sku-1 in `store`, as a client that was closed before sending it. */
async function waiting(store: MemoryOutboxStore, command: string, body: unknown): Promise<void> {
  await store.add(
    { seq: 1, entityType: "inventory", entityId: "sku-1", command, body, madeAt: 1 },
    "session-0000000000000001",
    2,
  );
}

describe("a client whose server holds no events of an entity it confirmed", () => {
  it("starts the entity again from its initial state at version 0 on a refresh, stores it and tells subscribers", async () => {
    const store = await storeThatConfirmedFive();
    const client = clientOn(store, tenantApi([]).fetch);
    await client.ready();
    const sku = client.entity("inventory", "sku-1");
    const seen: number[] = [];
    client.subscribe(() => seen.push(sku.confirmed.version));

    await sku.refresh();
    expect(sku.confirmed).toEqual({ version: 0, state: inventory.initialState() });
    expect((await store.load()).confirmed[KEY]).toEqual({ version: 0, state: inventory.initialState() });
    expect(seen).toContain(0);
  });

  it("keeps the entity's waiting commands through the refresh that starts it again, and confirms them once sent", async () => {
    const store = await storeThatConfirmedFive();
    await waiting(store, "restock", { quantity: 7 });
    const net = tenantApi([]);
    net.control.commandsDown = true;
    const client = clientOn(store, net.fetch);
    await client.ready();
    const sku = client.entity("inventory", "sku-1");

    await sku.refresh();
    expect(sku.confirmed).toEqual({ version: 0, state: inventory.initialState() });
    expect(sku.pending.map((c) => c.command)).toEqual(["restock"]);
    expect(sku.state).toEqual(stateAfter([7]));

    net.control.commandsDown = false;
    client.sync();
    await client.drained();
    expect(sku.confirmed).toEqual({ version: 1, state: stateAfter([7]) });
  });

  it("confirms a waiting command that begins the entity again, though its answer is below the version confirmed", async () => {
    const store = await storeThatConfirmedFive();
    await waiting(store, "restock", { quantity: 7 });
    const client = clientOn(store, tenantApi([]).fetch);
    const sku = client.entity("inventory", "sku-1");

    await client.drained();
    await until(() => sku.confirmed.version === 1);
    expect(sku.confirmed).toEqual({ version: 1, state: stateAfter([7]) });
  });

  it("starts the entity again when a waiting command is rejected and the log it is rebased on has no events", async () => {
    const store = await storeThatConfirmedFive();
    // 50 on hand here; none on the wiped server, which refuses the reservation.
    await waiting(store, "reserve", { orderId: "o-1", quantity: 10 });
    const client = clientOn(store, tenantApi([]).fetch);
    const sku = client.entity("inventory", "sku-1");

    await client.drained();
    expect(client.rejections.map((r) => r.problem.code)).toEqual(["insufficient-stock"]);
    await until(() => sku.confirmed.version !== 5);
    expect(sku.confirmed).toEqual({ version: 0, state: inventory.initialState() });
  });

  it("does not start the entity again on a 404 that was asked before it confirmed the new log's first event", async () => {
    const store = await storeThatConfirmedFive();
    const net = tenantApi([]);
    let release = () => {};
    net.control.pagesHeld = new Promise<void>((resolve) => {
      release = resolve;
    });
    const client = clientOn(store, net.fetch);
    await client.ready();
    const sku = client.entity("inventory", "sku-1");
    // The refresh's look at the log after 5 is answered 404 and held; the follow meanwhile starts
    // the entity again from its stream and confirms a restock that begins it anew.
    const refreshed = sku.refresh();
    sku.follow();
    await sku.command("restock", { quantity: 7 });
    await until(() => sku.confirmed.version === 1);
    const seen: number[] = [];
    client.subscribe(() => seen.push(sku.confirmed.version));

    release();
    await refreshed;
    await settle();
    expect(seen).not.toContain(0);
    expect(sku.confirmed).toEqual({ version: 1, state: stateAfter([7]) });
  });

  it("follows the entity from the start of its log, holding one stream open while it has no events", async () => {
    const store = await storeThatConfirmedFive();
    const net = tenantApi([]);
    const client = clientOn(store, net.fetch);
    const sku = client.entity("inventory", "sku-1");

    sku.follow();
    await until(() => sku.confirmed.version === 0);
    await settle();
    expect(sku.confirmed).toEqual({ version: 0, state: inventory.initialState() });
    expect(net.streams()).toEqual([
      "/v1/entities/inventory/sku-1/events?after=5",
      "/v1/entities/inventory/sku-1/events?after=0",
    ]);

    await sku.command("restock", { quantity: 7 });
    await until(() => sku.confirmed.version === 1);
    expect(sku.confirmed).toEqual({ version: 1, state: stateAfter([7]) });
  });
});

describe("a client whose server holds no events of an entity it never confirmed", () => {
  it("leaves the entity at version 0 on a refresh, reading nothing after the 404", async () => {
    const net = tenantApi([]);
    const client = clientOn(new MemoryOutboxStore(), net.fetch);
    await client.ready();
    const sku = client.entity("inventory", "sku-1");

    await sku.refresh();
    expect(sku.confirmed).toEqual({ version: 0, state: inventory.initialState() });
    expect(net.requests).toEqual(["GET /v1/entities/inventory/sku-1"]);
  });

  it("follows the entity with one stream open, not asking again while it has no events", async () => {
    const net = tenantApi([]);
    const client = clientOn(new MemoryOutboxStore(), net.fetch);
    const sku = client.entity("inventory", "sku-1");

    sku.follow();
    await settle();
    await settle();
    expect(net.streams()).toEqual(["/v1/entities/inventory/sku-1/events?after=0"]);
  });
});
