// factline/client: the offline-first client library (README "Build an offline-first app").
// Browsers and Node; imports only the platform's pure core (src/core), never edge/ or cloud/.
// The file outbox for Node is its own entry (factline/client/file-outbox), so browser bundles
// never see node:fs.
export {
  COMMAND_TIMEOUT_MS,
  createClient,
  FactlineClient,
  LIVE_SILENCE_MS,
  type ClientOptions,
  type ConnectionState,
  type Enqueued,
  type EntityHandle,
  type PendingCommand,
  type StateOf,
  type SyncStatus,
  ViewError,
} from "./factline-client.js";
export {
  MemoryOutboxStore,
  OutboxInUseError,
  OutboxOwnerError,
  type CommandProblem,
  type ConfirmedState,
  type OutboxContents,
  type OutboxStore,
  type QueuedCommand,
  type RejectedCommand,
} from "./outbox.js";
export { openIndexedDbOutbox } from "./indexeddb-outbox.js";
