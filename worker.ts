// The reference app's entry: Factline's own order-management domain (inventory, orders,
// payments, the fulfilment saga, their two views) and its integration with a simulated payment
// gateway, composed by `defineApp`. This is the only module that names the reference domain; a
// team's own app has an entry just like it (see examples/todo/worker.ts and README "Define your
// domain"). The Durable Object classes are exported under the names wrangler.toml binds.
import { defineApp } from "./platform.js";
import { projections } from "./src/domain/projections/index.js";
import { demoRoutes } from "./reference/demo/demo-routes.js";
import { gatewayAdminRoutes } from "./reference/gateway-admin-routes.js";
import { paymentRoutes } from "./reference/payment-routes.js";
import { paymentGatewayService } from "./reference/payment-service.js";
import { domain } from "./src/domain/index.js";
import { sagas } from "./src/domain/sagas.js";

export { CircuitBreakerHost, DurableStreamHost, TenantGate } from "./platform.js";
export { PaymentGatewaySim } from "./reference/payment-gateway-sim.js";

const factline = defineApp({
  entities: domain.all(),
  projections,
  sagas,
  services: { "payment-gateway": paymentGatewayService },
  tenantRoutes: { payments: paymentRoutes },
  adminRoutes: [gatewayAdminRoutes],
  // The collaborative inventory board built on factline/client (README "Build an offline-first app").
  pages: { demo: demoRoutes },
});

/** The HTTP app (exported so the contract suite can compare its routes with the OpenAPI document). */
export const app = factline.http;
// Each host class is a value and, for worker-configuration.d.ts (`DurableObjectNamespace<import("./worker").EntityActor>`), a type.
export const EntityActor = factline.EntityActor;
export type EntityActor = InstanceType<typeof EntityActor>;
export const SagaHost = factline.SagaHost;
export type SagaHost = InstanceType<typeof SagaHost>;
export const ProjectionRebuilder = factline.ProjectionRebuilder;
export type ProjectionRebuilder = InstanceType<typeof ProjectionRebuilder>;

export default factline.handler;
