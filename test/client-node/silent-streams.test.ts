// factline/client's live streams over a connection gone half-open: the socket stays open and
// nothing arrives, neither events nor the server's heartbeats, and no error either. The client
// takes a stream silent for `liveSilenceMs` for a dead one and reconnects it after the last event
// applied, as after any disconnect (README "Build an offline-first app", Live).
// tenant-api-double.ts stands in for the server; its `streamsSilent` stops what open streams get.
import { LIVE_SILENCE_MS, MemoryOutboxStore } from "factline/client";
import { afterEach, describe, expect, it } from "vitest";
import { HEARTBEAT_MS } from "../../src/core/live/live-feed-host.js";
import { BASE, clientOn, closeClients, stateAfter, until } from "./client-kit.js";
import { tenantApi } from "./tenant-api-double.js";

afterEach(closeClients);

describe("a followed entity whose stream goes silent", () => {
  it("is reconnected after the last event applied, and catches up on what the silence hid", async () => {
    const net = tenantApi([3]);
    const client = clientOn(new MemoryOutboxStore(), net.fetch, { liveSilenceMs: 100 });
    const sku = client.entity("inventory", "sku-1");
    sku.follow();
    await until(() => sku.confirmed.version === 1);
    expect(sku.confirmed.version).toBe(1);

    net.control.streamsSilent = true;
    // Someone else restocks: recorded, but the open stream never says so.
    await net.fetch(`${BASE}/v1/entities/inventory/sku-1/commands/restock`, {
      method: "POST",
      body: JSON.stringify({ quantity: 4 }),
    });

    await until(() => sku.confirmed.version === 2);
    expect(sku.confirmed).toEqual({ version: 2, state: stateAfter([3, 4]) });
    expect(net.streams()).toContain("/v1/entities/inventory/sku-1/events?after=1");
  });
});

describe("a followed entity whose stream carries only heartbeats", () => {
  it("keeps its stream open for longer than the silence bound", async () => {
    const net = tenantApi([3]);
    const client = clientOn(new MemoryOutboxStore(), net.fetch, { liveSilenceMs: 500 });
    const sku = client.entity("inventory", "sku-1");
    sku.follow();
    await until(() => sku.confirmed.version === 1);
    // Three silence bounds without an event, a heartbeat every tenth of one (a margin for a busy machine).
    for (let i = 0; i < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      net.heartbeat();
    }
    expect(net.streams()).toEqual(["/v1/entities/inventory/sku-1/events?after=0"]);
  });
});

describe("the default bound on a live stream's silence", () => {
  it("is 2.5 times the longest the server's live feeds go without a heartbeat", () => {
    expect(LIVE_SILENCE_MS).toBe(2.5 * HEARTBEAT_MS);
  });
});
