// The SQLite schema inside each cloud-tier Durable Object, in one place: the saga host's and the
// circuit breaker's as ordered migrations run by durable-utils' SQLSchemaMigrations (tracked per
// object, so old objects upgrade in place), the rebuilder's as idempotent DDL run synchronously in
// its constructor (it then upgrades a job of the previous layout itself). The entity object's is
// in edge/entity/storage-schema.ts.
import type { SQLSchemaMigration } from "durable-utils/sql-migrations";

/** The saga host: its identity and its own event log (created on the first recorded event). */
export const sagaStorageMigrations: SQLSchemaMigration[] = [
  {
    idMonotonicInc: 1,
    description: "saga identity and event log",
    sql: `
      CREATE TABLE IF NOT EXISTS saga_identity (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1), tenant TEXT NOT NULL, saga TEXT NOT NULL, instance_key TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS saga_log (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL);
    `,
  },
];

/** The circuit breaker host: its current state and its transition log. */
export const breakerStorageMigrations: SQLSchemaMigration[] = [
  {
    idMonotonicInc: 1,
    description: "breaker state and transition log",
    sql: `
      CREATE TABLE IF NOT EXISTS breaker_state (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), state TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS breaker_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, from_status TEXT NOT NULL, to_status TEXT NOT NULL,
        at INTEGER NOT NULL, reason TEXT NOT NULL
      );
    `,
  },
];

/** The rebuilder: its one job and the entities still to replay. */
export const REBUILDER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS rebuild_job (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), projection TEXT NOT NULL,
    tenant TEXT NOT NULL, generation INTEGER NOT NULL, previous INTEGER NOT NULL, phase TEXT NOT NULL,
    total INTEGER NOT NULL, started_at INTEGER NOT NULL, failures INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    retry_at INTEGER, rescans INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS pending (entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, PRIMARY KEY (entity_type, entity_id));
`;
