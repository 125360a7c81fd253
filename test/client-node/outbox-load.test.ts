// factline/client while its outbox is still loading. The load is asynchronous (IndexedDB, a
// file), and an application may follow or refresh an entity, or dismiss a rejection, before it
// has answered. The load must not move anything under what has already begun: a live stream opens
// after the confirmed version the load seeds, a server's answer is never replaced by an older
// stored state, and a dismissed rejection stays dismissed. The store here holds its load open
// until the test releases it, so each race is driven in a fixed order, not by timing.
import { MemoryOutboxStore, type OutboxContents, type OutboxStore } from "factline/client";
import { afterEach, describe, expect, it } from "vitest";
import { clientOn, closeClients, KEY, settle, stateAfter, until } from "./client-kit.js";
import { tenantApi } from "./tenant-api-double.js";

/** A store whose load reads its contents when asked (as IndexedDB and the file do) and answers only on `release()`. */
function heldStore(inner: MemoryOutboxStore): { readonly store: OutboxStore; readonly release: () => void } {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const store: OutboxStore = {
    load: async (): Promise<OutboxContents> => {
      const contents = await inner.load();
      await held;
      return contents;
    },
    claim: (owner) => inner.claim(owner),
    add: (command, session, nextSeq) => inner.add(command, session, nextSeq),
    remove: (seq, rejection) => inner.remove(seq, rejection),
    dismiss: (seq) => inner.dismiss(seq),
    saveConfirmed: (key, confirmed) => inner.saveConfirmed(key, confirmed),
  };
  return { store, release };
}

afterEach(closeClients);

describe("a client whose outbox is still loading", () => {
  it("opens a follow's stream after the stored confirmed version, once the outbox has loaded", async () => {
    const inner = new MemoryOutboxStore();
    await inner.saveConfirmed(KEY, { version: 2, state: stateAfter([1, 2]) });
    const { store, release } = heldStore(inner);
    const net = tenantApi([1, 2, 3]);
    const client = clientOn(store, net.fetch);

    const sku = client.entity("inventory", "sku-1");
    sku.follow();
    await settle();
    expect(net.streams()).toEqual([]);

    release();
    await until(() => sku.confirmed.version === 3);
    expect(net.streams()).toEqual(["/v1/entities/inventory/sku-1/events?after=2"]);
    expect(sku.confirmed).toEqual({ version: 3, state: stateAfter([1, 2, 3]) });
  });

  it("ends a follow begun before the load on the server's events, not on a stale higher stored version", async () => {
    // The client stored version 5 of a server whose state was since reset; the server now holds 2 events.
    const inner = new MemoryOutboxStore();
    await inner.saveConfirmed(KEY, { version: 5, state: stateAfter([10, 10, 10, 10, 10]) });
    const { store, release } = heldStore(inner);
    const net = tenantApi([1, 2]);
    const client = clientOn(store, net.fetch);

    const sku = client.entity("inventory", "sku-1");
    sku.follow();
    await settle();
    release();
    await client.ready();
    await until(() => sku.confirmed.version === 2);
    await settle();
    expect(sku.confirmed).toEqual({ version: 2, state: stateAfter([1, 2]) });
  });

  it("ends a refresh begun before the load on the server's answer, not on a stale higher stored version", async () => {
    const inner = new MemoryOutboxStore();
    await inner.saveConfirmed(KEY, { version: 5, state: stateAfter([10, 10, 10, 10, 10]) });
    const { store, release } = heldStore(inner);
    const net = tenantApi([1, 2]);
    const client = clientOn(store, net.fetch);

    const sku = client.entity("inventory", "sku-1");
    const refreshed = sku.refresh();
    await settle();
    release();
    await refreshed;
    await settle();
    expect(sku.confirmed).toEqual({ version: 2, state: stateAfter([1, 2]) });
  });

  it("starts an entity again from the server's log when a refresh reads a version below the one it confirmed", async () => {
    const inner = new MemoryOutboxStore();
    await inner.saveConfirmed(KEY, { version: 5, state: stateAfter([10, 10, 10, 10, 10]) });
    const net = tenantApi([1, 2]);
    const client = clientOn(inner, net.fetch);
    await client.ready();

    const sku = client.entity("inventory", "sku-1");
    expect(sku.confirmed.version).toBe(5);
    await sku.refresh();
    expect(sku.confirmed).toEqual({ version: 2, state: stateAfter([1, 2]) });
  });

  it("keeps a rejection dismissed before the outbox loaded out of the loaded rejections", async () => {
    const inner = new MemoryOutboxStore();
    await inner.add(
      { seq: 1, entityType: "inventory", entityId: "sku-1", command: "ship", body: { orderId: "o-1" }, madeAt: 1 },
      "session-0000000000000001",
      2,
    );
    await inner.remove(1, {
      seq: 1,
      entityType: "inventory",
      entityId: "sku-1",
      command: "ship",
      body: { orderId: "o-1" },
      problem: { type: "https://factline.dev/problems/rejected", title: "Rejected", status: 422, detail: "" },
      rejectedAt: 1,
    });
    const { store, release } = heldStore(inner);
    const client = clientOn(store, tenantApi([]).fetch);

    client.dismiss(1);
    release();
    await client.ready();
    expect(client.rejections).toEqual([]);
    expect((await inner.load()).rejections).toEqual([]);
  });
});
