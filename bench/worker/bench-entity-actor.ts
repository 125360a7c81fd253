// The production entity object with two bench-only abilities, bound as `EntityActor` only in
// bench/wrangler.bench.toml: seeding a long log quickly (so wake-up can be measured on 10,000
// events without sending 10,000 commands), and aborting itself (a forced cold start). Everything
// the figures measure (commands, reads, wake-up) is the inherited production code.
import { EntityActor as ProductionEntityActor } from "../../edge/entity/entity-actor.js";
import { EventLog } from "../../edge/entity/event-log.js";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { encodeHlc, HLC_ZERO, tick } from "../../src/core/protocol/hlc.js";
import { domain } from "../../src/domain/index.js";
import { countRowsWritten } from "./rows-written.js";

const SEED_CHUNK = 1000;

let wakes = 0;

/** How many entity objects this isolate has started (each start is a wake-up from storage). */
export function entityWakes(): number {
  return wakes;
}

export class EntityActor extends ProductionEntityActor {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, domain);
    wakes++;
    countRowsWritten(ctx.storage.sql, "entity");
  }

  /**
   * Appends `count` Restocked events (as the command path would record them, snapshots every
   * `snapshotEvery` when asked) and marks them relayed and applied, so no relay work follows.
   */
  async benchSeed(address: EntityAddress, count: number, snapshots: boolean): Promise<number> {
    const entity = domain.get(address.entityType);
    if (!entity) throw new Error(`no entity type ${address.entityType}`);
    const sql = this.ctx.storage.sql;
    const log = new EventLog(sql, entity);
    if (log.head().seq !== 0) throw new Error("benchSeed needs an empty entity");
    let state = entity.initialState();
    let hlc = HLC_ZERO;
    for (let start = 1; start <= count; start += SEED_CHUNK) {
      const events: RecordedEvent[] = [];
      for (let seq = start; seq < Math.min(start + SEED_CHUNK, count + 1); seq++) {
        const now = Date.now();
        hlc = tick(hlc, now);
        events.push({
          seq,
          type: "Restocked",
          schemaVersion: entity.eventVersion("Restocked"),
          data: { quantity: 1, source: "bench" },
          meta: {
            eventId: crypto.randomUUID(),
            tenant: address.tenant,
            entityType: address.entityType,
            entityId: address.entityId,
            hlc: encodeHlc(hlc),
            recordedAt: new Date(now).toISOString(),
            correlationId: crypto.randomUUID(),
            causationId: null,
            idempotencyKey: null,
            traceparent: null,
          },
        });
      }
      this.ctx.storage.transactionSync(() => {
        log.append(events);
        for (const event of events) {
          state = entity.evolve(state, event);
          if (snapshots && event.seq % entity.snapshotEvery === 0) log.writeSnapshot(event.seq, state);
        }
      });
    }
    sql.exec(
      "INSERT OR IGNORE INTO entity_identity (singleton, tenant, entity_type, entity_id) VALUES (1, ?, ?, ?)",
      address.tenant,
      address.entityType,
      address.entityId,
    );
    sql.exec("UPDATE relay_state SET pending_from = ?, sent_up_to = ?, acked_up_to = ?", count + 1, count, count);
    return log.head().seq;
  }

  /** Throws away the in-memory instance (memory image included); the next call wakes it cold. */
  async benchAbort(): Promise<void> {
    this.ctx.abort("bench: forced cold start");
  }
}
