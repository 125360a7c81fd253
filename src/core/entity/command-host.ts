// The entity's command sequence, one implementation for the Durable Object
// (edge/entity/entity-actor.ts) and the simulator (src/simulation/entity-host.ts): shed a command
// that waited too long, check the id grammar, bind the entity, check the recorded metadata, answer
// a client session's command already decided, look up its idempotency key, decide
// (command-step.ts), then write everything the decision recorded in one storage transaction, and
// only then update the memory image, hand the facts to the relay and publish them live. Every
// effect goes through a port (EntityCommandPorts), so the simulator runs this very code over its
// models of storage, relay and subscribers.
import { UnfoldableEvent, type EntityType } from "../model/entity.js";
import { unfoldableProblem } from "./domain-bugs.js";
import type { RecordedEvent } from "../model/envelope.js";
import { problem, type Problem } from "../http/problem.js";
import { logEvent } from "../runtime/log.js";
import { checkCommandMetadata, metadataProblem } from "../protocol/command-metadata.js";
import type { CommandEnvelope, CommandOutcome, EntityAddress, HandOff } from "../protocol/entity-protocol.js";
import { entityIdSchema } from "../protocol/identifiers.js";
import { queueDelayExceeded, SHED_RETRY_AFTER_S } from "../resilience/in-flight.js";
import { ClientSessions, type SessionRecords } from "./client-sessions.js";
import { commandStep, type CommandStep, type MemoryImage } from "./command-step.js";
import { Idempotency, type IdempotencyRecords } from "./idempotency.js";

/** Each recorded fact with the queue message the relay sends (encoded once, by the command step). */
export type RecordedFacts = Extract<CommandStep, { kind: "record" }>["facts"];

/** The entity's durable storage as the command sequence writes it. */
export interface EntityCommandStorage {
  /** Runs `writes` as one synchronous all-or-nothing transaction (production: `transactionSync`). */
  transaction(writes: () => void): void;
  /** Stores whom the object hosts, with the entity's first event (a woken object reads it back). */
  storeIdentity(address: EntityAddress): void;
  append(events: readonly RecordedEvent[]): void;
  writeSnapshot(version: number, state: unknown): void;
  /** Events with `after < seq <= upTo`, oldest first (a session replay's answer is rebuilt from them). */
  read(after: number, upTo: number): readonly RecordedEvent[];
  readonly idempotency: IdempotencyRecords;
  readonly sessions: SessionRecords;
}

/**
 * The outbox relay as the command sequence sees it: the backlog bound's inputs, and the hook
 * after the transaction (the relay's own code is src/core/outbox/ and its hosts). The transaction
 * needs none: the outbox is the log, so appending a fact stages it.
 */
export interface CommandRelay {
  /** Facts recorded up to `version` and not yet acknowledged by the consumer. */
  backlog(version: number): number;
  /** Retry-After (s) for a command shed because the backlog is full. */
  retryAfterSeconds(): number;
  /** After the transaction committed: send them (production: under `waitUntil`). */
  committed(facts: RecordedFacts): void;
  /** After the transaction committed, when the caller relays: the batch it is to send, if any. */
  handOff(facts: RecordedFacts): HandOff | undefined;
}

/** What the command sequence needs of its host. */
export interface EntityCommandPorts {
  readonly storage: EntityCommandStorage;
  readonly relay: CommandRelay;
  /** After the commit: live subscribers and log readers waiting for the next event. */
  published(recorded: readonly RecordedEvent[]): void;
  /** A fresh event id per fact (crypto.randomUUID in production; seeded in the simulator). */
  newEventId(): string;
  /** The most facts an entity may hold unacknowledged (ENTITY_MAX_BACKLOG). */
  readonly maxBacklog: number;
}

/**
 * One entity's command sequence after binding, with its memory image. Build one per object
 * incarnation over the surviving storage (the image passed in is that storage's head).
 */
export class EntityCommands {
  readonly entity: EntityType;
  readonly address: EntityAddress;
  readonly #ports: EntityCommandPorts;
  readonly #idempotency: Idempotency;
  readonly #sessions: ClientSessions;
  #image: MemoryImage;

  constructor(entity: EntityType, address: EntityAddress, image: MemoryImage, ports: EntityCommandPorts) {
    this.entity = entity;
    this.address = { tenant: address.tenant, entityType: address.entityType, entityId: address.entityId };
    this.#image = image;
    this.#ports = ports;
    this.#idempotency = new Idempotency(ports.storage.idempotency);
    this.#sessions = new ClientSessions(ports.storage.sessions, (after, upTo) => ports.storage.read(after, upTo));
  }

  /** The entity's state, version and newest clock as of its last committed command. */
  get image(): MemoryImage {
    return this.#image;
  }

