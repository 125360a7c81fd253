// An app's own tenant routes and services reach the app's entities through here (factline.ts
// re-exports it), typed by the entity's definition: a command is parsed by the entity's schema as
// at the tenant API's boundary and sent to the entity's object under the caller's tenant,
// correlation and trace, so neither builds an envelope or names an object.
import type { Context } from "hono";
import type { AnyEntity, CommandBody, CommandNameOf } from "../../src/core/model/entity.js";
import { problem, ProblemError } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { type CommandOutcome, type EntityAddress, readView } from "../../src/core/protocol/entity-protocol.js";
import { commandFingerprint } from "../../src/core/protocol/fingerprint.js";
import { entityIdRefusal } from "../../src/core/entity/command-host.js";
import { entityStub } from "../stubs.js";

/** The state type an entity's definition declares (its `initialState`'s type). */
export type StateOf<X extends AnyEntity> = X["definition"] extends { readonly initialState: infer S } ? S : unknown;

/** One entity type of the app, as a tenant route sees it. */
export interface EntityClient<X extends AnyEntity> {
  /**
   * The entity `id`'s current state and version, or null when it has no events. Throws a
   * `ProblemError` (rendered as problem+json) for an id outside the entity id grammar (400
   * `malformed-request`) or a log that cannot be folded into a state (500 `state-unfoldable`).
   */
  read(id: string): Promise<{ readonly version: number; readonly state: StateOf<X> } | null>;
  /**
   * Runs `command` with `data` on the entity `id`, internal commands included (a route is the
   * platform's, not a tenant's, caller). Answers the command's outcome: its result (`replayed`
   * when `idempotencyKey` was used before with the same data), or its refusal as a problem the
   * route may pass on (`new ProblemError(outcome.problem)`) or map: 400 `malformed-request` for a
   * bad id or idempotency key (1-255 visible ASCII characters), 404 for a command the entity does
   * not have (only an untyped caller can name one), 400 `validation-failed` for data the command's
   * schema refuses (per-field `errors`), 422 the domain's rejection (its `code`), 422
   * `idempotency-key-reused`, 429 or 503 with `retryAfter` when the entity sheds it. The result's
   * events carry their whole metadata (the tenant's own: correlation, causation, key, trace).
   * An idempotency key is the entity's: it replays what this entity decided for the same command
   * and data, whichever caller used it first.
   */
  command<K extends CommandNameOf<X>>(
    id: string,
    command: K,
    data: CommandBody<X, K>,
    options?: { readonly idempotencyKey?: string },
  ): Promise<CommandOutcome>;
}

/**
 * The client of `entity` for the tenant route serving `c`: its tenant is the request's (set by
 * tenant authentication, so only routes mounted with `defineApp({ tenantRoutes })` have one; any
 * other use is a bug and throws), its correlation id the request id, its trace the request's.
 */
export function entityClient<X extends AnyEntity>(
  c: Context<{ Bindings: Env; Variables: RequestScope }>,
  entity: X,
): EntityClient<X> {
  const tenant = c.get("tenant");
  if (tenant === undefined) throw new Error("entityClient serves tenant routes: this request has no tenant");
  return entityClientFor(
    c.env,
    { tenant, correlationId: c.get("requestId"), traceparent: c.get("traceparent") },
    entity,
  );
}

/** Whom an entity client acts for: the tenant, and the correlation id and trace its commands carry. */
export interface EntityCaller {
  readonly tenant: string;
  readonly correlationId: string;
  readonly traceparent: string | null;
}

/**
 * The client of `entity` for a caller without a request of its own, such as a saga's service
 * (`ServiceCallContext` gives its `env` and `tenant`; its idempotency key makes a correlation id).
 */
export function entityClientFor<X extends AnyEntity>(env: Env, caller: EntityCaller, entity: X): EntityClient<X> {
  const at = (id: string): EntityAddress => ({ tenant: caller.tenant, entityType: entity.type, entityId: id });
  return {
    async read(id) {
      const badId = entityIdRefusal(id);
      if (badId) throw new ProblemError(badId);
      const address = at(id);
      const view = readView(await entityStub(env, address).read(address, null));
      return view === null ? null : { version: view.version, state: view.state as StateOf<X> };
    },
    async command(id, command, data, options = {}) {
      // Checked here too (the object checks every envelope): a malformed id wakes no object.
      const badId = entityIdRefusal(id);
      if (badId) return { ok: false, problem: badId };
      const parsed = entity.parseCommand(command, data);
      // Typed callers cannot get here; a route forwarding a client's command name can.
      if (!parsed) return { ok: false, problem: problem("not-found", `${entity.type} has no command ${command}`) };
      if (!parsed.ok)
        return {
          ok: false,
          problem: problem("validation-failed", `${entity.type}.${command}: the data is invalid`, {
            errors: parsed.errors,
          }),
        };
      const idempotencyKey = options.idempotencyKey ?? null;
      const address = at(id);
      return entityStub(env, address).command({
        ...address,
        command,
        data: parsed.command.data as Readonly<Record<string, unknown>>,
        idempotencyKey,
        // Of the data as given, as the tenant API fingerprints the body as sent.
        fingerprint: idempotencyKey === null ? null : await commandFingerprint(command, data),
        expectedVersion: null,
        causeHlc: null,
        correlationId: caller.correlationId,
        causationId: null,
        traceparent: caller.traceparent,
      });
    },
  };
}
