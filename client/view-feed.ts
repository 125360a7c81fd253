// A view's change feed as the client reads it: `GET /v1/views/{view}/changes/stream?live=sse`
// (README "Durable Streams"). The feed's SSE sends, per page, an `event: data` with a JSON array
// of changes and an `event: control` with the offset after them, both in one write. These
// schemas check what the server sent (a trust boundary: a proxy or an older server may answer
// anything) before the client moves its offset.
// zod/mini, not zod: the same checks, tree-shaken to the few this file uses (the client's bundle
// budget is 15 kB gzipped; the whole of zod is about 90).
import * as z from "zod/mini";

/** One fact that changed a view, as the feed carries it. */
export const viewChangeSchema = z.object({
  entity: z.object({ type: z.string(), id: z.string() }),
  seq: z.int(),
  type: z.string(),
  recordedAt: z.string(),
});
export type ViewChange = z.infer<typeof viewChangeSchema>;

const changesSchema = z.array(viewChangeSchema);

/** A Durable Streams offset: `<segment>_<count>`, two runs of 16 digits. */
const offsetSchema = z.string().check(z.regex(/^\d{16}_\d{16}$/));

const controlSchema = z.object({
  streamNextOffset: offsetSchema,
  streamCursor: z.optional(z.string()),
  upToDate: z.optional(z.literal(true)),
  streamClosed: z.optional(z.literal(true)),
});

/** The changes of a `data` event; throws on anything but a JSON array of changes. */
export function parseViewChanges(data: string): ViewChange[] {
  return changesSchema.parse(JSON.parse(data));
}

/** The offset a `control` event reports; throws on anything but a control object with an offset. */
export function parseControlOffset(data: string): string {
  return controlSchema.parse(JSON.parse(data)).streamNextOffset;
}

/** The `{view}` segment of a view path such as `inventory`, `inventory/sku-1` or `inventory?limit=5`. */
export function viewNameOf(path: string): string {
  return path.split(/[/?#]/, 1)[0] ?? path;
}
