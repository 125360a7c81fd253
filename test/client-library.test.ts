// The offline-first client (factline/client) against the real Worker: a durable outbox sent in
// order and exactly once, optimistic state rebased on the server's truth, rejections as data, and
// live following that resumes after a disconnect without missing or repeating an event.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createClient, MemoryOutboxStore, type OutboxStore } from "../client/index.js";
import { inventory } from "../src/domain/inventory.js";
import { orders } from "../src/domain/orders.js";
import { eventually, newTenant, tenantClient } from "./support/api.js";

const BASE = "https://factline.test";
type Fetch = typeof fetch;

/** The Worker under test as the client's fetch, with a switch that makes every request fail as if offline. */
function network() {
  let online = true;
  let requests = 0;
  const fetch: Fetch = async (input, init) => {
    requests++;
    if (!online) throw new TypeError("Failed to fetch (offline)");
    return exports.default.fetch(new Request(input, init));
  };
  return {
    fetch,
    setOnline: (value: boolean) => (online = value),
    requests: () => requests,
  };
}

async function setup(outbox: OutboxStore = new MemoryOutboxStore()) {
  const tenant = await newTenant("client");
  const net = network();
  const client = createClient({
    baseUrl: BASE,
    apiKey: tenant.apiKey,
    entities: [inventory, orders],
    outbox,
    fetch: net.fetch,
    retry: { baseMs: 10, maxMs: 50 },
  });
  return { tenant, net, client, outbox, api: tenantClient(tenant.apiKey) };
}

async function serverState(api: ReturnType<typeof tenantClient>, id: string) {
  return (await (await api.get(`/v1/entities/inventory/${id}`)).json()) as {
    version: number;
    state: { onHand: number; available: number };
  };
}

