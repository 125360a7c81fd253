// factline/client checks an entity id against the platform's grammar (ENTITY_ID in
// src/core/protocol/names.ts, the one the routes parse) before it makes a handle: an id no URL can
// address is refused at once, never queued to be shown as accepted and then refused by the server.
import { MemoryOutboxStore } from "factline/client";
import { afterEach, describe, expect, it } from "vitest";
import { clientOn, closeClients, settle } from "./client-kit.js";
import { tenantApi } from "./tenant-api-double.js";

afterEach(closeClients);

describe("an entity id outside the grammar", () => {
  it.each([
    ["..", "a URL dot segment"],
    [".", "a URL dot segment"],
    ["", "empty"],
    ["a b", "a space"],
    ["x".repeat(129), "longer than 128"],
    ["é-sku", "not ASCII"],
    ["a/b", "a '/'"],
  ])("is refused at once: %j (%s), nothing queued or sent", async (id) => {
    const net = tenantApi([]);
    const client = clientOn(new MemoryOutboxStore(), net.fetch);
    await client.ready();

    expect(() => client.entity("inventory", id)).toThrow(RangeError);
    expect(() => client.entity("inventory", id)).toThrow(/1-128 of A-Z a-z 0-9/);
    await settle();
    expect(client.status.queueLength).toBe(0);
    expect(net.requests).toEqual([]);
  });
});

describe("an entity id inside the grammar", () => {
  it.each([["sku-1"], ["a.b"], ["..."], ["~_-.9"], ["x".repeat(128)]])("makes a handle: %j", async (id) => {
    const client = clientOn(new MemoryOutboxStore(), tenantApi([]).fetch);
    expect(client.entity("inventory", id).id).toBe(id);
  });
});
