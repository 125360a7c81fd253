// An outside service's contract: its name and, per operation, the schema of the request a saga's
// `call` task sends it. A saga names its calls through the contract (`serviceCall`), so the
// compiler checks the operation and the data; whoever answers the calls (the Worker's service,
// cloud/app.ts `implementService`, or a simulator's model of it) implements the contract
// (`implementContract`), which refuses an unknown operation and parses every request with its
// operation's schema before a handler sees it. Pure, like the saga definitions that import it;
// zod only as types, as in the entity definitions (a schema is used through its own methods).
import type { z } from "zod";
import { checkName, MEMBER_NAME, SEGMENT_NAME } from "../protocol/names.js";
import { describeFieldErrors, fieldErrors } from "./entity.js";
import { ownValue } from "./own-keys.js";
import { jsonIssue } from "./plain-json.js";
import type { ServiceCallAction, TaskOutcome } from "./saga.js";

/** A request as a call task carries it: a JSON object (`ServiceCallAction.data`). */
type Request = Readonly<Record<string, unknown>>;

/** Each operation's request schema, by operation name (a `MEMBER_NAME`: `charge`, `sendReminder`). */
export type ServiceOperations = Readonly<Record<string, z.ZodType<Request, Request>>>;

/**
 * What a service offers sagas: its name (the key an app provides it under, `defineApp({ services })`,
 * and the name a saga declares in its `services`) and its operations' request schemas.
 */
export interface ServiceContract<N extends string = string, Ops extends ServiceOperations = ServiceOperations> {
  readonly name: N;
  readonly operations: Ops;
}

/**
 * `defineServiceContract("notifier", { send: z.object({ listId: z.string(), message: z.string() }) })`.
 * Throws when the name is not a service name (`SEGMENT_NAME`), when there is no operation, or when
 * an operation's name is not a `MEMBER_NAME` (a member of Object.prototype, `toString`, included).
 */
export function defineServiceContract<const N extends string, const Ops extends ServiceOperations>(
  name: N,
  operations: Ops,
): ServiceContract<N, Ops> {
  checkName("service name", SEGMENT_NAME, name);
  const names = Object.keys(operations);
  if (names.length === 0) throw new Error(`service ${name}: its contract declares no operation`);
  for (const operation of names) checkName(`service ${name}: operation name`, MEMBER_NAME, operation);
  return { name, operations };
}

/**
 * Why a saga's runtime refuses `action` against its service's `contract` before the service is
 * reached, or null when the call fits: an operation the contract does not declare (own names
 * only: `toString` is none), or `data` that the operation's request schema (the zod schema
 * `serviceCall` types its request by) refuses. The reason names the service, the operation and
 * each field's zod issue, e.g. `invalid call payment-gateway.charge: currency: Invalid string`.
 * `serviceCall` makes the compiler check the same (types only: not a schema's refinements); a
 * literal `{ kind: "call", … }` task is checked only here. The saga runtime treats a refusal as it
 * treats a call to a service the saga does not declare (`callRefusal`): a forward task is
 * rejected, and a compensation stops the saga for attention at once, since retrying it cannot help.
 */
export function checkServiceCall(contract: ServiceContract, action: ServiceCallAction): string | null {
  // Untyped code (JavaScript, an untyped saga) may build one without (a missing one is refused
  // earlier, as a task that is not plain JSON).
  if (typeof action.operation !== "string") return `invalid call ${contract.name}: its operation is not a string`;
  const call = `invalid call ${contract.name}.${shortened(action.operation)}`;
  const schema = Object.hasOwn(contract.operations, action.operation)
    ? contract.operations[action.operation]
    : undefined;
  if (schema === undefined) return `${call}: the ${contract.name} contract declares no such operation`;
  const request = schema.safeParse(action.data);
  return request.success ? null : `${call}: ${describeFieldErrors(fieldErrors(request.error))}`;
}

/** The operation names of `Ops`. */
export type OperationNameOf<Ops extends ServiceOperations> = Extract<keyof Ops, string>;

/**
 * A `call` task's action checked against `contract`: the operation must be one it declares and
 * `data` its request (the schema's input type), e.g. `serviceCall(notifier, "send", { listId,
 * message })`. `idempotencyKey`, when given, is the resource's own key (see ServiceCallAction),
 * sent as given: one outside the Idempotency-Key grammar stops the saga when its stage is entered.
 * Nothing is parsed here (a saga's `tasks` must not throw): when the call is made the saga runner
 * checks it against the contract (`checkServiceCall`) and rejects one that does not fit, so the
 * saga compensates; typed code can still build one, a request whose types fit but which breaks
 * a refinement of its schema (`.positive()`, `.regex(…)`).
 */