  /**
   * Decides and records one command addressed to this entity at `now` (epoch ms). Refusals and
   * rejections record nothing (a rejection of a session command records only its answer); a
   * replay records nothing. A refusal that is the domain's bug (5xx: events that are not plain
   * JSON or cannot be folded) is logged as an error, as is a snapshot skipped because the state is
   * not plain JSON. Synchronous: no other command interleaves.
   */
  command(envelope: CommandEnvelope, now: number): CommandOutcome {
    // The tenant API checked these already; sagas and other callers reach the entity over RPC.
    const refused = checkCommandMetadata(envelope, now);
    if (refused) return { ok: false, problem: metadataProblem(refused) };
    const answered = this.#sessions.check(envelope, now);
    if (answered) return answered;

    const { storage, relay } = this.#ports;
    const image = this.#image;
    const keyed = envelope.idempotencyKey !== null && envelope.fingerprint !== null;
    const step = commandStep({
      entity: this.entity,
      image,
      envelope,
      now,
      idempotency: keyed ? this.#idempotency.lookup(envelope.idempotencyKey, envelope.fingerprint, now) : null,
      backlog: relay.backlog(image.version),
      maxBacklog: this.#ports.maxBacklog,
      backlogRetryAfterS: relay.retryAfterSeconds(),
      newEventId: () => this.#ports.newEventId(),
    });
    if (step.kind === "replay") return { ok: true, result: step.result, replayed: true };
    if (step.kind === "refused" && step.problem.status >= 500) domainBug(this.address, step.problem);
    // A client session keeps the domain's rejection as its answer; other refusals (backlog,
    // precondition, size) leave the command free to be retried under the same number.
    if (step.kind === "rejected") this.#sessions.remember(envelope, { problem: step.problem }, now);
    if (step.kind === "rejected") return { ok: false, problem: step.problem };
    if (step.kind === "refused") return { ok: false, problem: step.problem, currentVersion: step.currentVersion };

    const { recorded, result, facts } = step;
    storage.transaction(() => {
      if (image.version === 0 && recorded.length > 0) storage.storeIdentity(this.address);
      storage.append(recorded);
      if (envelope.idempotencyKey !== null && envelope.fingerprint !== null)
        this.#idempotency.record(envelope.idempotencyKey, envelope.fingerprint, result, now);
      this.#sessions.remember(envelope, { result }, now);
      if (step.snapshot) storage.writeSnapshot(step.image.version, step.image.state);
    });
    if (step.snapshotSkipped !== undefined) {
      logEvent("error", "snapshot skipped: the state is not plain JSON", {
        ...this.address,
        version: step.image.version,
        detail: step.snapshotSkipped,
      });
    }
    this.#image = step.image;
    let handOff: HandOff | undefined;
    if (envelope.callerRelays === true) handOff = relay.handOff(facts);
    else relay.committed(facts);
    this.#ports.published(recorded);
    return handOff ? { ok: true, result, replayed: false, handOff } : { ok: true, result, replayed: false };
  }
}

/**
 * The whole sequence for an object that may not have bound its entity yet: sheds a command that
 * waited past `maxQueueDelayMs` since `sentAt` (429 `overloaded`, before any work: CoDel's rule,
 * src/core/resilience/in-flight.ts), refuses an entity id outside the URL grammar (400: sagas
 * route commands by ids taken from facts), binds (404 for an unknown entity type; `bind` throws if
 * the object hosts another entity; a log the definition cannot fold is 500 `state-unfoldable`,
 * logged as an error), then `EntityCommands.command`.
 */
export function entityCommand(
  envelope: CommandEnvelope,
  now: number,
  maxQueueDelayMs: number,
  bind: (address: EntityAddress) => EntityCommands | undefined,
): CommandOutcome {
  if (queueDelayExceeded(envelope.sentAt, now, maxQueueDelayMs)) {
    return {
      ok: false,
      problem: problem(
        "overloaded",
        `the command waited over ${maxQueueDelayMs} ms for its entity; it was not decided`,
        { retryAfter: SHED_RETRY_AFTER_S },
      ),
    };
  }
  const badId = entityIdRefusal(envelope.entityId);
  if (badId) return { ok: false, problem: badId };
  let commands: EntityCommands | undefined;
  try {
    commands = bind(envelope);
  } catch (error) {
    // Binding rebuilds the memory image from the log: a log the definition cannot fold.
    if (!(error instanceof UnfoldableEvent)) throw error;
    const refused = unfoldableProblem(envelope, error, false);
    domainBug(envelope, refused);
    return { ok: false, problem: refused };
  }
  if (!commands) return { ok: false, problem: problem("not-found", `no entity type ${envelope.entityType}`) };
  return commands.command(envelope, now);
}

/** The error line for a command refused with a 5xx: the domain's bug (or a corrupt log), never the client's. */
export function domainBug(address: EntityAddress, refused: Problem): void {
  logEvent("error", "entity refused: the domain's bug", {
    tenant: address.tenant,
    entityType: address.entityType,
    entityId: address.entityId,
    type: refused.type,
    detail: refused.detail,
  });
}

/** 400 `malformed-request` for an id outside the entity id grammar (`entityIdSchema`), else undefined. */
export function entityIdRefusal(id: string): Problem | undefined {
  if (entityIdSchema.safeParse(id).success) return undefined;
  return problem("malformed-request", `${JSON.stringify(id.slice(0, 140))} is not an entity id`);
}
