// The D1 schema of the cloud tier (drizzle). Migrations in migrations/ are generated from this
// file and the reference domain's view tables (src/domain/projections/) by drizzle-kit
// (`npm run db:generate`). Every row is scoped by tenant.

import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  status: text("status", { enum: ["active", "suspended"] })
    .notNull()
    .default("active"),
  createdAt: integer("created_at").notNull(),
  /** Fair use: a token bucket refilled at this rate (null: no limit). */
  rateLimitRps: real("rate_limit_rps"),
  rateLimitBurst: integer("rate_limit_burst"),
  /** Browser origins allowed to call the tenant API (JSON array of origins). */
  corsOrigins: text("cors_origins", { mode: "json" }).$type<string[]>().notNull().default([]),
  /**
   * Raised by one in the same statement as every change to the tenant's policy (status, limits,
   * origins, a key revoked): the tenant's gate applies a pushed policy only if it is newer.
   */
  policyVersion: integer("policy_version").notNull().default(0),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    keyHash: text("key_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [index("api_keys_by_tenant").on(t.tenantId)],
);

/**
 * Which generation of a projection's rows serves reads for a tenant, and which one a rebuild is
 * filling. No row means generation 0 serves and nothing is being rebuilt.
 */
export const projectionGenerations = sqliteTable(
  "projection_generations",
  {
    projection: text("projection").notNull(),
    tenantId: text("tenant_id").notNull(),
    active: integer("active").notNull(),
    building: integer("building"),
    rebuildStartedAt: integer("rebuild_started_at"),
    rebuildCompletedAt: integer("rebuild_completed_at"),
  },
  (t) => [primaryKey({ columns: [t.projection, t.tenantId] })],
);

/** The newest fact the cloud tier has received per entity, for projection lag. */
export const entityHeads = sqliteTable(
  "entity_heads",
  {
    tenantId: text("tenant_id").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    seq: integer("seq").notNull(),
    recordedAt: integer("recorded_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.entityType, t.entityId] })],
);

/** How far each projection generation has applied each entity's log: the last sequence applied. */
export const projectionCheckpoints = sqliteTable(
  "projection_checkpoints",
  {
    projection: text("projection").notNull(),
    generation: integer("generation").notNull(),
    tenantId: text("tenant_id").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    seq: integer("seq").notNull(),
    /** When the fact at `seq` was recorded at the edge (ms), for lag in seconds. */
    recordedAt: integer("recorded_at").notNull(),
    appliedAt: integer("applied_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.projection, t.generation, t.tenantId, t.entityType, t.entityId] }),
    index("checkpoints_by_tenant").on(t.projection, t.tenantId, t.generation),
  ],
);

/**
 * How far the sagas have been handed each entity's log: the last sequence number delivered to
 * every saga that follows it. Advanced only after delivery succeeded, apart from projection
 * checkpoints, so a fact that projections applied but sagas never saw is delivered on a retry.
 */
export const sagaCheckpoints = sqliteTable(
  "saga_checkpoints",
  {
    tenantId: text("tenant_id").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    seq: integer("seq").notNull(),
    deliveredAt: integer("delivered_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.entityType, t.entityId] })],
);

/** Facts the consumer gave up on, with the error, until an operator replays them. */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    projection: text("projection"),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    seq: integer("seq").notNull(),
    body: text("body").notNull(),
    error: text("error").notNull(),
    attempts: integer("attempts").notNull(),
    createdAt: integer("created_at").notNull(),
    replayedAt: integer("replayed_at"),
  },
  (t) => [index("dead_letters_by_tenant").on(t.tenantId, t.createdAt)],
);

/**
 * Facts an entity's relay parked because the queue cannot carry them (over its 128 KB message
 * limit, or refused for size on their own). The consumer still applies them, reading them from
 * their entity; this table is the operator's list until someone acknowledges each one. One row
 * per fact (its event id); a repeated notice leaves the row as it is.
 */
export const parkedFacts = sqliteTable(
  "parked_facts",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    seq: integer("seq").notNull(),
    eventType: text("event_type").notNull(),
    bytes: integer("bytes").notNull(),
    reason: text("reason").notNull(),
    parkedAt: integer("parked_at").notNull(),
    acknowledgedAt: integer("acknowledged_at"),
  },
  (t) => [index("parked_facts_by_tenant").on(t.tenantId, t.parkedAt)],
);

/**
 * Per-tenant counters in one-minute buckets (`minute` = epoch ms / 60 000). Isolates aggregate in
 * memory and add their counts here every second or so, so the hot path never waits on D1.
 * Latency is a histogram: `latLe<N>` counts requests that took at most N ms (and more than the
 * previous bound); `latLeInf` the rest.
 */
export const tenantMetrics = sqliteTable(
  "tenant_metrics",
  {
    tenantId: text("tenant_id").notNull(),
    minute: integer("minute").notNull(),
    requests: integer("requests").notNull().default(0),
    commands: integer("commands").notNull().default(0),
    factsRecorded: integer("facts_recorded").notNull().default(0),
    factsApplied: integer("facts_applied").notNull().default(0),
    rejections: integer("rejections").notNull().default(0),
    errors: integer("errors").notNull().default(0),
    shed: integer("shed").notNull().default(0),
    queueLagMsSum: integer("queue_lag_ms_sum").notNull().default(0),
    queueLagMsMax: integer("queue_lag_ms_max").notNull().default(0),
    latLe5: integer("lat_le_5").notNull().default(0),
    latLe10: integer("lat_le_10").notNull().default(0),
    latLe25: integer("lat_le_25").notNull().default(0),
    latLe50: integer("lat_le_50").notNull().default(0),
    latLe100: integer("lat_le_100").notNull().default(0),
    latLe250: integer("lat_le_250").notNull().default(0),
    latLe500: integer("lat_le_500").notNull().default(0),
    latLe1000: integer("lat_le_1000").notNull().default(0),
    latLeInf: integer("lat_le_inf").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.minute] })],
);

