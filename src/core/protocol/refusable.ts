// The one shape of an answer that can be refused across a binding (the entity object's RPC
// methods, entity-protocol.ts): its result under `ok: true`, or `ok: false` with a Problem whose
// stable `type` the caller acts on or renders as problem+json. One shape, so every caller narrows
// on `ok` alike and a refusal cannot be mistaken for a result (or a result for a refusal).
import { ProblemError, type Problem } from "../http/problem.js";

/** A refused call: the problem saying why, with its stable `type`. */
export interface Refusal {
  readonly ok: false;
  readonly problem: Problem;
}

/**
 * The answer of a call that can refuse: `Answer`'s fields under `ok: true`, or the refusal
 * `Refused` (a `Refusal`, with whatever fields a particular refusal adds).
 */
export type Refusable<Answer extends object, Refused extends Refusal = Refusal> =
  | ({ readonly ok: true } & Answer)
  | Refused;

/** The accepted answer, or its refusal's problem thrown as a `ProblemError` (for a route's error handler to render). */
export function acceptedOrThrow<Accepted extends { readonly ok: true }>(answer: Accepted | Refusal): Accepted {
  if (!answer.ok) throw new ProblemError(answer.problem);
  return answer;
}
