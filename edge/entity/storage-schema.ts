// The SQLite schema inside every entity Durable Object, as ordered migrations run on wake-up by
// durable-utils' SQLSchemaMigrations (tracked per object, so old objects upgrade in place).
import type { SQLSchemaMigration } from "durable-utils/sql-migrations";

export const entityStorageMigrations: SQLSchemaMigration[] = [
  {
    idMonotonicInc: 1,
    description: "event log, outbox and relay cursors, idempotency records, snapshots",
    sql: `
      CREATE TABLE IF NOT EXISTS entity_identity (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        tenant TEXT NOT NULL, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY, type TEXT NOT NULL, schema_version INTEGER NOT NULL,
        data TEXT NOT NULL, meta TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS idempotency (
        key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, result TEXT NOT NULL, created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency (created_at);
      CREATE TABLE IF NOT EXISTS relay_state (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        sent_up_to INTEGER NOT NULL, acked_up_to INTEGER NOT NULL,
        redeliver_at INTEGER, redeliveries INTEGER NOT NULL
      );
      INSERT OR IGNORE INTO relay_state VALUES (1, 0, 0, NULL, 0);
      CREATE TABLE IF NOT EXISTS snapshots (
        seq INTEGER PRIMARY KEY, state_version INTEGER NOT NULL, state TEXT NOT NULL
      );
    `,
  },
  {
    idMonotonicInc: 2,
    description: "parked facts: too large for the queue, sent as a notice the consumer resolves over RPC",
    sql: `
      CREATE TABLE IF NOT EXISTS parked_facts (
        seq INTEGER PRIMARY KEY, bytes INTEGER NOT NULL, reason TEXT NOT NULL, parked_at INTEGER NOT NULL
      );
    `,
  },
  {
    idMonotonicInc: 3,
    description:
      "client sessions: per offline client, the last command decided here and its answer (client-session-store.ts)",
    sql: `
      CREATE TABLE IF NOT EXISTS client_sessions (
        session TEXT PRIMARY KEY, seq INTEGER NOT NULL, fingerprint TEXT NOT NULL,
        answer TEXT NOT NULL, touched_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS client_sessions_by_age ON client_sessions (touched_at);
    `,
  },
  {
    idMonotonicInc: 4,
    description:
      "the log is the outbox: a pending_from cursor replaces the outbox table's row per fact (outbox-relay.ts)",
    // The outbox held one contiguous run of the log ending at its head (sends and probes go in
    // order), so its oldest row is where the cursor starts; an empty outbox starts after the head.
    sql: `
      ALTER TABLE relay_state ADD COLUMN pending_from INTEGER NOT NULL DEFAULT 1;
      UPDATE relay_state SET pending_from = coalesce(
        (SELECT min(seq) FROM outbox),
        (SELECT coalesce(max(seq), 0) + 1 FROM events)
      );
      DROP TABLE outbox;
    `,
  },
];