/**
 * Saga instances as the admin API lists them; written by each saga's object on status changes
 * (`createdAt` on its first write only, so with `id` it is a key no status change moves). The list
 * (cloud/sagas/saga-list.ts) and the dashboard read newest first by (`createdAt`, `id`), all
 * statuses or one, with or without a tenant, each in the order of one of these indexes.
 */
export const sagaInstances = sqliteTable(
  "saga_instances",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    saga: text("saga").notNull(),
    instanceKey: text("instance_key").notNull(),
    status: text("status").notNull(),
    stage: text("stage"),
    reason: text("reason"),
    error: text("error"),
    /**
     * The tasks whose compensation the operator's resolve would declare done, a JSON array of
     * their keys (`resolvableTasks`); null on a row last written before the column existed.
     */
    resolvable: text("resolvable", { mode: "json" }).$type<string[]>(),
    /** The saga log position this row reflects; older writes never overwrite newer ones. */
    version: integer("version").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("saga_instances_by_status").on(t.status, t.createdAt, t.id),
    index("saga_instances_by_tenant").on(t.tenantId, t.status, t.createdAt, t.id),
    index("saga_instances_by_created").on(t.createdAt, t.id),
    index("saga_instances_by_tenant_created").on(t.tenantId, t.createdAt, t.id),
  ],
);

/** Circuit breakers as the admin API lists them; written by each breaker's object on transitions. */
export const circuitBreakers = sqliteTable("circuit_breakers", {
  name: text("name").primaryKey(),
  status: text("status").notNull(),
  consecutiveFailures: integer("consecutive_failures").notNull(),
  openedAt: integer("opened_at"),
  lastReason: text("last_reason"),
  version: integer("version").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * Change feeds of the views, read as Durable Streams (`/v1/views/{view}/changes/stream`): one row
 * per fact applied to the generation that serves reads, written in the same D1 batch as the view's
 * own statements (so a change is in the feed exactly when the view shows it). A feed's offsets are
 * its own `position`s, 1, 2, 3… with no gaps, numbered in the insert itself (D1 runs one statement
 * at a time), so a reader learns nothing of other feeds' traffic; `id` orders the table and is
 * never shown. Rows from before positions existed (migration 0004) took their `id` as position,
 * so offsets handed out then still name the same change. See cloud/projections/view-changes.ts.
 */
export const viewChanges = sqliteTable(
  "view_changes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    projection: text("projection").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    seq: integer("seq").notNull(),
    eventType: text("event_type").notNull(),
    recordedAt: integer("recorded_at").notNull(),
    position: integer("position").notNull(),
  },
  (t) => [uniqueIndex("view_changes_by_feed").on(t.tenantId, t.projection, t.position)],
);

/**
 * Dashboard sessions ended before their expiry (signed out): a session's cookie is signed and
 * self-contained, so a copy kept after sign-out would otherwise stay valid for its 8 h. Each row
 * lives until the session would have expired anyway (`expires_at`, ms), then is purged.
 */
export const endedDashboardSessions = sqliteTable(
  "ended_dashboard_sessions",
  {
    id: text("id").primaryKey(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("ended_dashboard_sessions_by_expiry").on(t.expiresAt)],
);
