// What the cloud tier runs: an app's entities, read models, sagas and the outside services its
// sagas call. The cloud tier never imports an app; the composition root (`platform.ts`) hands
// it one, and every host (consumer, saga host, rebuilder, admin, dashboard) takes it as an
// argument, so the same platform code runs the reference app and a user's.
import type { OpenAPIHono } from "@hono/zod-openapi";
import { routeTable } from "../src/core/http/openapi.js";
import type { EntityRegistry } from "../src/core/model/entity.js";
import type { RequestScope } from "../src/core/http/request-scope.js";
import type { SagaDefinition, TaskOutcome } from "../src/core/model/saga.js";
import type { Projection } from "../src/core/model/projection.js";
import {
  implementContract,
  type OperationHandlers,
  type ServiceContract,
  type ServiceOperations,
} from "../src/core/model/service-contract.js";

/**
 * What a service call gets besides its operation and data: the bindings (a service reaches its
 * system through them), the tenant it acts for, and the idempotency key the call must be made
 * under (the same key on every retry of the same task, so the outside system acts once).
 */
export interface ServiceCallContext {
  readonly env: Env;
  readonly tenant: string;
  readonly idempotencyKey: string;
}

/**
 * An outside system a saga's `call` task names (`{ kind: "call", service, operation, data }`).
 * `call` answers with the task's outcome: `done` with a result, `rejected` for a business
 * answer (the saga compensates), `failed` for a transient error (the saga retries with backoff),
 * `deferred` when the dependency is known to be down (its breaker is open; no attempt is used up).
 * It should throw only for bugs: a throw is recorded as `failed`. Each call is one attempt; the
 * saga's alarm does the retrying, so a service wraps its I/O in `guardedCall` with `attempts: 1`.
 */
export interface Service {
  call(operation: string, data: Readonly<Record<string, unknown>>, context: ServiceCallContext): Promise<TaskOutcome>;
  /**
   * The contract it implements, when built by `implementService`: `defineApp` checks its name, and
   * the saga host checks each call against it before calling (`checkServiceCall`).
   */
  readonly contract?: ServiceContract;
}

/**
 * A service from its contract and a handler per operation, each given the request its operation's
 * schema parsed and the call's context (`src/core/model/service-contract.ts`, `implementContract`:
 * an unknown operation or a request that does not fit is rejected before any handler runs).
 * Provide it under the contract's name: `defineApp({ services: { [notifierContract.name]: notifier } })`.
 */
export function implementService<N extends string, Ops extends ServiceOperations>(
  contract: ServiceContract<N, Ops>,
  handlers: OperationHandlers<Ops, ServiceCallContext>,
): Service & { readonly contract: ServiceContract<N> } {
  return implementContract(contract, handlers);
}

/** Services by the name saga tasks use (`ServiceCallAction.service`). */
export type Services = Readonly<Record<string, Service>>;

/** An app as the cloud tier sees it. */
export interface CloudApp {
  readonly entities: EntityRegistry;
  readonly projections: readonly Projection[];
  readonly sagas: readonly SagaDefinition<unknown>[];
  readonly services: Services;
}

/** The app's projection named `name` (a view name from a URL: only the app's own names match). */
export function projectionNamed(app: CloudApp, name: string): Projection | undefined {
  return app.projections.find((p) => p.name === name);
}

/** The app's saga named `name`. */
export function sagaNamed(app: CloudApp, name: string): SagaDefinition<unknown> | undefined {
  return app.sagas.find((s) => s.name === name);
}

/** The app's service named `name`; `constructor` or `toString` name nothing (own keys only). */
export function serviceNamed(app: CloudApp, name: string): Service | undefined {
  return Object.hasOwn(app.services, name) ? app.services[name] : undefined;
}

/** The request scope of the cloud tier's routes: the platform's, plus the app they serve. */
export type CloudScope = RequestScope & { readonly app: CloudApp };
/** The Hono environment of the cloud tier's routes. */
export type CloudEnv = { Bindings: Env; Variables: CloudScope };

/**
 * `routes` serving `app`: route handlers are written once, against `c.get("app")`; each app's
 * mount carries its own app into their scope (no module-level app, so any app can be served).
 */
export function servingApp(app: CloudApp, routes: OpenAPIHono<CloudEnv>): OpenAPIHono<CloudEnv> {
  const mounted = routeTable<CloudEnv>();
  mounted.use("*", async (c, next) => {
    c.set("app", app);
    await next();
  });
  mounted.route("/", routes);
  return mounted;
}
