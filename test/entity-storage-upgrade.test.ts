// Entity objects written by an earlier schema upgrade in place when they wake: an object whose
// facts waited in the outbox table (schema 3) keeps every one of them pending once the log itself
// is the outbox (schema 4), and sends them from its alarm with no new command to start it.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { SQLSchemaMigrations } from "durable-utils/sql-migrations";
import { describe, expect, it } from "vitest";
import { entityStorageMigrations } from "../edge/entity/storage-schema.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { eventually, newTenant, tenantClient } from "./support/api.js";
import { handOffsSettled, holdRelay } from "./support/facts.js";

const stubOf = (tenant: string, id: string) =>
  env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(tenant, "inventory", id)));

/** What schema 3 kept of the relay: its outbox rows and its cursors. */
interface Schema3Relay {
  readonly outbox: readonly number[];
  readonly sentUpTo: number;
  readonly ackedUpTo: number;
}

/**
 * Rewrites the object's storage as schema 3 would hold the same log: every table dropped and
 * rebuilt by migrations 1–3 alone, the log and identity copied back, the relay's state as given.
 */
async function asSchema3(stub: DurableObjectStub, relay: Schema3Relay): Promise<void> {
  await runInDurableObject(stub, async (_actor, state) => {
    const sql = state.storage.sql;
    const identity = sql.exec("SELECT * FROM entity_identity").toArray();
    const events = sql.exec("SELECT * FROM events").toArray();
    const tables = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
      )
      .toArray();
    for (const { name } of tables) sql.exec(`DROP TABLE "${name}"`);
    await state.storage.delete("__sql_migrations_lastID");
    await new SQLSchemaMigrations({
      doStorage: state.storage,
      migrations: entityStorageMigrations.slice(0, 3),
    }).runAll();
    for (const row of identity)
      sql.exec(
        "INSERT INTO entity_identity VALUES (?, ?, ?, ?)",
        row.singleton,
        row.tenant,
        row.entity_type,
        row.entity_id,
      );
    for (const row of events)
      sql.exec("INSERT INTO events VALUES (?, ?, ?, ?, ?)", row.seq, row.type, row.schema_version, row.data, row.meta);
    for (const seq of relay.outbox) sql.exec("INSERT INTO outbox (seq) VALUES (?)", seq);
    sql.exec("UPDATE relay_state SET sent_up_to = ?, acked_up_to = ?", relay.sentUpTo, relay.ackedUpTo);
  });
  await evictDurableObject(stub);
}

/** The woken object's relay cursor and whether the outbox table is still there. */
function relayOf(stub: DurableObjectStub) {
  return runInDurableObject(stub, (_actor, state) => ({
    pendingFrom: state.storage.sql.exec<{ pending_from: number }>("SELECT pending_from FROM relay_state").one()
      .pending_from,
    outboxTable: state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'outbox'").toArray().length > 0,
  }));
}

async function viewVersion(apiKey: string, sku: string): Promise<number | undefined> {
  const res = await tenantClient(apiKey).get(`/v1/views/inventory/${sku}`);
  return res.status === 200 ? ((await res.json()) as { version: number }).version : undefined;
}

describe("the entity object's storage upgrade", () => {
  it("keeps the facts schema 3 left in its outbox pending, and its alarm sends them", async () => {
    const tenant = await newTenant("upgrade");
    const release = holdRelay(tenant.id);
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "waiting", "restock", { quantity: 2 });
    await api.command("inventory", "waiting", "restock", { quantity: 3 });
    await handOffsSettled();
    const stub = stubOf(tenant.id, "waiting");
    await asSchema3(stub, { outbox: [1, 2], sentUpTo: 0, ackedUpTo: 0 });
    release();

    expect(await relayOf(stub)).toEqual({ pendingFrom: 1, outboxTable: false });
    await runDurableObjectAlarm(stub);
    expect(
      await eventually(async () => ((await viewVersion(tenant.apiKey, "waiting")) === 2 ? true : undefined), 20_000),
    ).toBe(true);
    expect((await relayOf(stub)).pendingFrom).toBe(3);
  });

  it("starts an empty outbox after the log's head, so nothing sent before is sent again", async () => {
    const tenant = await newTenant("upgrade");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "sent", "restock", { quantity: 2 });
    await api.command("inventory", "sent", "restock", { quantity: 3 });
    await eventually(async () => ((await viewVersion(tenant.apiKey, "sent")) === 2 ? true : undefined), 20_000);
    const stub = stubOf(tenant.id, "sent");
    await asSchema3(stub, { outbox: [], sentUpTo: 2, ackedUpTo: 2 });

    expect(await relayOf(stub)).toEqual({ pendingFrom: 3, outboxTable: false });
    await api.command("inventory", "sent", "restock", { quantity: 1 });
    expect(
      await eventually(async () => ((await viewVersion(tenant.apiKey, "sent")) === 3 ? true : undefined), 20_000),
    ).toBe(true);
  });
});
