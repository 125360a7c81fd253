// The problems an entity's runtime answers for its domain's bugs: a command that decided event
// data that is not plain JSON, and a log (or a decision) its definition cannot fold. Both are 500s
// naming the entity, the event and what to fix; nothing is recorded. Kept out of the definition
// module (model/entity.ts), which factline/client bundles for browsers.
import { problem, type Problem } from "../http/problem.js";
import type { UnfoldableEvent } from "../model/entity.js";

/**
 * The 500 `state-unfoldable` problem for `error`, met folding the stored log of the entity at
 * `address` (a read or a command's wake-up: nothing is decided) or the events a command decided
 * (`decided`: nothing is recorded).
 */
export function unfoldableProblem(
  address: { readonly entityType: string; readonly entityId: string },
  error: UnfoldableEvent,
  decided: boolean,
): Problem {
  const where = `${address.entityType} ${address.entityId}`;
  if (decided)
    return problem(
      "state-unfoldable",
      `${where}: the command decided an event it cannot fold: ${error.message}; nothing was recorded`,
    );
  const remedy = {
    undeclared: "; declare the stored type again in `events` (and fold it in `evolve`)",
    "evolve-undefined": "; make evolve return a state for it",
    "upcast-failed": "; fix the upcaster",
  }[error.reason];
  return problem(
    "state-unfoldable",
    `${where}: its stored log cannot be folded into a state: ${error.message}${remedy}`,
  );
}

/**
 * The 500 `event-data-not-json` problem for a command of the entity at `address` that decided an
 * `eventType` event whose data is not plain JSON (`issue`, e.g. "data.at is a Date").
 */
export function eventDataProblem(
  address: { readonly entityType: string; readonly entityId: string },
  eventType: string,
  issue: string,
): Problem {
  return problem(
    "event-data-not-json",
    `${address.entityType} ${address.entityId}: the command decided a ${eventType} event whose data is not plain JSON: ${issue}; nothing was recorded`,
  );
}

// The two problem types above, as `problem` spells them.
const DOMAIN_BUG_TYPES: ReadonlySet<string> = new Set([
  problem("event-data-not-json", "").type,
  problem("state-unfoldable", "").type,
]);

/** Whether `p` is one of the problems above: the domain's bug, not the client's or the platform's. */
export function isDomainBug(p: Problem): boolean {
  return DOMAIN_BUG_TYPES.has(p.type);
}
