// The collaborative inventory board at /demo: a page, its script (the offline-first client and
// the inventory domain, bundled for browsers by scripts/build-demo.ts) and a service worker that
// keeps both for offline reloads. Public routes: the page holds no secret; it asks for a tenant
// API key (or takes one from the link `npm start` prints, `/demo#key=…`) and keeps it in the
// browser's localStorage. Mounted by worker.ts through defineApp's `pages` at /demo.
import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { html, routeTable, security } from "../../src/core/http/openapi.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { boardScript } from "./board-bundle.generated.js";

const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// Network first, so a deploy is picked up at once; the cache answers only when the network fails.
// Requests outside the shell (the tenant API) are left to the network: the client has its own outbox.
const SERVICE_WORKER = `
const CACHE = "factline-demo-v1";
const SHELL = ["/demo", "/demo/board.js"];
self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !SHELL.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(url.pathname, copy)));
        }
        return response;
      })
      .catch(() => caches.match(url.pathname).then((cached) => cached || Response.error())),
  );
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Factline inventory board</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { display: flex; gap: 1.5rem; align-items: center; padding: .75rem 1.25rem; background: #1d2330; color: #fff; flex-wrap: wrap; }
  header h1 { font-size: 1.1rem; margin: 0 auto 0 0; }
  .badge { padding: .15rem .6rem; border-radius: 1rem; font-weight: 600; }
  .badge[data-connection="online"] { background: #1f8f4e; }
  .badge[data-connection="offline"] { background: #b3261e; }
  .badge[data-connection="connecting"], .badge[data-connection="unauthorized"] { background: #8a6d00; }
  main { padding: 1.25rem; display: grid; gap: 1.25rem; max-width: 1100px; }
  form { display: flex; gap: .5rem; align-items: end; flex-wrap: wrap; }
  label { display: grid; gap: .2rem; font-size: .85rem; }
  input { font: inherit; padding: .3rem .4rem; width: 7rem; }
  button { font: inherit; padding: .3rem .8rem; cursor: pointer; }
  #board { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 1rem; }
  .sku { background: #fff; border-radius: .5rem; padding: 1rem; box-shadow: 0 1px 3px #0002; display: grid; gap: .5rem; }
  .sku h2 { margin: 0; font-size: 1.05rem; }
  .sku dl { display: grid; grid-template-columns: auto 1fr; gap: .1rem .75rem; margin: 0; }
  .sku dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
  .pending { color: #8a6d00; font-size: .85rem; min-height: 1.2em; }
  #rejections li { background: #fde8e6; border-left: 4px solid #b3261e; padding: .4rem .6rem; margin: .3rem 0; list-style: none; }
  #rejections ul { padding: 0; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>Inventory board</h1>
  <span>Connection: <span id="connection" class="badge" data-connection="connecting">connecting</span></span>
  <span>Queued: <strong id="queue-length">0</strong></span>
  <span>Last sync: <span id="last-sync">never</span></span>
</header>
<main>
  <form id="key-form" hidden>
    <label>Tenant API key <input id="key-input" name="key" autocomplete="off" style="width: 28rem" required></label>
    <button>Open the board</button>
  </form>
  <section id="app" hidden>
    <form id="add-form">
      <label>SKU <input id="new-sku" name="sku" required></label>
      <label>Initial stock <input id="new-quantity" name="quantity" type="number" min="1" value="10" required></label>
      <button>Add SKU</button>
    </form>
    <section aria-label="Rejected changes" id="rejections" hidden>
      <h2>Rejected by the server</h2>
      <ul></ul>
    </section>
    <section id="board" aria-label="Stock"></section>
  </section>
</main>
<script type="module" src="/demo/board.js"></script>
</body>
</html>`;

const script = (path: string, operationId: string, summary: string) =>
  createRoute({
    method: "get",
    path,
    operationId,
    summary,
    tags: ["demo"],
    security: security("none"),
    responses: { 200: { description: "JavaScript", content: { "text/javascript": { schema: z.string() } } } },
  });

/** The demo's routes, for `pages: { demo: demoRoutes }`: /demo, /demo/board.js, /demo/sw.js. */
export const demoRoutes = routeTable<{ Bindings: Env; Variables: RequestScope }>();

demoRoutes.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "demo.board",
    summary:
      "the collaborative inventory board (asks for a tenant API key, or reads it from the link's #key= fragment)",
    tags: ["demo"],
    security: security("none"),
    responses: { 200: html("an HTML page") },
  }),
  (c) => c.html(PAGE, 200, { "content-security-policy": PAGE_CSP, "cache-control": "no-cache" }),
);
demoRoutes.openapi(
  script(
    "/board.js",
    "demo.script",
    "the board's script: factline/client and the inventory domain, bundled for browsers",
  ),
  (c) => c.body(boardScript, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" }),
);
// Its scope is /demo (the page itself), one level above the script's own folder: allowed by header.
demoRoutes.openapi(
  script("/sw.js", "demo.serviceWorker", "the service worker that keeps the board and its script for offline reloads"),
  (c) =>
    c.body(SERVICE_WORKER, 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-cache",
      "service-worker-allowed": "/demo",
    }),
);
