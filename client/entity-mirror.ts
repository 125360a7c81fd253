// An entity as a client sees it, as pure functions over plain data: the state the server last
// confirmed (advanced by the entity's events, in sequence, each once), and the optimistic state —
// the same `decide` and `evolve` the server runs, applied to the confirmed state and the commands
// still waiting for their answer, in the order they were made.
import { isRejection, type EntityType, type Rejection } from "../src/core/model/entity.js";
import type { ConfirmedState, QueuedCommand } from "./outbox.js";

/** An event as the server states it (a command's answer, a log page or the live stream). */
export interface SequencedEvent {
  readonly seq: number;
  readonly type: string;
  readonly data: unknown;
}

/**
 * Applies `events` to `confirmed`: each event whose `seq` is the next version, once; events at or
 * below the version are already in (skipped). `gap` is true when an event was missing: the caller
 * fetches the log after `confirmed.version` to fill it.
 */
export function applyConfirmed(
  entity: EntityType,
  confirmed: ConfirmedState,
  events: readonly SequencedEvent[],
): { confirmed: ConfirmedState; gap: boolean } {
  let { version, state } = confirmed;
  let gap = false;
  for (const event of [...events].sort((a, b) => a.seq - b.seq)) {
    if (event.seq <= version) continue;
    if (event.seq !== version + 1) {
      gap = true;
      break;
    }
    state = entity.evolve(state, { type: event.type, data: event.data });
    version = event.seq;
  }
  return { confirmed: version === confirmed.version ? confirmed : { version, state }, gap };
}

/** A waiting command's local prediction: the rejection `decide` gives it here, if any. */
export interface Prediction {
  readonly seq: number;
  readonly rejection: Rejection | null;
}

/**
 * The optimistic state: `pending` (this entity's waiting commands, in order) decided and evolved
 * on the confirmed state. A command the local `decide` rejects changes nothing here and is
 * predicted rejected; only the server's answer settles it.
 */
export function optimisticState(
  entity: EntityType,
  confirmed: ConfirmedState,
  pending: readonly QueuedCommand[],
): { state: unknown; predictions: Prediction[] } {
  let state = confirmed.state;
  const predictions: Prediction[] = [];
  for (const command of pending) {
    const parsed = entity.parseCommand(command.command, command.body);
    if (!parsed?.ok) {
      predictions.push({
        seq: command.seq,
        rejection: { rejected: true, code: "invalid", detail: "the command does not fit its schema" },
      });
      continue;
    }
    const decision = entity.decide(state, parsed.command);
    if (isRejection(decision)) {
      predictions.push({ seq: command.seq, rejection: decision });
      continue;
    }
    for (const event of decision) state = entity.evolve(state, event);
    predictions.push({ seq: command.seq, rejection: null });
  }
  return { state, predictions };
}
