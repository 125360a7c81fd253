// Every Durable Object the edge calls, looked up by name in one place. Each stub is typed by the
// object's RPC contract (the generated stub type is assignable to it, so no cast), and each
// object's name is built here from what identifies it, never by a caller.
import type { EntityAddress, EntityRpc } from "../src/core/protocol/entity-protocol.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { tenantGateName, type TenantGateRpc } from "../src/core/security/tenant-policy.js";
import type { DurableStreamRpc } from "./streams/durable-stream-host.js";
import { streamObjectName } from "./streams/stream-names.js";

/** The entity object of `a` (one per tenant, type and id). */
export function entityStub(env: Env, a: EntityAddress): EntityRpc {
  return env.ENTITY.getByName(entityObjectName(a.tenant, a.entityType, a.entityId));
}

/** The tenant's gate (suspension, revocation, rate limit). */
export function tenantGateStub(env: Env, tenant: string): TenantGateRpc {
  return env.TENANT_GATE.getByName(tenantGateName(tenant));
}

/** The Durable Stream object of the tenant's stream `name` (edge/streams/). */
export function durableStreamStub(env: Env, tenant: string, name: string): DurableStreamRpc {
  return env.DURABLE_STREAMS.getByName(streamObjectName(tenant, name));
}
