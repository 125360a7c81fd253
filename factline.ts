// What an app imports from the platform, in one module: everything src/app-api.ts gives its
// domain modules (entities, projections, sagas, the kits), and the Worker's side: the composition
// point (`defineApp`) and the Durable Object classes its entry exports for wrangler, the service
// contract and guarded calls its services use, and the route API its own routes are declared
// with. An app imports only these two files, so the platform's folders may be rearranged without
// breaking it. At the top level, beside platform.ts, because it re-exports edge/ and cloud/ (src/
// imports neither). Its domain modules import src/app-api.ts instead: they also run outside a
// Worker (the simulator in Node, factline/client in browsers), where edge/ and cloud/ cannot load.
export * from "./src/app-api.js";

// The composition point and the classes wrangler binds by name.
export {
  type AppDefinition,
  type AppRoutes,
  CircuitBreakerHost,
  DurableStreamHost,
  defineApp,
  type FactlineApp,
  TenantGate,
  type WorkerHandler,
} from "./platform.js";

// The services saga `call` tasks name, and guarded calls to the systems behind them.
export { implementService, type Service, type ServiceCallContext, type Services } from "./cloud/app.js";
export { breakerFor, type GuardOptions, type Guarded, guardedCall } from "./cloud/sagas/guarded-call.js";
// A key a service derives from its call's key (a suffix on it), fitted to the Idempotency-Key grammar.
export { fitIdempotencyKey } from "./src/core/protocol/command-metadata.js";

// An app's own routes (README "Declaring your own routes"), declared with `createRoute` from
// @hono/zod-openapi.
export { json, jsonBody, problems, routeTable, security } from "./src/core/http/openapi.js";
export { fail, ProblemError } from "./src/core/http/problem.js";
export {
  type EntityCaller,
  type EntityClient,
  entityClient,
  entityClientFor,
  type StateOf,
} from "./edge/entity/entity-client.js";
export type { CommandOutcome } from "./src/core/protocol/entity-protocol.js";
export { strictJsonBody } from "./src/core/http/json-body.js";
export type { RequestScope } from "./src/core/http/request-scope.js";
