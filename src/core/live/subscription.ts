// The rule that makes a live subscription deliver every event once and in order: a subscriber
// carries a cursor (the last seq it was given) and is either catching up (reading the log page by
// page) or live (given events as they are recorded). A live push is taken only when it continues
// the cursor exactly; anything else sends the subscriber back to catching up from the log, the
// truth. The feed's effect sequence (src/core/live/live-feed-host.ts, run by the entity's Durable
// Object and by the simulator) decides every push with `livePush`; catching up turns live in the
// same synchronous step that reads a short page, so no event falls between the two.

interface Sequenced {
  readonly seq: number;
}

/** What a live subscriber at `cursor` does with newly recorded `events` (in seq order). */
export type LivePush =
  /** Nothing after the cursor (events it already has). */
  | { readonly kind: "none" }
  /** Push events from index `from` on; the cursor becomes `cursor`. */
  | { readonly kind: "push"; readonly from: number; readonly cursor: number }
  /** The events do not continue the cursor: read the log from the cursor instead. */
  | { readonly kind: "catch-up" };

export function livePush(cursor: number, events: readonly Sequenced[]): LivePush {
  const from = events.findIndex((e) => e.seq > cursor);
  if (from < 0) return { kind: "none" };
  if (events[from]?.seq !== cursor + 1) return { kind: "catch-up" };
  for (let i = from + 1; i < events.length; i++)
    if (events[i]?.seq !== (events[i - 1]?.seq ?? 0) + 1) return { kind: "catch-up" };
  return { kind: "push", from, cursor: events[events.length - 1]?.seq ?? cursor };
}
