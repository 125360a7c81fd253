// The definition API an app's domain modules import, in one module: entities, projections,
// sagas, the helpers their code needs, and the testing kits. Pure, like the rest of src/: the
// modules that import it run in a Worker, in Node (the simulator, the kits' specs) and in
// browsers (factline/client runs an entity's decide and evolve offline), so it reaches neither
// edge/ nor cloud/. An app's Worker entry and services import factline.ts, which re-exports all
// of this with the Worker's side (defineApp, the Durable Object classes, services, routes).
// Bundlers keep only what a module uses (nothing here has side effects), so the kits cost a
// Worker or a browser bundle nothing.

// Entities.
export {
  type AnyEntity,
  type CommandBody,
  type CommandNameOf,
  type CommandOf,
  type InternalCommandNameOf,
  type PublicCommandNameOf,
  type DomainEvent,
  defineEntity,
  type Entity,
  type EntityDefinition,
  type EventDataOf,
  type EventNameOf,
  type EventsOf,
  event,
  isRejection,
  type Rejection,
  type RejectionCodeOf,
  reject,
  type TypeNameOf,
} from "./core/model/entity.js";
export type { RecordedEvent } from "./core/model/envelope.js";
// State keyed by a client's strings (README "Defining an entity").
export { hasOwnKey, ownValue, withEntry, withoutEntry } from "./core/model/own-keys.js";
// Ids a command body names (an order's SKU, a member's id): the grammar every entity id is in.
export { entityIdSchema } from "./core/protocol/identifiers.js";

// Projections.
export {
  type ClearScope,
  type Db,
  defineProjection,
  type ListQuery,
  type Projection,
  type ProjectionOf,
  type RowScope,
  type Statement,
} from "./core/model/projection.js";

// Sagas.
export {
  defineSaga,
  defineUntypedSaga,
  type FactOf,
  type FinalSagaTask,
  type SagaDefinition,
  type SagaTask,
  type TaskOutcome,
  type TypedSaga,
} from "./core/model/saga.js";

// Outside services: the contract a saga's calls are checked against (the Worker implements it).
export {
  type ContractService,
  defineServiceContract,
  implementContract,
  type OperationHandlers,
  type ServiceContract,
  type ServiceOperations,
  serviceCall,
} from "./core/model/service-contract.js";

// The testing kits (src/testing/): entities, sagas and projections specified without a Worker.
export { fact } from "./testing/facts.js";
export { ADVERSARIAL_IDS, checkAdversarialIds, scenario } from "./testing/given-when-then.js";
export { projectionScenario } from "./testing/projection-scenario.js";
export { sagaScenario, type SagaScenarioOptions } from "./testing/saga-scenario.js";