export function serviceCall<N extends string, Ops extends ServiceOperations, O extends OperationNameOf<Ops>>(
  contract: ServiceContract<N, Ops>,
  operation: O,
  data: z.input<Ops[O]>,
  options: { readonly idempotencyKey?: string } = {},
): ServiceCallAction<N> {
  const { idempotencyKey } = options;
  return {
    kind: "call",
    service: contract.name,
    operation,
    data,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  };
}

/** A handler per operation of `Ops`, given the parsed request (the schema's output) and the caller's context `C`. */
export type OperationHandlers<Ops extends ServiceOperations, C> = {
  readonly [O in OperationNameOf<Ops>]: (request: z.output<Ops[O]>, context: C) => Promise<TaskOutcome>;
};

/** A service built from a contract: `call` as a saga host makes it, and the contract it implements. */
export interface ContractService<C, N extends string = string> {
  readonly contract: ServiceContract<N>;
  /**
   * Answers `rejected` for an operation the contract does not declare (own names only: `toString`
   * is none), for a request that is not plain JSON (plain-json.ts: an object of another prototype,
   * whose inherited fields a schema would read) and for one its schema refuses (the reason names
   * each field), else what the
   * operation's handler answers. A handler throws only for bugs (a host records a throw as `failed`).
   */
  call(operation: string, data: Request, context: C): Promise<TaskOutcome>;
}

/**
 * Implements `contract` with `handlers`, one per operation (the compiler requires each and no
 * other). Throws, for code the compiler did not check, when a handler is missing, is not a
 * function, or names an operation the contract does not declare.
 */
export function implementContract<C, N extends string, Ops extends ServiceOperations>(
  contract: ServiceContract<N, Ops>,
  handlers: OperationHandlers<Ops, C>,
): ContractService<C, N> {
  type Handler = (request: Request, context: C) => Promise<TaskOutcome>;
  const byName: Readonly<Record<string, unknown>> = handlers;
  const declared = Object.keys(contract.operations);
  for (const operation of declared)
    if (typeof ownValue(byName, operation) !== "function")
      throw new Error(`service ${contract.name}: no handler for its operation ${operation}`);
  for (const operation of Object.keys(byName))
    if (!Object.hasOwn(contract.operations, operation))
      throw new Error(
        `service ${contract.name}: a handler for ${operation}, an operation its contract does not declare`,
      );
  // Each operation's handler is given what its own schema parsed.
  const bind = <O extends OperationNameOf<Ops>>(operation: O): Handler => {
    const schema = contract.operations[operation] as Ops[O];
    const handler = handlers[operation];
    return async (data, context) => {
      // What a saga sends has crossed a JSON round trip; anything else (inherited fields, which a
      // schema would read) is not a request, whoever calls.
      const notJson = jsonIssue(data, "request");
      if (notJson !== null) return { kind: "rejected", reason: `invalid ${operation} request: ${notJson}` };
      const request = schema.safeParse(data);
      if (!request.success)
        return {
          kind: "rejected",
          reason: `invalid ${operation} request: ${describeFieldErrors(fieldErrors(request.error))}`,
        };
      return handler(request.data, context);
    };
  };
  // A Map, not the records: `toString` or `__proto__` finds no operation.
  const operations = new Map(
    (declared as OperationNameOf<Ops>[]).map((operation) => [operation as string, bind(operation)] as const),
  );
  return {
    contract,
    async call(operation, data, context) {
      const run = operations.get(operation);
      if (run === undefined)
        return {
          kind: "rejected",
          reason: `the ${contract.name} service has no operation ${JSON.stringify(shortened(operation))}`,
        };
      return run(data, context);
    },
  };
}

/** An unknown operation's name as a reason quotes it: a saga's log keeps the reason, so never more than a name's length. */
/** An operation name as a refusal quotes it: at most 64 characters (MEMBER_NAME's longest), then "…". */
export function shortened(operation: string): string {
  const limit = 64; // MEMBER_NAME's longest
  return operation.length > limit ? `${operation.slice(0, limit)}…` : operation;
}
