// What the simulator needs of an app: its definitions (the same objects the Worker composes with
// defineApp), a model of each outside service its sagas call, a workload of operations, and the
// app's own invariants. The reference domain's is reference/simulation.ts, the example's examples/todo/simulation.ts.
import type { EntityType } from "../core/model/entity.js";
import type { SagaDefinition, TaskOutcome } from "../core/model/saga.js";
import type { ServiceContract } from "../core/model/service-contract.js";
import type { Prng } from "./prng.js";
import type { World } from "./world.js";

/** A projection as the simulator applies it: its name and the entity types it follows. */
export interface SimProjection {
  readonly name: string;
  readonly follows: readonly string[];
}

/** What a modelled service call gets besides its operation and data (faults come from the world). */
export interface SimCallContext {
  readonly tenant: string;
  readonly idempotencyKey: string;
  readonly world: World;
}

/**
 * An outside service as the simulator models it: by hand, or from the service's contract
 * (`implementContract(contract, handlers)` with handlers taking a `SimCallContext`).
 */
export interface SimService {
  /** The contract it implements, when built from one: the saga runner checks each call against it. */
  readonly contract?: ServiceContract;
  call(operation: string, data: Readonly<Record<string, unknown>>, context: SimCallContext): Promise<TaskOutcome>;
}

/** One client operation: plain data, so a trace prints, shrinks and replays. */
export type Operation =
  | {
      readonly kind: "command";
      readonly tenant: string;
      readonly entityType: string;
      readonly entityId: string;
      readonly command: string;
      readonly data: unknown;
      readonly idempotencyKey?: string;
      /** Send the same request this many extra times (a client retrying). */
      readonly repeats?: number;
      readonly correlationId?: string;
      readonly causationId?: string;
      /** The x-request-id header (the default correlation id). */
      readonly requestId?: string;
      /**
       * An offline client's command identity (Factline-Client-Session / -Seq): the client sends a
       * session's commands to an entity one at a time, in order, each retried until answered.
       */
      readonly session?: { readonly id: string; readonly seq: number };
      /** The API key the client sends (admission decides by it); none for callers inside the platform. */
      readonly key?: string;
    }
  | {
      readonly kind: "app";
      readonly tenant: string;
      readonly name: string;
      readonly args: Readonly<Record<string, string>>;
    }
  | { readonly kind: "rebuild"; readonly tenant: string; readonly projection: string }
  /** A live subscription (SSE) to an entity's events after `after`, open until the run ends. */
  | {
      readonly kind: "subscribe";
      readonly tenant: string;
      readonly key: string;
      readonly entityType: string;
      readonly entityId: string;
      readonly after: number;
    }
  /** The operator suspends or resumes a tenant, or revokes one of its keys. */
  | { readonly kind: "suspend"; readonly tenant: string; readonly suspended: boolean }
  | { readonly kind: "revoke"; readonly tenant: string; readonly key: string }
  | { readonly kind: "operator-retry"; readonly tenant: string }
  | { readonly kind: "wait"; readonly ms: number };

/** Generates a workload: one operation per call, from the app's own view of what exists. */
export interface Workload {
  next(prng: Prng): Operation;
}

export interface SimApp {
  readonly name: string;
  readonly entities: readonly EntityType[];
  readonly sagas: readonly SagaDefinition<unknown>[];
  readonly projections: readonly SimProjection[];
  readonly services: Readonly<Record<string, SimService>>;
  /** A fresh workload for `tenants`. */
  workload(tenants: readonly string[]): Workload;
  /** App-specific operations (e.g. the reference app's settle route), by name. */
  runOperation?(world: World, op: Extract<Operation, { kind: "app" }>): Promise<void>;
  /** Checked after every accepted command, on the entity's new state. */
  checkState?(entityType: string, state: unknown): string | null;
  /** Checked once the system is quiet; each string is one anomaly. */
  checkQuiet?(world: World): string[];
}
