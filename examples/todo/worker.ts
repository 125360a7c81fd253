// The example app's entry: a to-do list (one entity, one view, one saga calling one service, one
// route of its own),
// composed by the same `defineApp` as the reference app, with no platform file touched. Its
// wrangler config (examples/todo/wrangler.toml) binds the platform's Durable Object classes by
// these export names; `npm test` runs examples/todo/test/ against it (vitest project "example-todo").
import { defineApp } from "../../factline.js";
import { listRoutes } from "./list-routes.js";
import { notifier } from "./notifier.js";
import { notifyOnClose } from "./notify-on-close.js";
import { todoLists } from "./todo-list.js";
import { todoListsProjection } from "./todo-lists-view.js";

export { CircuitBreakerHost, DurableStreamHost, TenantGate } from "../../factline.js";

const factline = defineApp({
  entities: [todoLists],
  projections: [todoListsProjection],
  sagas: [notifyOnClose],
  services: { notifier },
  tenantRoutes: { lists: listRoutes },
});

export const EntityActor = factline.EntityActor;
export const SagaHost = factline.SagaHost;
export const ProjectionRebuilder = factline.ProjectionRebuilder;

export default factline.handler;
