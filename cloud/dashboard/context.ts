// What every dashboard page and guard shares: its Hono environment (the app, the signed-in
// session, the CSP nonce), the tenant a path names when the session may see it, D1, and the
// links pages point at.
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import type { SecureHeadersVariables } from "hono/secure-headers";
import { tenantIdSchema } from "../../src/core/protocol/identifiers.js";
import type { Db } from "../../src/core/model/projection.js";
import type { OperatorAction } from "../../src/core/model/saga.js";
import type { CloudScope } from "../app.js";
import { findTenant } from "../admin/tenant-admin.js";
import type { TenantRow } from "./data.js";
import type { Session } from "./session.js";

/** The dashboard's Hono environment: `session` is set behind the session guard (guards.ts). */
export type DashboardEnv = { Bindings: Env; Variables: CloudScope & SecureHeadersVariables & { session: Session } };
export type Ctx = Context<DashboardEnv>;

/** The request's CSP nonce (set by the dashboard's secureHeaders, guards.ts). */
export function nonceOf(c: Ctx): string {
  return c.get("secureHeadersNonce") ?? "";
}

export function db(c: Ctx): Db {
  return drizzle(c.env.DB);
}

/** The tenant named in the path, if this session may see it; otherwise undefined (a 404). */
export async function allowedTenant(c: Ctx): Promise<TenantRow | undefined> {
  const id = c.req.param("tenant") ?? "";
  const s = c.get("session");
  if (s.role === "tenant" && s.tenant !== id) return undefined;
  if (!tenantIdSchema.safeParse(id).success) return undefined;
  return findTenant(db(c), id);
}

export const liveHref = (tenant: string, panel: string) => `/dashboard/t/${tenant}/live?panel=${panel}`;
export const sagaActionHref = (tenant: string, id: string, action: OperatorAction) =>
  `/dashboard/t/${tenant}/sagas/${encodeURIComponent(id)}/${action}`;
export const rebuildHref = (tenant: string, name: string) =>
  `/dashboard/t/${tenant}/projections/${encodeURIComponent(name)}/rebuild`;
export const replayHref = (tenant: string, id: string) =>
  `/dashboard/t/${tenant}/dead-letters/${encodeURIComponent(id)}/replay`;
export const acknowledgeParkedHref = (tenant: string, id: string) =>
  `/dashboard/t/${tenant}/parked-facts/${encodeURIComponent(id)}/acknowledge`;

/** A JSX node rendered to its HTML text (for live panel updates). */
export async function markup(node: Child): Promise<string> {
  return String(await (node as { toString(): string | Promise<string> }).toString());
}
