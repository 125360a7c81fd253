// The offline-first client (factline/client) against the real Worker: a durable outbox sent in
// order and exactly once, optimistic state rebased on the server's truth, rejections as data, and
// live following that resumes after a disconnect without missing or repeating an event.
import { env, exports } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import { createClient, MemoryOutboxStore, type OutboxStore, ViewError } from "../client/index.js";
import { pruneViewChanges } from "../cloud/projections/view-changes.js";
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

/**
 * The Worker under test as the client's fetch for following views: counts reads of views (not of
 * their feeds), records the offset of each feed request, can cut every open response as a
 * dropped connection would, can silence every open feed as a connection gone half-open would
 * (open, nothing relayed, until the client aborts it), and can fail every request as if offline.
 */
function viewNetwork(options: { readonly feed: boolean } = { feed: true }) {
  let online = true;
  let viewReads = 0;
  const feedOffsets: string[] = [];
  const open = new Set<AbortController>();
  const feeds = new Set<{ silent: boolean }>();
  /** `res`'s body, relayed until the feed is silenced; errored, as fetch's is, when `signal` aborts. */
  const silenceable = (res: Response, signal: AbortSignal | null | undefined): Response => {
    const feed = { silent: false };
    feeds.add(feed);
    const reader = res.body?.getReader();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        signal?.addEventListener("abort", () => {
          feeds.delete(feed);
          controller.error(new DOMException("aborted", "AbortError"));
          void reader?.cancel().catch(() => undefined);
        });
      },
      async pull(controller) {
        if (feed.silent || !reader) return new Promise<void>(() => undefined);
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
    });
    return new Response(body, res);
  };
  const fetch: Fetch = async (input, init) => {
    if (!online) throw new TypeError("Failed to fetch (offline)");
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname.endsWith("/changes/stream")) {
      // An older server: no change feeds.
      if (!options.feed) return Response.json({ type: "about:blank", status: 404 }, { status: 404 });
      feedOffsets.push(url.searchParams.get("offset") ?? "");
    } else if (url.pathname.startsWith("/v1/views/")) viewReads++;
    const abort = new AbortController();
    init?.signal?.addEventListener("abort", () => abort.abort());
    open.add(abort);
    const res = await exports.default.fetch(new Request(input, { ...init, signal: abort.signal }));
    return url.pathname.endsWith("/changes/stream") && res.ok ? silenceable(res, init?.signal) : res;
  };
  return {
    fetch,
    silence: () => {
      for (const feed of feeds) feed.silent = true;
    },
    setOnline: (value: boolean) => (online = value),
    cut: () => {
      for (const abort of open) abort.abort();
      open.clear();
    },
    viewReads: () => viewReads,
    feedOffsets,
  };
}

/**
 * The Worker under test as the client's fetch, where the first command sent to inventory/`held`
 * is decided by the server but its answer never reaches the client (a proxy holding it, a
 * connection gone half-open): the request stays open until the client aborts it. Records each
 * command request's entity, client session and number.
 */
function holdingNetwork(held: string) {
  const commands: { entity: string | undefined; session: string | null; seq: string | null }[] = [];
  let holding = true;
  const fetch: Fetch = async (input, init) => {
    const request = new Request(input, init);
    const entity = new URL(request.url).pathname.split("/")[4];
    if (request.method !== "POST") return exports.default.fetch(request);
    commands.push({
      entity,
      session: request.headers.get("factline-client-session"),
      seq: request.headers.get("factline-client-seq"),
    });
    if (entity !== held || !holding) return exports.default.fetch(request);
    holding = false;
    await exports.default.fetch(new Request(input, { ...init, signal: null }));
    return new Promise<Response>((_, reject) =>
      init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
    );
  };
  return { fetch, commands };
}

