// The fault-injection seam: named points in the runtime where a test can make the real code
// misbehave on purpose (fail a send, crash between two steps, stall a consumer). Production never
// arms a point, so each costs one map lookup; the code paths are otherwise the same.

export type FaultPoint =
  /** Before the relay hands a batch to the queue: fail the send. */
  | "relay.send"
  /** After the queue accepted a batch, before the outbox is marked: a crash here re-sends. */
  | "relay.afterSend"
  /** Before the consumer applies one entity's facts: fail or stall that entity's batch. */
  | "consumer.apply";

export interface FaultContext {
  readonly tenant?: string;
  readonly entityType?: string;
  readonly entityId?: string;
}

export type Fault = (context: FaultContext) => void;

const armed = new Map<FaultPoint, Fault>();
const injected = new Map<FaultPoint, number>();

/** Arms a fault (it throws to inject a failure); returns the function that disarms it. */
export function armFault(point: FaultPoint, fault: Fault): () => void {
  armed.set(point, fault);
  return () => {
    if (armed.get(point) === fault) armed.delete(point);
  };
}

/** Called by the runtime at each fault point. */
export function faultPoint(point: FaultPoint, context: FaultContext = {}): void {
  const fault = armed.get(point);
  if (!fault) return;
  try {
    fault(context);
  } catch (error) {
    injected.set(point, (injected.get(point) ?? 0) + 1);
    throw error;
  }
}

/** How many failures each point has injected since the start (for reports). */
export function injectedFaults(): ReadonlyMap<FaultPoint, number> {
  return injected;
}

export class InjectedFault extends Error {
  constructor(point: string) {
    super(`injected fault at ${point}`);
    this.name = "InjectedFault";
  }
}
