// What a tenant id, entity type and entity id may look like. Validated at the boundary so an id
// can never reach outside its tenant's namespace (object names and keys join them with ':').
import { z } from "zod";

export const tenantIdSchema = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/, "1-40 of a-z 0-9 and inner '-'");

export const entityTypeSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);

export const entityIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._~-]{1,128}$/, "1-128 of A-Z a-z 0-9 . _ ~ -");

/** The name of the Durable Object that owns one entity. */
export function entityObjectName(tenant: string, entityType: string, entityId: string): string {
  return `${tenant}:${entityType}:${entityId}`;
}
