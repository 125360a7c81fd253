// Every Durable Object the cloud tier calls, looked up by name in one place. Each stub is typed by
// the object's RPC contract (the generated stub type is assignable to it, so no cast), and each
// object's name is built here from what identifies it, never by a caller.
import type { EntityAddress, EntityRpc } from "../src/core/protocol/entity-protocol.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { tenantGateName, type TenantGateRpc } from "../src/core/security/tenant-policy.js";
import type { BreakerRpc } from "./sagas/breaker-host.js";
import type { SagaRpc } from "./sagas/saga-host.js";

/** The entity object of `a` (one per tenant, type and id). */
export function entityStub(env: Env, a: EntityAddress): EntityRpc {
  return env.ENTITY.getByName(entityObjectName(a.tenant, a.entityType, a.entityId));
}

/** The saga object named by its instance id (`sagaInstanceId(tenant, saga, instanceKey)`). */
export function sagaStub(env: Env, id: string): SagaRpc {
  return env.SAGA.getByName(id);
}

/** The circuit breaker object of one dependency. */
export function breakerStub(env: Env, name: string): BreakerRpc {
  return env.BREAKER.getByName(name);
}

/** The rebuilder object of one projection for one tenant. */
export function rebuilderStub(env: Env, projection: string, tenant: string) {
  return env.REBUILDER.getByName(`${projection}:${tenant}`);
}

/** The tenant's gate (suspension, revocation, rate limit). */
export function tenantGateStub(env: Env, tenant: string): TenantGateRpc {
  return env.TENANT_GATE.getByName(tenantGateName(tenant));
}
