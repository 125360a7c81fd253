// The fault-injection seam: named points in the runtime where a test can make the real code
// misbehave on purpose (fail a send, crash between two steps, stall a consumer). Production never
// arms a point, so each costs one map lookup; the code paths are otherwise the same.

export type FaultPoint =
  /** Before the relay, or a command's caller it handed facts to, puts a batch on the queue: fail the send. */
  | "relay.send"
  /**
   * After the queue accepted a batch, before the outbox is marked: a crash here re-sends. For facts
   * a command's caller sends (edge/entity/fact-handoff.ts): the send's answer lost, so the caller
   * reports a failure and the entity sends them again.
   */
  | "relay.afterSend"
  /** Before the consumer applies one entity's facts: fail or stall that entity's batch. */
  | "consumer.apply"
  /**
   * Before the consumer's D1 `batch()`: throwing fails the write as a D1 error would. Fired for
   * the whole delivery (no entity in the context) and, once that has failed, for each entity's own
   * batch (its address in the context).
   */
  | "consumer.batch"
  /** Before the consumer hands an entity's facts to its sagas: fail that delivery. */
  | "saga.deliver"
  /** At the start of each projection rebuild step: fail the step as a D1 or entity error would. */
  | "rebuild.step"
  /** Before a rebuild step's D1 batch of replayed statements: fail it as a D1 error would. */
  | "rebuild.batch"
  /** After a rebuild switched generations, before it cleaned up: a crash here repeats the finish. */
  | "rebuild.afterSwitch"
  /** Before the admin API pushes a tenant's policy to its gate: fail the push (context: tenant). */
  | "tenant.push"
  /** Before an isolate reads a key's standing from D1 (tenant admission): fail the read. */
  | "tenant.lookup";

/** Points where a test may rewrite what passes through (drop, duplicate, reorder, delay). */
export type TransformPoint =
  /** The batch of facts the relay is about to send; whatever is returned is sent, all is marked sent. */
  "relay.batch";

export interface FaultContext {
  readonly tenant?: string;
  readonly entityType?: string;
  readonly entityId?: string;
}

export type Fault = (context: FaultContext) => void;

const armed = new Map<FaultPoint, Fault>();

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
  fault?.(context);
}

/** Points where a test may hold the runtime across an await, to interleave another actor there. */
export type PausePoint =
  /** After the consumer read generations and checkpoints, before its D1 write. */
  | "consumer.beforeWrite"
  /** After a rebuild's re-scan found no entity behind, before its conditional switch. */
  | "rebuild.beforeSwitch";

/** A test's hold at a pause point: the runtime waits for the promise before it goes on. */
export type Pause = (context: FaultContext) => Promise<void>;
const pauses = new Map<PausePoint, Pause>();

/** Arms a pause (the runtime awaits it at the point); returns the function that disarms it. */
export function armPause(point: PausePoint, pause: Pause): () => void {
  pauses.set(point, pause);
  return () => {
    if (pauses.get(point) === pause) pauses.delete(point);
  };
}

/** Called by the runtime at each pause point: a promise to await, or undefined (never armed in production). */
export function pausePoint(point: PausePoint, context: FaultContext = {}): Promise<void> | undefined {
  return pauses.get(point)?.(context);
}

type Transform = (value: unknown[], context: FaultContext) => unknown[];
const transforms = new Map<TransformPoint, Transform>();

/** Arms a rewrite of the values passing a point; returns the function that disarms it. */
export function armTransform<T>(
  point: TransformPoint,
  transform: (value: T[], context: FaultContext) => T[],
): () => void {
  const t = transform as Transform;
  transforms.set(point, t);
  return () => {
    if (transforms.get(point) === t) transforms.delete(point);
  };
}

/** Called by the runtime where values may be rewritten. */
export function transformPoint<T>(point: TransformPoint, value: T[], context: FaultContext = {}): T[] {
  const t = transforms.get(point);
  return t ? (t(value, context) as T[]) : value;
}

export class InjectedFault extends Error {
  constructor(point: string) {
    super(`injected fault at ${point}`);
    this.name = "InjectedFault";
  }
}