type InventoryRow = { sku: string; onHand: number };
const shows = (rows: readonly InventoryRow[] | undefined, sku: string, onHand: number) =>
  rows?.some((row) => row.sku === sku && row.onHand === onHand) ?? false;

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

  /** A client whose network never answers commands to inventory "held" (the server decides them), and that entity. */
  async function clientHoldingAnswers(commandTimeoutMs: number) {
    const tenant = await newTenant("client");
    const net = holdingNetwork("held");
    const client = createClient({
      baseUrl: BASE,
      apiKey: tenant.apiKey,
      entities: [inventory],
      fetch: net.fetch,
      retry: { baseMs: 10, maxMs: 50 },
      commandTimeoutMs,
    });
    return { tenant, net, client, held: client.entity("inventory", "held") };
  }

  it("sends and confirms another entity's commands while one command's answer never comes", async () => {
    const { net, client, held } = await clientHoldingAnswers(60_000);
    await held.command("restock", { quantity: 1 });
    await eventually(async () => (net.commands.length === 1 ? true : undefined));

    const other = client.entity("inventory", "other");
    await other.command("restock", { quantity: 2 });
    await other.command("restock", { quantity: 3 });
    await eventually(async () => (other.confirmed.version === 2 ? true : undefined));
    expect(other.confirmed.state).toMatchObject({ onHand: 5 });
    expect(held.pending).toHaveLength(1);
    client.close();
  });

  it("sends a command again under the same number once its answer has not come in time, decided once", async () => {
    const { tenant, net, client, held } = await clientHoldingAnswers(500);
    await held.command("restock", { quantity: 5 });
    await client.drained();

    const attempts = net.commands.filter((c) => c.entity === "held");
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(attempts.map((c) => `${c.session}#${c.seq}`)).size).toBe(1);
    expect(await serverState(tenantClient(tenant.apiKey), "held")).toMatchObject({ version: 1, state: { onHand: 5 } });
    expect(held.confirmed).toMatchObject({ version: 1, state: { onHand: 5 } });
    expect(client.rejections).toEqual([]);
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

  it("refuses an internal command at once, as the API would, and queues nothing", async () => {
    const { client } = await setup();
    const sku = client.entity("inventory", "internal");
    // @ts-expect-error ship is internal (the order saga's alone): a client cannot send it.
    const made = await sku.command("ship", { orderId: "o1" });
    expect(made).toMatchObject({
      queued: false,
      errors: [{ path: "(command)", message: "inventory has no command ship" }],
    });
    expect(client.status.queueLength).toBe(0);
    client.close();
  });

  it("throws a view read the server refuses as a ViewError carrying the server's problem", async () => {
    const { client } = await setup();
    const refused = await client.view("no-such-view").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ViewError);
    expect(refused).toMatchObject({
      status: 404,
      problem: { type: "https://factline.dev/problems/not-found", status: 404, title: "Not found" },
    });
    expect((refused as ViewError).problem?.detail).toBeTruthy();
    expect((refused as ViewError).message).toContain("https://factline.dev/problems/not-found");
    client.close();
  });

  it("tells a watcher of a row not written yet with null, then shows the row once it is", async () => {
    const { client, api } = await setup();
    const seen: ({ onHand: number } | null)[] = [];
    const stop = client.watchView<{ onHand: number }>("inventory/not-yet", (row) => seen.push(row));
    await eventually(async () => (seen.length > 0 ? true : undefined));
    expect(seen[0]).toBeNull();

    await api.command("inventory", "not-yet", "restock", { quantity: 3 });
    await eventually(async () => (seen.at(-1)?.onHand === 3 ? true : undefined));
    stop();
    client.close();
  });

  it("follows a view, reading it again after its own commands are answered", async () => {
    const { client } = await setup();
    const seen: { sku: string; onHand: number }[][] = [];
    const stop = client.watchView<{ items: { sku: string; onHand: number }[] }>(
      "inventory",
      (body) => body && seen.push(body.items),
      { everyMs: 60_000 },
    );
    await client.entity("inventory", "viewed").command("restock", { quantity: 6 });
    await eventually(async () =>
      seen.at(-1)?.some((row) => row.sku === "viewed" && row.onHand === 6) ? true : undefined,
    );
    stop();
    client.close();
  });

  it("follows a view's change feed: a watcher sees a change someone else makes after it started", async () => {
    const tenant = await newTenant("client");
    const api = tenantClient(tenant.apiKey);
    const net = viewNetwork();
    const client = createClient({ baseUrl: BASE, apiKey: tenant.apiKey, entities: [inventory], fetch: net.fetch });
    const seen: InventoryRow[][] = [];
    const stop = client.watchView<{ items: InventoryRow[] }>("inventory", (body) => body && seen.push(body.items));
    await eventually(async () => (seen.length > 0 ? true : undefined));
    expect(net.feedOffsets).toEqual(["now"]);

    await api.command("inventory", "theirs", "restock", { quantity: 4 });
    await eventually(async () => (shows(seen.at(-1), "theirs", 4) ? true : undefined));
    stop();
    client.close();
  });

  /**
   * A watcher of the tenant's inventory view that has seen one change, then is cut off while
   * `burst` (restocks of 2) is recorded; resolves once the whole burst is in the feed.
   */
  async function watcherAwayDuring(burst: readonly string[]) {
    const tenant = await newTenant("client");
    const api = tenantClient(tenant.apiKey);
    const net = viewNetwork();
    const client = createClient({
      baseUrl: BASE,
      apiKey: tenant.apiKey,
      entities: [inventory],
      fetch: net.fetch,
      retry: { baseMs: 10, maxMs: 50 },
    });
    const seen: InventoryRow[][] = [];
    const stop = client.watchView<{ items: InventoryRow[] }>("inventory", (body) => body && seen.push(body.items));
    await eventually(async () => (seen.length > 0 ? true : undefined));
    await api.command("inventory", "before", "restock", { quantity: 1 });
    await eventually(async () => (shows(seen.at(-1), "before", 1) ? true : undefined));

    net.setOnline(false);
    net.cut();
    for (const sku of burst) await api.command("inventory", sku, "restock", { quantity: 2 });
    await eventually(async () => {
      const changes = (await (await api.get("/v1/views/inventory/changes/stream?offset=-1")).json()) as unknown[];
      return changes.length === 1 + burst.length ? true : undefined;
    });
    const seesBurst = () =>
      eventually(async () => (burst.every((sku) => shows(seen.at(-1), sku, 2)) ? true : undefined));
    return {
      net,
      seesBurst,
      stop: () => {
        stop();
        client.close();
      },
    };
  }

  it("resumes a view's feed from its offset after a disconnect, missing nothing and reading once per burst", async () => {
    // The whole burst is in the feed before the watcher can reconnect, so it comes back as one page.
    const { net, seesBurst, stop } = await watcherAwayDuring(["burst-1", "burst-2", "burst-3"]);
    const readsBefore = net.viewReads();
    net.setOnline(true);

    await seesBurst();
    expect(net.viewReads() - readsBefore).toBe(1);
    // It started at the tail and reconnected from an offset the feed gave it, never from the tail again.
    expect(net.feedOffsets[0]).toBe("now");
    expect(net.feedOffsets.slice(1).every((offset) => /^\d{16}_\d{16}$/.test(offset))).toBe(true);
    expect(net.feedOffsets.length).toBeGreaterThan(1);
    stop();
  });

  it("starts a view's feed again at the tail, reading the view once more, when changes after its offset were pruned", async () => {
    const { net, seesBurst, stop } = await watcherAwayDuring(["pruned-1", "pruned-2", "pruned-3"]);
    // Retention as of two hours on keeps each feed's newest change only: the watcher's next is gone.
    const hour = 3_600_000;
    await pruneViewChanges(
      drizzle(env.DB),
      { retainCount: 1, retainAgeMs: hour, chunkRows: 1000, maxChunks: 100 },
      Date.now() + 2 * hour,
    );
    const resumeAt = net.feedOffsets.length;
    net.setOnline(true);

    await seesBurst();
    expect(net.feedOffsets.slice(resumeAt)).toContain("now");
    stop();
  });

  it("reconnects a view's change feed that goes silent and reads the change made meanwhile", async () => {
    const tenant = await newTenant("client");
    const api = tenantClient(tenant.apiKey);
    const net = viewNetwork();
    // The test server writes a control event at least every second (STREAM_LONG_POLL_TIMEOUT_MS).
    const client = createClient({
      baseUrl: BASE,
      apiKey: tenant.apiKey,
      entities: [inventory],
      fetch: net.fetch,
      retry: { baseMs: 10, maxMs: 50 },
      liveSilenceMs: 2500,
    });
    const seen: InventoryRow[][] = [];
    const stop = client.watchView<{ items: InventoryRow[] }>("inventory", (body) => body && seen.push(body.items));
    await eventually(async () => (seen.length > 0 ? true : undefined));

    net.silence();
    await api.command("inventory", "while-silent", "restock", { quantity: 4 });
    await eventually(async () => (shows(seen.at(-1), "while-silent", 4) ? true : undefined));
    stop();
    client.close();
  });

  it("polls a view when the server has no change feeds (404), reading again after its own commands", async () => {
    const tenant = await newTenant("client");
    const net = viewNetwork({ feed: false });
    const client = createClient({ baseUrl: BASE, apiKey: tenant.apiKey, entities: [inventory], fetch: net.fetch });
    const seen: InventoryRow[][] = [];
    const stop = client.watchView<{ items: InventoryRow[] }>("inventory", (body) => body && seen.push(body.items), {
      everyMs: 60_000,
    });
    await client.entity("inventory", "polled").command("restock", { quantity: 3 });
    await eventually(async () => (shows(seen.at(-1), "polled", 3) ? true : undefined));
    expect(net.feedOffsets).toEqual([]);
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

  it("starts an entity again from the server's log when the server holds fewer events than it confirmed", async () => {
    const tenant = await newTenant("client");
    const api = tenantClient(tenant.apiKey);
    // What a client kept from a server whose local state was since wiped and started afresh.
    const outbox = new MemoryOutboxStore();
    await outbox.saveConfirmed("inventory/reset", { version: 5, state: { onHand: 50, reserved: 0, reservations: {} } });
    await api.command("inventory", "reset", "restock", { quantity: 2 });
    const client = createClient({
      baseUrl: BASE,
      apiKey: tenant.apiKey,
      entities: [inventory],
      outbox,
      fetch: (input, init) => exports.default.fetch(new Request(input, init)),
      retry: { baseMs: 10, maxMs: 50 },
    });
    const sku = client.entity("inventory", "reset");
    await eventually(async () => (sku.confirmed.version === 5 ? true : undefined));
    const stop = sku.follow();
    await eventually(async () => (sku.confirmed.version === 1 ? true : undefined));
    expect(sku.confirmed.state).toMatchObject({ onHand: 2 });
    stop();
    client.close();
  });
});
