// The OpenAPI description of the demo board's routes (reference/demo/demo-routes.ts), so the
// contract suite holds them to a description like every other route.
import type { Operation } from "../../src/core/http/openapi.js";

const script = (path: string, operationId: string, summary: string): Operation => ({
  method: "get",
  path,
  operationId,
  summary,
  tag: "demo",
  auth: "none",
  parameters: [],
  responses: { 200: { description: "JavaScript (text/javascript)", content: { kind: "none" } } },
  problems: [],
});

export const demoOperations: readonly Operation[] = [
  {
    method: "get",
    path: "/demo",
    operationId: "demo.board",
    summary: "the collaborative inventory board (asks for a tenant API key, or reads it from the link's #key= fragment)",
    tag: "demo",
    auth: "none",
    parameters: [],
    responses: { 200: { description: "an HTML page", content: { kind: "html" } } },
    problems: [],
  },
  script("/demo/board.js", "demo.script", "the board's script: factline/client and the inventory domain, bundled for browsers"),
  script("/demo/sw.js", "demo.serviceWorker", "the service worker that keeps the board and its script for offline reloads"),
];
