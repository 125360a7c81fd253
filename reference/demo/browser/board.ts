// The inventory board's browser script (bundled by scripts/build-demo.ts, served at
// /demo/board.js): one card per SKU with its optimistic stock, restock and reserve buttons that
// work offline, everyone's changes live, and the changes the server rejected. Built on
// factline/client with the reference domain's own inventory definition. Everyone's changes arrive
// through the inventory view's one change feed, not a live stream per SKU: a browser holds at most
// six connections to an HTTP/1.1 origin (wrangler dev is one), and a stream per card used them up
// by the fifth SKU, after which commands waited for a free connection.
import {
  createClient,
  openIndexedDbOutbox,
  OutboxInUseError,
  type FactlineClient,
  type OutboxStore,
  type RejectedCommand,
} from "../../../client/index.js";
import { ENTITY_ID } from "../../../src/core/protocol/names.js";
import { inventory } from "../../../src/domain/inventory.js";

const KEY_ITEM = "factline-demo-api-key";
const SKUS_ITEM = "factline-demo-skus-";
/** How often the SKU list is read from the inventory view, to discover SKUs others added (ms). */
const DISCOVER_EVERY_MS = 3000;

type Client = FactlineClient<readonly [typeof inventory]>;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

function make<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/**
 * The API key: from the link's fragment (never sent to the server), else from localStorage. A
 * link carrying another key than the stored one replaces it only when the user agrees: otherwise
 * anyone could send a link that has the board write to their tenant.
 */
function takeApiKey(): string | null {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromLink) {
    history.replaceState(null, "", location.pathname);
    const stored = localStorage.getItem(KEY_ITEM);
    const replace =
      stored === null ||
      stored === fromLink ||
      confirm(`This link opens the board with another API key (${fromLink.slice(0, 12)}…). Use it instead of yours?`);
    if (replace) localStorage.setItem(KEY_ITEM, fromLink);
  }
  return localStorage.getItem(KEY_ITEM);
}

function askForKey(): void {
  const form = element<HTMLFormElement>("key-form");
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_ITEM, element<HTMLInputElement>("key-input").value.trim());
    location.reload();
  });
}

/** Keeps the page and its script for offline reloads; marks the page once a worker controls it. */
async function keepForOffline(): Promise<void> {
  if (!("serviceWorker" in navigator)) return;
  const controlled = () => (document.body.dataset.offlineReady = "true");
  navigator.serviceWorker.addEventListener("controllerchange", controlled);
  await navigator.serviceWorker.register("/demo/sw.js", { scope: "/demo" });
  if (navigator.serviceWorker.controller) controlled();
}

interface Card {
  readonly root: HTMLElement;
  readonly fields: Record<"onHand" | "reserved" | "available" | "version", HTMLElement>;
  readonly pending: HTMLElement;
}

function describeRejection(r: RejectedCommand): string {
  const body = r.body as { quantity?: number };
  const what =
    r.command === "reserve" || r.command === "restock" ? `${r.command} ${body.quantity ?? ""}`.trim() : r.command;
  return `${what} on ${r.entityId} (change #${r.seq}): ${r.problem.detail}`;
}

