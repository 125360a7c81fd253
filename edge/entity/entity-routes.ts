// The tenant API for entities: commands, strongly consistent reads, the paged log and live
// streams. Everything a client sends is validated here, before the entity's object is touched,
// so a bad request records nothing.
import { Hono, type Context } from "hono";
import { encodeConsistencyToken } from "../../src/core/protocol/consistency-token.js";
import type { EntityRegistry, EntityType } from "../../src/core/model/entity.js";
import { acceptedEvent } from "../../src/core/model/envelope.js";
import { checkCommandMetadata, metadataProblem } from "../../src/core/protocol/command-metadata.js";
import { parseClientSessionHeaders } from "../../src/core/protocol/client-session.js";
import { commandFingerprint } from "../../src/core/protocol/fingerprint.js";
import { parseIfMatch } from "../../src/core/protocol/if-match.js";
import { entityIdSchema, entityObjectName } from "../../src/core/protocol/identifiers.js";
import { problem, problemResponse, type Problem } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import type { CommandOutcome, EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import { InFlight, SHED_RETRY_AFTER_S } from "../../src/core/resilience/in-flight.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { readJsonBody } from "../../src/core/http/request-body.js";
import { entityStub } from "../stubs.js";

/** The request scope of these routes: the platform's, plus the app's entity types. */
export type EntityScope = RequestScope & { readonly entities: EntityRegistry };
type AppContext = Context<{ Bindings: Env; Variables: EntityScope }>;

const MAX_PAGE = 1000;
/** Commands of each entity (by object name) in flight from this isolate; exported as a test seam. */
export const commandsInFlight = new InFlight();

/**
 * The tenant API for `entities` (mounted at `/v1/entities`, behind tenant auth): the handlers
 * below are shared by every app; each app's routes carry its own registry into their scope.
 */
export function entityRoutes(entities: EntityRegistry): Hono<{ Bindings: Env; Variables: EntityScope }> {
  const mounted = new Hono<{ Bindings: Env; Variables: EntityScope }>();
  mounted.use("*", async (c, next) => {
    c.set("entities", entities);
    await next();
  });
  mounted.route("/", routes);
  return mounted;
}

const routes = new Hono<{ Bindings: Env; Variables: EntityScope }>();

routes.post("/:type/:id/commands/:command", async (c) => {
  const target = resolve(c);
  if ("problem" in target) return problemResponse(target.problem);
  const { entity, address } = target;
  const commandName = c.req.param("command");
  // Internal commands (sent by sagas and platform routes over RPC) are not found here, exactly as
  // a command that does not exist, so a tenant cannot tell them apart or reach them.
  if (!entity.isPublicCommand(commandName)) {
    return problemResponse(problem("not-found", `${entity.type} has no command ${commandName}`));
  }

  const metadata = {
    idempotencyKey: c.req.header("idempotency-key") ?? null,
    causeHlc: c.req.header("factline-cause-clock") ?? null,
    correlationId: c.req.header("factline-correlation-id") ?? c.var.requestId,
    causationId: c.req.header("factline-causation-id") ?? null,
  };
  const refused = checkCommandMetadata(metadata, Date.now());
  if (refused) return problemResponse(metadataProblem(refused));
  const session = parseClientSessionHeaders(c.req.header("factline-client-session"), c.req.header("factline-client-seq"), metadata.idempotencyKey);
  if (!session.ok) return problemResponse(session.problem);
  const ifMatchHeader = c.req.header("if-match");
  const ifMatch = ifMatchHeader === undefined ? undefined : parseIfMatch(ifMatchHeader);
  if (ifMatchHeader !== undefined && ifMatch === undefined) {
    return problemResponse(
      problem("malformed-request", 'If-Match must be "*" or a list of entity tags such as "3", "4"', {
        errors: [{ path: "If-Match", message: "not an RFC 9110 If-Match value" }],
      }),
    );
  }

  const body = await readJsonBody(c.req.raw);
  if (!body.ok) return problemResponse(body.problem);
  const parsed = entity.parseCommand(commandName, body.value);
  if (!parsed?.ok) {
    return problemResponse(
      problem("validation-failed", `the ${commandName} command is invalid`, { errors: parsed?.errors ?? [] }),
    );
  }

  const fingerprint = metadata.idempotencyKey === null && session.id === null ? null : await commandFingerprint(commandName, body.value);
  // Shed before the object is reached when this isolate already has the entity's fill waiting.
  const name = entityObjectName(address.tenant, address.entityType, address.entityId);
  const maxInFlight = hostConfig(c.env, "edge").entityMaxInFlight;
  if (!commandsInFlight.tryEnter(name, maxInFlight)) {
    return problemResponse(problem("overloaded", `${maxInFlight} commands of this entity are already waiting`, { retryAfter: SHED_RETRY_AFTER_S }));
  }
  let outcome: CommandOutcome;
  try {
    outcome = await entityStub(c.env, address).command({
      ...address,
      command: commandName,
      data: parsed.command.data,
      ...metadata,
      fingerprint,
      expectedVersion: null,
      ...(ifMatch === undefined ? {} : { ifMatch }),
      ...(session.id === null ? {} : { clientSession: session.id }),
      traceparent: c.var.traceparent,
      sentAt: Date.now(),
    });
  } finally {
    commandsInFlight.leave(name);
  }
  if (!outcome.ok) return problemResponse(outcome.problem);

  const { result } = outcome;
  if (!outcome.replayed) c.set("factsRecorded", result.events.length);
  const headers: Record<string, string> = {
    etag: `"${result.version}"`,
    "factline-consistency": encodeConsistencyToken({ ...address, seq: result.version }),
  };
  if (outcome.replayed) headers["idempotent-replayed"] = "true";
  return c.json({ ...result, events: result.events.map(acceptedEvent) }, 200, headers);
});

routes.get("/:type/:id", async (c) => {
  const target = resolve(c);
  if ("problem" in target) return problemResponse(target.problem);
  const at = c.req.query("at");
  if (at !== undefined && !/^\d{1,15}$/.test(at)) {
    return problemResponse(problem("malformed-request", "at must be a non-negative version number"));
  }
  const view = await entityStub(c.env, target.address).read(target.address, at === undefined ? null : Number(at));
  if (!view) return problemResponse(notFound(target.address));
  // A version not yet recorded has no state: answering the latest under another number would be
  // a state the caller did not ask for.
  if (at !== undefined && Number(at) > view.version) {
    const { entityType, entityId } = target.address;
    return problemResponse(problem("not-found", `${entityType} ${entityId} has no version ${at}: its latest is ${view.version}`));
  }
  return c.json(view, 200, { etag: `"${view.version}"` });
});

routes.get("/:type/:id/events", async (c) => {
  const target = resolve(c);
  if ("problem" in target) return problemResponse(target.problem);
  const after = c.req.query("after") ?? c.req.header("last-event-id") ?? "0";
  const limit = c.req.query("limit") ?? "100";
  if (!/^\d{1,15}$/.test(after)) return problemResponse(problem("malformed-request", "after must be a sequence number"));
  if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE) {
    return problemResponse(problem("malformed-request", `limit must be between 1 and ${MAX_PAGE}`));
  }
  const stub = entityStub(c.env, target.address);
  const live = c.req.header("upgrade")?.toLowerCase() === "websocket" || acceptsEventStream(c.req.header("accept"));
  if (live) {
    // Last-Event-ID (sent by a reconnecting EventSource) wins over the original ?after=.
    const resumeAfter = c.req.header("last-event-id") ?? after;
    if (!/^\d{1,15}$/.test(resumeAfter)) return problemResponse(problem("malformed-request", "Last-Event-ID must be a sequence number"));
    const url = new URL("https://entity/live");
    url.searchParams.set("tenant", target.address.tenant);
    url.searchParams.set("type", target.address.entityType);
    url.searchParams.set("id", target.address.entityId);
    url.searchParams.set("after", resumeAfter);
    url.searchParams.set("key", c.var.keyId ?? "");
    const live = await stub.fetch(new Request(url, { headers: c.req.raw.headers }));
    // An SSE response from the object has immutable headers: copy it so the app's headers apply.
    return live.status === 101 ? live : new Response(live.body, live);
  }
  const page = await stub.events(target.address, Number(after), Number(limit));
  if (!page) return problemResponse(notFound(target.address));
  return c.json(page);
});

