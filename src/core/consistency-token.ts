// Read-your-writes: a command's response names the entity and the version it reached; a view
// read that presents the token can tell whether its projection has caught up with that write.
import { z } from "zod";

export interface ConsistencyPoint {
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
  readonly seq: number;
}

const pointSchema = z.object({
  t: z.string().min(1),
  e: z.string().min(1),
  i: z.string().min(1),
  s: z.number().int().nonnegative(),
});

export function encodeConsistencyToken(p: ConsistencyPoint): string {
  const json = JSON.stringify({ t: p.tenant, e: p.entityType, i: p.entityId, s: p.seq });
  return btoa(unescape(encodeURIComponent(json))).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeConsistencyToken(token: string): ConsistencyPoint | undefined {
  try {
    const padded = token.replaceAll("-", "+").replaceAll("_", "/");
    const json = decodeURIComponent(escape(atob(padded)));
    const parsed = pointSchema.safeParse(JSON.parse(json));
    if (!parsed.success) return undefined;
    return { tenant: parsed.data.t, entityType: parsed.data.e, entityId: parsed.data.i, seq: parsed.data.s };
  } catch {
    return undefined;
  }
}