function board(client: Client, keyId: string): void {
  // The SKUs seen under this key only: another tenant's are not this one's to show.
  const skusItem = SKUS_ITEM + keyId;
  const skus = new Set<string>(JSON.parse(localStorage.getItem(skusItem) ?? "[]") as string[]);
  const cards = new Map<string, Card>();
  let orderCounter = 0;
  const tag = Math.random().toString(36).slice(2, 8);

  function card(sku: string): Card {
    const known = cards.get(sku);
    if (known) return known;
    const handle = client.entity("inventory", sku);
    const dd = (field: string) => {
      const node = make("dd");
      node.dataset.field = field;
      return node;
    };
    const fields = {
      onHand: dd("onHand"),
      reserved: dd("reserved"),
      available: dd("available"),
      version: dd("version"),
    };
    const restockQty = make("input", {
      type: "number",
      min: "1",
      value: "5",
      ariaLabel: `Restock quantity for ${sku}`,
    });
    const reserveQty = make("input", {
      type: "number",
      min: "1",
      value: "1",
      ariaLabel: `Reserve quantity for ${sku}`,
    });
    const restock = make("button", { type: "button", textContent: "Restock", ariaLabel: `Restock ${sku}` });
    const reserve = make("button", { type: "button", textContent: "Reserve", ariaLabel: `Reserve ${sku}` });
    restock.addEventListener(
      "click",
      () => void handle.command("restock", { quantity: Number(restockQty.value) }).then(report),
    );
    reserve.addEventListener("click", () => {
      // Each reservation is its own order: reserving twice for one order is a no-op by design.
      const orderId = `board-${tag}-${Date.now().toString(36)}-${orderCounter++}`;
      void handle.command("reserve", { orderId, quantity: Number(reserveQty.value) }).then(report);
    });
    const pending = make("div", { className: "pending" });
    const root = make(
      "article",
      { className: "sku", ariaLabel: `SKU ${sku}` },
      make("h2", { textContent: sku }),
      make(
        "dl",
        {},
        make("dt", { textContent: "On hand" }),
        fields.onHand,
        make("dt", { textContent: "Reserved" }),
        fields.reserved,
        make("dt", { textContent: "Available" }),
        fields.available,
        make("dt", { textContent: "Confirmed version" }),
        fields.version,
      ),
      make("div", {}, restockQty, restock),
      make("div", {}, reserveQty, reserve),
      pending,
    );
    root.dataset.sku = sku;
    const created: Card = { root, fields, pending };
    cards.set(sku, created);
    const boardNode = element("board");
    const after = [...boardNode.children].find((other) => ((other as HTMLElement).dataset.sku ?? "") > sku);
    boardNode.insertBefore(root, after ?? null);
    if (!skus.has(sku)) {
      skus.add(sku);
      localStorage.setItem(skusItem, JSON.stringify([...skus]));
    }
    return created;
  }

  function report(made: Awaited<ReturnType<ReturnType<Client["entity"]>["command"]>>): void {
    if (!made.queued) alert(made.errors.map((e) => `${e.path}: ${e.message}`).join("\n"));
  }

  function render(): void {
    const status = client.status;
    const connection = element("connection");
    connection.textContent = status.connection;
    connection.dataset.connection = status.connection;
    element("queue-length").textContent = String(status.queueLength);
    element("last-sync").textContent =
      status.lastSyncAt === null ? "never" : new Date(status.lastSyncAt).toLocaleTimeString();
    for (const [sku, c] of cards) {
      const handle = client.entity("inventory", sku);
      const { state, pending, confirmed } = handle;
      c.fields.onHand.textContent = String(state.onHand);
      c.fields.reserved.textContent = String(state.reserved);
      c.fields.available.textContent = String(state.available);
      c.fields.version.textContent = String(confirmed.version);
      const doomed = pending.filter((p) => p.predictedRejection !== null).length;
      c.pending.textContent =
        pending.length === 0
          ? ""
          : `${pending.length} change(s) waiting to sync${doomed ? `, ${doomed} likely to be rejected` : ""}`;
    }
    const section = element("rejections");
    const list = section.querySelector("ul");
    if (!list) return;
    section.hidden = client.rejections.length === 0;
    list.replaceChildren(
      ...client.rejections.map((r) => {
        const dismiss = make("button", { type: "button", textContent: "Dismiss" });
        dismiss.addEventListener("click", () => client.dismiss(r.seq));
        return make("li", {}, describeRejection(r), " ", dismiss);
      }),
    );
  }

  element<HTMLFormElement>("add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const sku = element<HTMLInputElement>("new-sku").value.trim();
    // The entity-id grammar client.entity() holds ids to (it throws on any other).
    if (!ENTITY_ID.pattern.test(sku)) return;
    card(sku);
    void client
      .entity("inventory", sku)
      .command("restock", { quantity: Number(element<HTMLInputElement>("new-quantity").value) })
      .then(report);
    element<HTMLInputElement>("new-sku").value = "";
  });

  for (const sku of skus) card(sku);
  client.subscribe(render);
  render();
  // Others' changes and SKUs appear through the inventory view, read again after each change its
  // feed reports: a card whose view row is ahead of its confirmed state reads its entity. Offline,
  // the SKUs already known stay.
  client.watchView<{ items: { sku: string; version: number }[] }>(
    "inventory?limit=500",
    (body) => {
      for (const item of body?.items ?? []) {
        card(item.sku);
        const handle = client.entity("inventory", item.sku);
        if (item.version > handle.confirmed.version) void handle.refresh().catch(() => undefined);
      }
      render();
    },
    { everyMs: DISCOVER_EVERY_MS },
  );
}

async function main(): Promise<void> {
  const apiKey = takeApiKey();
  if (!apiKey) return askForKey();
  element("app").hidden = false;
  void keepForOffline();
  // One outbox per key: commands queued under one tenant are never sent with another's key.
  const keyId = /^fl_([0-9a-f]+)_/.exec(apiKey)?.[1] ?? "key";
  let outbox: OutboxStore;
  try {
    outbox = await openIndexedDbOutbox(`factline-demo-${keyId}`);
  } catch (error) {
    if (!(error instanceof OutboxInUseError)) throw error;
    element("board").textContent = "This board is open in another tab of this browser: close it, then reload this one.";
    return;
  }
  board(createClient({ baseUrl: location.origin, apiKey, entities: [inventory], outbox }), keyId);
}

void main();