function resolve(c: AppContext): { entity: EntityType; address: EntityAddress } | { problem: Problem } {
  const type = c.req.param("type") ?? "";
  const id = c.req.param("id") ?? "";
  const entity = c.var.entities.get(type);
  if (!entity) return { problem: problem("not-found", `no entity type ${type}`) };
  if (!entityIdSchema.safeParse(id).success) {
    return { problem: problem("malformed-request", "an entity id is 1-128 of A-Z a-z 0-9 . _ ~ - (not '.' or '..')") };
  }
  return { entity, address: { tenant: c.var.tenant, entityType: type, entityId: id } };
}

function notFound(a: EntityAddress): Problem {
  return problem("not-found", `no ${a.entityType} ${a.entityId}`);
}

/**
 * Whether the client asked for the log as Server-Sent Events: `text/event-stream` named in
 * `Accept` with a non-zero weight no lower than JSON's (RFC 9110 §12.5.1: `q=0` means "not
 * acceptable"). A wildcard alone never opens a stream: a plain client gets the JSON page.
 */
export function acceptsEventStream(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const ranges = accept.split(",").flatMap((element) => {
    const [range = "", ...parameters] = element.split(";").map((p) => p.trim().toLowerCase());
    if (range === "") return [];
    const q = parameters.find((p) => p.startsWith("q="));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    return [{ range, weight: Number.isFinite(weight) ? weight : 0 }];
  });
  const sse = ranges.find((r) => r.range === "text/event-stream");
  if (sse === undefined || sse.weight <= 0) return false;
  const json = ranges.find((r) => r.range === "application/json") ?? ranges.find((r) => r.range === "application/*") ?? ranges.find((r) => r.range === "*/*");
  return json === undefined || sse.weight >= json.weight;
}
