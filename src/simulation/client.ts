// A client of the tenant API in the simulator, sending one command operation as the API and the
// client library would: the request-id middleware's bound (platform.ts), the recorded headers'
// bounds (entity-routes.ts), `sentAt` for the entity's queue-delay shed, and retries. A command
// under an Idempotency-Key may be sent again after its answer (a retry); an offline client's
// session command (README "Client sessions") is sent to its entity one at a time in the session's
// order, retried under the same number until it has an answer, and sometimes sent again after it.
import {
  checkCommandMetadata,
  checkMetadataId,
  METADATA_BOUNDS,
  metadataProblem,
  type CommandMetadata,
} from "../core/protocol/command-metadata.js";
import type { CommandEnvelope, CommandOutcome } from "../core/protocol/entity-protocol.js";
import type { Operation } from "./app.js";
import { fingerprintOf } from "./config.js";
import { entityKey } from "./d1-model.js";
import type { World } from "./world.js";

/** A client command operation. */
export type CommandOperation = Extract<Operation, { kind: "command" }>;

/** Sends a session command this many times at most while it gets no answer (or a 429 to wait out). */
const MAX_ATTEMPTS = 8;

/** What the clients' bounded headers met, so a test can tell the workload reached both sides of each bound. */
export interface HeaderCounts {
  /** Commands with a header at its bound whose facts were recorded. */
  recordedAtBound: number;
  /** Commands with a header over its bound that the entity refused. */
  refusedOverBound: number;
  /** Internal commands (a saga's alone) sent by a caller inside the platform that the entity decided. */
  internalDecided: number;
}

export class SimClients {
  readonly headers: HeaderCounts = { recordedAtBound: 0, refusedOverBound: 0, internalDecided: 0 };
  readonly #world: World;
  /** Per (session, entity): the last command sent, which the next one waits for (the client protocol's order). */
  readonly #lanes = new Map<string, Promise<void>>();

  constructor(world: World) {
    this.#world = world;
  }

  /** Sends `op` through the tenant API; anything the client sees that breaks a rule is an anomaly. */
  command(op: CommandOperation): Promise<void> {
    if (op.session === undefined) return this.#send(op);
    // Joined in the order the client made its commands, before any await.
    const lane = `${op.session.id}|${entityKey(op.tenant, op.entityType, op.entityId)}`;
    const sending = (this.#lanes.get(lane) ?? Promise.resolve()).then(() => this.#send(op));
    this.#lanes.set(
      lane,
      sending.catch(() => undefined),
    );
    return sending;
  }

  async #send(op: CommandOperation): Promise<void> {
    const world = this.#world;
    const type = world.entityType(op.entityType);
    // A tenant may not send an internal command (404); a caller inside the platform, with no key, may.
    const callable = op.key === undefined || type.isPublicCommand(op.command);
    const parsed = callable ? type.parseCommand(op.command, op.data) : undefined;
    if (!parsed?.ok) return; // 400/404 at the boundary: nothing reaches the entity
    if (op.key === undefined) return this.#admitted(op, parsed.command.data);
    const admitted = await world.admission.request(op.tenant, op.key);
    if (!admitted) return; // 401/403/429/503
    try {
      await this.#admitted(op, parsed.command.data);
    } finally {
      admitted.release();
    }
  }

  /** The request once admitted (or sent by a caller inside the platform), `data` parsed by the boundary. */
  async #admitted(op: CommandOperation, data: unknown): Promise<void> {
    const world = this.#world;
    // The request-id middleware refuses an x-request-id out of bounds before any route (400).
    if (op.requestId !== undefined && checkMetadataId("requestId", op.requestId)) return;
    const key = op.idempotencyKey ?? null;
    const metadata: CommandMetadata = {
      idempotencyKey: key,
      causeHlc: null,
      correlationId: op.correlationId ?? op.requestId ?? world.newId("req"),
      causationId: op.causationId ?? null,
    };
    // The API refuses these with this very problem; they are sent on anyway, as a caller inside
    // the platform (a saga) reaches the entity without the API, so the entity's check must refuse them.
    const refused = checkCommandMetadata(metadata, world.clock.now);
    const expected = refused && metadataProblem(refused);
    const envelope: CommandEnvelope = {
      tenant: op.tenant,
      entityType: op.entityType,
      entityId: op.entityId,
      command: op.command,
      data,
      ...metadata,
      fingerprint: key === null && op.session === undefined ? null : fingerprintOf(op.command, op.data),
      ...(op.session === undefined ? {} : { clientSession: { session: op.session.id, seq: op.session.seq } }),
      expectedVersion: null,
      traceparent: null,
      // As the tenant API does: its Worker sends the facts (world.ts, rpcCommand); a caller inside
      // the platform other than a saga (saga-host.ts) leaves them to the entity's relay.
      callerRelays: op.key !== undefined,
    };
    const where = `${op.entityType}/${op.entityId}`;
    let first: readonly string[] | null = null;
    for (let i = 0; i <= (op.repeats ?? 0); i++) {
      const outcome = await this.#attempt(envelope);
      if (outcome === "failed") continue;
      if (expected) {
        // A shed (429, before any check) is the only other answer it may get.
        if (
          outcome.ok ||
          (outcome.problem.status !== 429 && JSON.stringify(outcome.problem) !== JSON.stringify(expected))
        )
          world.anomaly(`${where}: ${refused.field} out of bounds was not refused as the API refuses it`);
        else if (outcome.problem.status !== 429) this.headers.refusedOverBound++;
        continue;
      }
      if (!outcome.ok) continue;
      if (
        !outcome.replayed &&
        outcome.result.events.length > 0 &&
        !this.#world.entityType(op.entityType).isPublicCommand(op.command)
      )
        this.headers.internalDecided++;
      const meta = outcome.result.events[0]?.meta;
      const sent = meta?.correlationId === metadata.correlationId && meta.causationId === metadata.causationId;
      if (meta && !outcome.replayed && !sent)
        world.anomaly(`${where}: a fact does not carry the correlation and causation ids sent`);
      else if (meta && !outcome.replayed && atBound(metadata)) this.headers.recordedAtBound++;
      if (key === null) continue;
      const ids = outcome.result.events.map((e) => e.meta.eventId);
      if (first === null) first = ids;
      else if (outcome.replayed && ids.join() !== first.join())
        world.anomaly(`${where}: a replay under ${key} answered other events`);
    }
  }

  /**
   * One send as the API makes it (`sentAt` now). A session command is retried, under the same
   * number, while it gets no answer or a 429 (shed or backlog full: not decided), with backoff.
   */
  async #attempt(envelope: CommandEnvelope): Promise<CommandOutcome | "failed"> {
    const world = this.#world;
    for (let attempt = 1; ; attempt++) {
      const outcome = await world.rpcCommand({ ...envelope, sentAt: world.clock.now });
      const again = outcome === "failed" || (!outcome.ok && outcome.problem.status === 429);
      if (!again || envelope.clientSession === undefined || attempt === MAX_ATTEMPTS) return outcome;
      await world.clock.sleep(100 * 2 ** attempt);
    }
  }
}

/** Whether the correlation or causation id is as long as its bound allows. */
function atBound(m: CommandMetadata): boolean {
  return (
    m.correlationId.length === METADATA_BOUNDS.correlationId || m.causationId?.length === METADATA_BOUNDS.causationId
  );
}