describe("the offline-first client", () => {
  it("sends each entity's commands in the order they were made, each applied once", async () => {
    const { client, api } = await setup();
    const a = client.entity("inventory", "a");
    const b = client.entity("inventory", "b");
    for (let i = 1; i <= 5; i++) {
      await a.command("restock", { quantity: i });
      await b.command("restock", { quantity: 10 * i });
    }
    await client.drained();
    const log = (await (await api.get("/v1/entities/inventory/a/events")).json()) as {
      events: { data: { quantity: number } }[];
    };
    expect(log.events.map((e) => e.data.quantity)).toEqual([1, 2, 3, 4, 5]);
    expect(await serverState(api, "b")).toMatchObject({ version: 5, state: { onHand: 150 } });
    expect(a.confirmed).toMatchObject({ version: 5, state: { onHand: 15 } });
    client.close();
  });

  it("keeps commands made offline in its outbox and sends them when the network returns", async () => {
    const { client, net, api } = await setup();
    net.setOnline(false);
    const sku = client.entity("inventory", "offline");
    await sku.command("restock", { quantity: 3 });
    await sku.command("restock", { quantity: 4 });
    await eventually(async () => (client.status.connection === "offline" ? true : undefined));
    expect(client.status.queueLength).toBe(2);
    expect(sku.state).toMatchObject({ onHand: 7 });
    expect((await api.get("/v1/entities/inventory/offline")).status).toBe(404);

    net.setOnline(true);
    client.sync();
    await client.drained();
    expect(client.status).toMatchObject({ connection: "online", queueLength: 0 });
    expect(client.status.lastSyncAt).not.toBeNull();
    expect(await serverState(api, "offline")).toMatchObject({ version: 2, state: { onHand: 7 } });
    client.close();
  });

  it("sends after a restart what an earlier client left in the same outbox", async () => {
    const outbox = new MemoryOutboxStore();
    const first = await setup(outbox);
    first.net.setOnline(false);
    await first.client.entity("inventory", "restart").command("restock", { quantity: 2 });
    first.client.close();

    const second = createClient({
      baseUrl: BASE,
      apiKey: first.tenant.apiKey,
      entities: [inventory],
      outbox,
      fetch: network().fetch,
      retry: { baseMs: 10, maxMs: 50 },
    });
    await second.ready();
    expect(second.status.queueLength).toBe(1);
    await second.drained();
    expect(await serverState(first.api, "restart")).toMatchObject({ version: 1, state: { onHand: 2 } });
    second.close();
  });

  it("applies a command once when its answer is lost and it is sent again", async () => {
    const tenant = await newTenant("client");
    let lost = 0;
    const losing: Fetch = async (input, init) => {
      const res = await exports.default.fetch(new Request(input, init));
      // The first answer to each command never reaches the client.
      if (init?.method === "POST" && lost++ % 2 === 0) throw new TypeError("connection reset");
      return res;
    };
    const client = createClient({
      baseUrl: BASE,
      apiKey: tenant.apiKey,
      entities: [inventory],
      fetch: losing,
      retry: { baseMs: 10, maxMs: 50 },
    });
    const sku = client.entity("inventory", "lost");
    await sku.command("restock", { quantity: 5 });
    await sku.command("restock", { quantity: 6 });
    await client.drained();
    expect(await serverState(tenantClient(tenant.apiKey), "lost")).toMatchObject({ version: 2, state: { onHand: 11 } });
    expect(sku.confirmed).toMatchObject({ version: 2, state: { onHand: 11 } });
    client.close();
  });

  it("reports a command the server rejected as data and rebases the state on the server's truth", async () => {
    const { client, net, api } = await setup();
    await api.command("inventory", "contested", "restock", { quantity: 5 });
    const sku = client.entity("inventory", "contested");
    await sku.refresh();
    net.setOnline(false);
    const made = await sku.command("reserve", { orderId: "mine", quantity: 3 });
    expect(made).toMatchObject({ queued: true });
    expect(sku.state).toMatchObject({ available: 2, reserved: 3 });
    expect(sku.pending.map((p) => p.predictedRejection)).toEqual([null]);
    // Meanwhile someone else takes most of the stock.
    await api.command("inventory", "contested", "reserve", { orderId: "theirs", quantity: 4 });

    net.setOnline(true);
    client.sync();
    await client.drained();
    expect(client.rejections).toMatchObject([
      {
        seq: made.queued ? made.seq : -1,
        entityId: "contested",
        command: "reserve",
        problem: { status: 422, code: "insufficient-stock" },
      },
    ]);
    await eventually(async () => (sku.confirmed.version === 2 ? true : undefined));
    expect(sku.state).toMatchObject({ available: 1, reserved: 4 });
    client.dismiss(client.rejections[0]!.seq);
    expect(client.rejections).toEqual([]);
    client.close();
  });

  it("keeps a rejection in the outbox until it is dismissed, so a restarted client still shows it", async () => {
    const { client, outbox, tenant } = await setup();
    await client.entity("inventory", "kept").command("reserve", { orderId: "o1", quantity: 1 });
    await client.drained();
    client.close();
    const restarted = createClient({
      baseUrl: BASE,
      apiKey: tenant.apiKey,
      entities: [inventory],
      outbox,
      fetch: network().fetch,
    });
    await restarted.ready();
    expect(restarted.rejections).toMatchObject([{ entityId: "kept", problem: { code: "insufficient-stock" } }]);
    restarted.dismiss(restarted.rejections[0]!.seq);
    expect((await outbox.load()).rejections).toEqual([]);
    restarted.close();
  });

  it("predicts locally a command its decide would reject, and queues it for the server to settle", async () => {
    const { client, net } = await setup();
    net.setOnline(false);
    const sku = client.entity("inventory", "predicted");
    await sku.command("reserve", { orderId: "o1", quantity: 1 });
    expect(sku.pending[0]?.predictedRejection).toMatchObject({ code: "insufficient-stock" });
    expect(sku.state).toMatchObject({ reserved: 0 });
    client.close();
  });

  it("refuses an invalid body at once and queues nothing", async () => {
    const { client } = await setup();
    const sku = client.entity("inventory", "invalid");
    const made = await sku.command("restock", { quantity: -1 });
    expect(made).toMatchObject({ queued: false, errors: [{ path: "quantity" }] });
    expect(client.status.queueLength).toBe(0);
    client.close();
  });

  it("follows a view, reading it again after its own commands are answered", async () => {
    const { client } = await setup();
    const seen: { sku: string; onHand: number }[][] = [];
    const stop = client.watchView<{ items: { sku: string; onHand: number }[] }>(
      "inventory",
      (body) => seen.push(body.items),
      { everyMs: 60_000 },
    );
    await client.entity("inventory", "viewed").command("restock", { quantity: 6 });
    await eventually(async () =>
      seen.at(-1)?.some((row) => row.sku === "viewed" && row.onHand === 6) ? true : undefined,
    );
    stop();
    client.close();
  });

  it("follows an entity live and resumes after a disconnect, missing and repeating nothing", async () => {
    const tenant = await newTenant("client");
    const api = tenantClient(tenant.apiKey);
    const streams = new Set<AbortController>();
    // Live streams can be cut from outside, as a dropped connection would.
    const cuttable: Fetch = async (input, init) => {
      const abort = new AbortController();
      init?.signal?.addEventListener("abort", () => abort.abort());
      streams.add(abort);
      return exports.default.fetch(new Request(input, { ...init, signal: abort.signal }));
    };
    const client = createClient({
      baseUrl: BASE,
      apiKey: tenant.apiKey,
      entities: [inventory],
      fetch: cuttable,
      retry: { baseMs: 10, maxMs: 50 },
    });
    const sku = client.entity("inventory", "live");
    const stop = sku.follow();
    await api.command("inventory", "live", "restock", { quantity: 1 });
    await eventually(async () => (sku.confirmed.version === 1 ? true : undefined));

    for (const abort of streams) abort.abort();
    for (let i = 2; i <= 4; i++) await api.command("inventory", "live", "restock", { quantity: i });
    await eventually(async () => (sku.confirmed.version === 4 ? true : undefined));
    expect(sku.confirmed.state).toMatchObject({ onHand: 10 });
    stop();
    client.close();
  });
});
