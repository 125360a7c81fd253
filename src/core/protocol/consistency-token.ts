// Read-your-writes: a command's response names the entity and the version it reached; a view
// read that presents the token can tell whether its projection has caught up with that write.
import { z } from "zod";
import { strictJsonProblem } from "../http/strict-json.js";
import { entityIdSchema, entityTypeSchema, tenantIdSchema } from "./identifiers.js";

export interface ConsistencyPoint {
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
  readonly seq: number;
}

// The same grammars as where the ids entered: a token names nothing a URL could not.
const pointSchema = z
  .object({
    t: tenantIdSchema,
    e: entityTypeSchema,
    i: entityIdSchema,
    s: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  })
  .strict();

// A token for the longest ids is about 300 characters; anything much longer is not one of ours.
const MAX_TOKEN_LENGTH = 512;

export function encodeConsistencyToken(p: ConsistencyPoint): string {
  const json = JSON.stringify({ t: p.tenant, e: p.entityType, i: p.entityId, s: p.seq });
  return btoa(unescape(encodeURIComponent(json)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

export function decodeConsistencyToken(token: string): ConsistencyPoint | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  try {
    const padded = token.replaceAll("-", "+").replaceAll("_", "/");
    const json = decodeURIComponent(escape(atob(padded)));
    const value: unknown = JSON.parse(json);
    // One meaning only: a key given twice names two points (JSON.parse would keep the last).
    if (strictJsonProblem(json) !== undefined) return undefined;
    const parsed = pointSchema.safeParse(value);
    if (!parsed.success) return undefined;
    return { tenant: parsed.data.t, entityType: parsed.data.e, entityId: parsed.data.i, seq: parsed.data.s };
  } catch {
    return undefined;
  }
}
