// The tenant API for entities: commands, strongly consistent reads, the paged log and live
// streams, each declared once (`createRoute`) with the schemas the router validates with and the
// API document shows. One command route per public command of each entity type, with the
// command's own zod schema as its body. Everything a client sends is validated here, before the
// entity's object is touched, so a bad request records nothing.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { encodeConsistencyToken } from "../../src/core/protocol/consistency-token.js";
import type { EntityRegistry, EntityType } from "../../src/core/model/entity.js";
import { acceptedEvent } from "../../src/core/model/envelope.js";
import { checkCommandMetadata, METADATA_BOUNDS, metadataProblem } from "../../src/core/protocol/command-metadata.js";
import {
  CLIENT_SEQUENCE_RULE,
  CLIENT_SESSION_RULE,
  parseClientSessionHeaders,
} from "../../src/core/protocol/client-session.js";
import { MAX_ENTITY_TAG_LIST_LENGTH } from "../../src/core/protocol/entity-tags.js";
import { commandFingerprint } from "../../src/core/protocol/fingerprint.js";
import { parseIfMatch } from "../../src/core/protocol/if-match.js";
import { ifNoneMatchSatisfied, parseIfNoneMatch } from "../../src/core/protocol/if-none-match.js";
import { entityIdSchema, entityObjectName, entityTypeSchema } from "../../src/core/protocol/identifiers.js";
import { countQuery, json, jsonBody, problems, routeTable, security } from "../../src/core/http/openapi.js";
import { fail, problem, problemResponse, ProblemError } from "../../src/core/http/problem.js";
import { strictJsonBody } from "../../src/core/http/json-body.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { readView, type CommandOutcome, type EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import { acceptedOrThrow } from "../../src/core/protocol/refusable.js";
import {
  AdaptiveLimit,
  COMMAND_LIMIT_POLICY,
  InFlight,
  SHED_RETRY_AFTER_S,
} from "../../src/core/resilience/in-flight.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { entityStub } from "../stubs.js";
import { factHandOff, handOffPorts } from "./fact-handoff.js";

/** The request scope of these routes: the platform's, plus what a command records for the isolate's limit. */
export type EntityScope = RequestScope & {
  /** How long the command waited on its entity's object (ms), for the isolate's command limit. */
  readonly commandRoundTripMs?: number;
};
type EntityEnv = { Bindings: Env; Variables: EntityScope };

const MAX_PAGE = 1000;
/** Commands of each entity (by object name) in flight from this isolate; exported as a test seam. */
export const commandsInFlight = new InFlight();
/** Commands of every entity in flight from this isolate, under a limit that follows queueing delay; a test seam. */
export const isolateCommands = new AdaptiveLimit(COMMAND_LIMIT_POLICY);

// ---- shapes -------------------------------------------------------------------------------------

const recordedEvent = z.object({
  seq: z.number().int(),
  type: z.string(),
  schemaVersion: z.number().int(),
  data: z.unknown(),
  meta: z.object({
    eventId: z.string(),
    tenant: z.string(),
    entityType: z.string(),
    entityId: z.string(),
    hlc: z.string(),
    recordedAt: z.string(),
    correlationId: z.string(),
    causationId: z.string().nullable(),
    idempotencyKey: z.string().nullable(),
    traceparent: z.string().nullable(),
  }),
});
// A command's response leaves out the metadata that echoes the request (see AcceptedEvent).
const acceptedEventShape = recordedEvent.extend({
  meta: recordedEvent.shape.meta.pick({ eventId: true, hlc: true, recordedAt: true }),
});
const commandResult = z.object({
  type: z.string(),
  id: z.string(),
  version: z.number().int(),
  events: z.array(acceptedEventShape),
});
const entityRead = z.object({ type: z.string(), id: z.string(), version: z.number().int(), state: z.unknown() });
const eventPage = z.object({ events: z.array(recordedEvent), next: z.number().int().nullable() });

const SEQ = /^\d{1,15}$/;
const versionTag = z.object({ ETag: z.string().describe('The entity version, e.g. "3"') });
const idParam = entityIdSchema.describe("the entity's id");

/** A recorded id header: visible ASCII, no space, within its bound (command-metadata.ts). */
function metadataHeader(field: keyof typeof METADATA_BOUNDS, label: string, description: string) {
  const max = METADATA_BOUNDS[field];
  return z
    .string()
    .regex(
      new RegExp(`^[\\x21-\\x7e]{1,${max}}$`),
      `${label} must be 1-${max} visible ASCII characters (no spaces; sent once)`,
    )
    .optional()
    .describe(description);
}

/**
 * A conditional header (If-Match, If-None-Match): `*` or a list of entity tags, as `parse` reads
 * it, within the 1,024 characters entity-tags.ts bounds it to; anything else is refused with `rule`.
 */
function entityTagListHeader(parse: (header: string) => unknown, rule: string) {
  return z
    .string()
    .max(MAX_ENTITY_TAG_LIST_LENGTH, { error: rule, abort: true })
    .refine((v) => parse(v) !== undefined, rule);
}

const commandHeaders = z.object({
  "idempotency-key": metadataHeader(
    "idempotencyKey",
    "Idempotency-Key",
    "the same key with the same body returns the stored response; 1-255 visible ASCII, sent once",
  ),
  "if-match": entityTagListHeader(
    parseIfMatch,
    'If-Match must be "*" or a list of entity tags such as "3", "4" (at most 1,024 characters)',
  )
    .optional()
    .describe('RFC 9110: "*" (the entity exists) or a list of strong tags such as "3", "4"; a weak tag never matches'),
  "factline-cause-clock": z
    .string()
    .regex(
      /^\d{15}\.\d{6}$/,
      "Factline-Cause-Clock must be a hybrid logical clock as events carry it: 15 digits, '.', 6 digits",
    )
    .optional()
    .describe("the clock of the event that caused this command; at most 5 minutes ahead of the server's"),
  "factline-correlation-id": metadataHeader(
    "correlationId",
    "Factline-Correlation-Id",
    "recorded with the events (default: x-request-id)",
  ),
  "factline-causation-id": metadataHeader("causationId", "Factline-Causation-Id", "recorded with the events"),
  // Their joint rules (both or neither, never with Idempotency-Key) are parseClientSessionHeaders'.
  "factline-client-session": z
    .string()
    .max(64, CLIENT_SESSION_RULE)
    .optional()
    .describe(
      "an offline client's random session id (16-64 of A-Z a-z 0-9 _ -), sent with Factline-Client-Seq (not with Idempotency-Key): " +
        "the entity decides each numbered command at most once, however late it arrives; a retry of the last one decided is answered again " +
        "(Idempotent-Replayed: true), an earlier one is 409 client-command-answered. Commands to one entity must be sent in number order, " +
        "one at a time. Records are kept 180 days after their last use.",
    ),
  "factline-client-seq": z
    .string()
    .max(16, CLIENT_SEQUENCE_RULE)
    .optional()
    .describe("the command's number in its client session: 1, 2, 3… in the order the client made its commands"),
});

const commandResponseHeaders = versionTag.extend({
  "Factline-Consistency": z.string().describe("A token to present on view reads for read-your-writes"),
  "Idempotent-Replayed": z
    .literal("true")
    .optional()
    .describe(
      "present when a stored answer is given again: an Idempotency-Key's response, or a client session's (its 422 rejection too)",
    ),
});

// ---- routes -------------------------------------------------------------------------------------

/**
 * The tenant API for `entities` (mounted at `/v1/entities`, behind tenant auth): a command route
 * per public command of each type (internal commands, sent by sagas over RPC, have none, so a
 * tenant cannot tell them from commands that do not exist), the read and the log.
 */
export function entityRoutes(entities: EntityRegistry): OpenAPIHono<EntityEnv> {
  const routes = routeTable<EntityEnv>();
  for (const entity of entities.all()) {
    for (const command of entity.publicCommandNames) commandRoute(routes, entity, command);
  }
  readRoutes(routes, entities);
  return routes;
}

function commandRoute(routes: OpenAPIHono<EntityEnv>, entity: EntityType, command: string): void {
  const route = createRoute({
    method: "post",
    path: `/${entity.type}/{id}/commands/${command}`,
    operationId: `${entity.type}.${command}`,
    summary: `${command} a ${entity.type} entity`,
    tags: [entity.type],
    security: security("tenant"),
    middleware: [shedAtTheDoor(entity.type), strictJsonBody()] as const,
    request: {
      params: z.object({ id: idParam }),
      headers: commandHeaders,
      body: jsonBody(entity.commandSchema(command) ?? z.unknown()),
    },
    responses: {
      200: json(commandResult, "the new version and the events recorded", commandResponseHeaders),
      ...problems("tenant", 400, 404, 409, 412, 413, 415, 422, 503),
    },
  });
  routes.openapi(route, async (c) => {
    const address: EntityAddress = {
      tenant: c.get("tenant"),
      entityType: entity.type,
      entityId: c.req.valid("param").id,
    };
    const headers = c.req.valid("header");
    const metadata = {
      idempotencyKey: headers["idempotency-key"] ?? null,
      causeHlc: headers["factline-cause-clock"] ?? null,
      correlationId: headers["factline-correlation-id"] ?? c.get("requestId"),
      causationId: headers["factline-causation-id"] ?? null,
    };
    // The grammar is the router's; what depends on now (the cause clock's drift) is checked here.
    const refused = checkCommandMetadata(metadata, Date.now());
    if (refused) throw new ProblemError(metadataProblem(refused));
    const session = parseClientSessionHeaders(
      headers["factline-client-session"],
      headers["factline-client-seq"],
      metadata.idempotencyKey,
    );
    if (!session.ok) throw new ProblemError(session.problem);
    const ifMatch = headers["if-match"] === undefined ? undefined : parseIfMatch(headers["if-match"]);
    const data = c.req.valid("json");
    // The fingerprint is of the body as sent, not as parsed (defaults filled in).
    const fingerprint =
      metadata.idempotencyKey === null && session.id === null
        ? null
        : await commandFingerprint(command, await c.req.json());

    const sentAt = Date.now();
    const outcome: CommandOutcome = await entityStub(c.env, address).command({
      ...address,
      command,
      data: data as Readonly<Record<string, unknown>>,
      ...metadata,
      fingerprint,
      expectedVersion: null,
      ...(ifMatch === undefined ? {} : { ifMatch }),
      ...(session.id === null ? {} : { clientSession: session.id }),
      traceparent: c.get("traceparent"),
      sentAt,
      callerRelays: true,
    });
    c.set("commandRoundTripMs", Date.now() - sentAt);
    if (!outcome.ok) {
      const refusal: Record<string, string> = {};
      if (outcome.replayed) refusal["idempotent-replayed"] = "true";
      // A 412 names the version the entity is at (RFC 9110 §13.1.1), so the client can retry against it.
      if (outcome.currentVersion !== undefined) refusal.etag = `"${outcome.currentVersion}"`;
      throw new ProblemError(outcome.problem, refusal);
    }
    if (outcome.handOff) c.executionCtx.waitUntil(factHandOff.add(handOffPorts(c.env), address, outcome.handOff));

    const { result } = outcome;
    if (!outcome.replayed) c.set("factsRecorded", result.events.length);
    const responseHeaders: Record<string, string> = {
      etag: `"${result.version}"`,
      "factline-consistency": encodeConsistencyToken({ ...address, seq: result.version }),
    };
    if (outcome.replayed) responseHeaders["idempotent-replayed"] = "true";
    return c.json({ ...result, events: result.events.map(acceptedEvent) }, 200, responseHeaders);
  });
}

/**
 * Sheds a command before any expensive work (reading and validating its body, reaching the
 * object): over the entity's cap of commands waiting from this isolate, or over the isolate's
 * command limit, which follows queueing delay (src/core/resilience/in-flight.ts). A shed answer
 * costs the key check and nothing else: 429 `overloaded` with Retry-After.
 */
function shedAtTheDoor(entityType: string): MiddlewareHandler<EntityEnv> {
  return async (c, next) => {
    const name = entityObjectName(c.get("tenant"), entityType, c.req.param("id") ?? "");
    const maxInFlight = hostConfig(c.env, "edge").entityMaxInFlight;
    if (!commandsInFlight.tryEnter(name, maxInFlight))
      return shed(`${maxInFlight} commands of this entity are already waiting`);
    if (!isolateCommands.tryEnter(Date.now())) {
      commandsInFlight.leave(name);
      return shed(
        `this host is at its limit of ${isolateCommands.limit} commands waiting; commands queue longer than their target`,
      );
    }
    try {
      await next();
    } finally {
      commandsInFlight.leave(name);
      isolateCommands.leave(c.get("commandRoundTripMs"), Date.now());
    }
  };
}

/**
 * A shed command's answer, 429 `overloaded` with Retry-After. Returned, not thrown: no exception
 * unwinds the middleware chain for the answers a flood gets.
 */
function shed(detail: string): Response {
  return problemResponse(problem("overloaded", detail, { retryAfter: SHED_RETRY_AFTER_S }));
}

/**
 * The `{type}` parameter: documented as the app's types. One outside the grammar every type is
 * defined in (`entityTypeSchema`) is malformed (400); another type in it is unknown, answered 404
 * by the handler.
 */
export function entityTypeParam(types: readonly string[]) {
  return entityTypeSchema.meta({ description: "the entity type", enum: [...types] });
}

const readRoute = (types: readonly string[]) =>
  createRoute({
    method: "get",
    path: "/{type}/{id}",
    operationId: "entities.read",
    summary: "an entity's current state and version (strongly consistent)",
    tags: ["entities"],
    security: security("tenant"),
    request: {
      params: z.object({ type: entityTypeParam(types), id: idParam }),
      query: z.object({
        at: z
          .string()
          .regex(SEQ, "at must be a non-negative version number")
          .optional()
          .describe("the state as of this version"),
      }),
      headers: z.object({
        "if-none-match": entityTagListHeader(
          parseIfNoneMatch,
          'If-None-Match must be "*" or a list of entity tags such as "3", W/"4" (at most 1,024 characters)',
        )
          .optional()
          .describe('RFC 9110: "*" or a list of entity tags; 304 when one names this version (weak comparison)'),
      }),
    },
    responses: {
      200: json(entityRead, "the entity", versionTag),
      304: { description: "If-None-Match named this version: the entity is as the client has it", headers: versionTag },
      ...problems("tenant", 400, 404, 503),
    },
  });

const eventsRoute = (types: readonly string[]) =>
  createRoute({
    method: "get",
    path: "/{type}/{id}/events",
    operationId: "entities.events",
    summary: "an entity's log, paged; live as Server-Sent Events (Accept: text/event-stream) or a WebSocket (Upgrade)",
    description:
      "Each SSE message is one event as JSON in `data` with `id: <seq>`; a reconnecting EventSource resumes after Last-Event-ID. " +
      "A live stream ends within 60 s of its key's revocation or its tenant's suspension (a WebSocket closes with 4401 or 4403). " +
      "A WebSocket is sent at most 4 MiB of backlog, then closed with 4000: reconnect with ?after= the last seq received. " +
      "A position (?after= or Last-Event-ID) past the entity's latest seq was never given out: 400 cursor-past-end, naming the latest, in every form.",
    tags: ["entities"],
    security: security("tenant"),
    request: {
      params: z.object({ type: entityTypeParam(types), id: idParam }),
      query: z.object({
        after: z
          .string()
          .regex(SEQ, "after must be a sequence number")
          .optional()
          .describe("the last sequence number already seen"),
        limit: countQuery("limit", 1, MAX_PAGE, 100),
      }),
      headers: z.object({
        "last-event-id": z
          .string()
          .regex(SEQ, "Last-Event-ID must be a sequence number")
          .optional()
          .describe("resume a live stream after this sequence"),
      }),
    },
    responses: {
      101: { description: "switched to a WebSocket carrying one event as JSON per message" },
      200: {
        description: "a page of the log (or, live, the event stream)",
        content: {
          "application/json": { schema: eventPage },
          "text/event-stream": { schema: z.string().describe("one event as JSON per message, id: <seq>") },
        },
      },
      ...problems("tenant", 400, 404, 503),
    },
  });

function readRoutes(routes: OpenAPIHono<EntityEnv>, entities: EntityRegistry): void {
  const types = entities.all().map((e) => e.type);
  routes.openapi(readRoute(types), async (c) => {
    const { entity, address } = resolve(c, entities, c.req.valid("param"));
    const at = c.req.valid("query").at;
    // A log the definition cannot fold is its problem (500 `state-unfoldable`), never a 200 without a state.
    const view = readView(await entityStub(c.env, address).read(address, at === undefined ? null : Number(at)));
    if (!view) throw notFound(address);
    // A version not yet recorded has no state: answering the latest under another number would be
    // a state the caller did not ask for.
    if (at !== undefined && Number(at) > view.version) {
      throw fail("not-found", `${entity.type} ${address.entityId} has no version ${at}: its latest is ${view.version}`);
    }
    const etag = `"${view.version}"`;
    // Evaluated only for an answer that would be 200 (RFC 9110 §13.2.1); the 304 carries the
    // headers the 200 would (ETag here, the cache headers from the app's middleware, §15.4.5).
    const ifNoneMatch = c.req.valid("header")["if-none-match"];
    const condition = ifNoneMatch === undefined ? undefined : parseIfNoneMatch(ifNoneMatch);
    if (condition && !ifNoneMatchSatisfied(condition, view.version)) return c.body(null, 304, { etag });
    return c.json(view, 200, { etag });
  });

  routes.openapi(eventsRoute(types), async (c) => {
    const { address } = resolve(c, entities, c.req.valid("param"));
    const query = c.req.valid("query");
    const lastEventId = c.req.valid("header")["last-event-id"];
    const after = query.after ?? lastEventId ?? "0";
    const limit = query.limit ?? "100";
    const stub = entityStub(c.env, address);
    const live = c.req.header("upgrade")?.toLowerCase() === "websocket" || acceptsEventStream(c.req.header("accept"));
    if (live) {
      // Not Hono's streamSSE: the entity object writes the stream itself, a pull stream that pages
      // its log only as the client reads (live-feed.ts); this route forwards it unbuffered.
      // Last-Event-ID (sent by a reconnecting EventSource) wins over the original ?after=.
      const url = new URL("https://entity/live");
      url.searchParams.set("tenant", address.tenant);
      url.searchParams.set("type", address.entityType);
      url.searchParams.set("id", address.entityId);
      url.searchParams.set("after", lastEventId ?? after);
      url.searchParams.set("key", c.get("keyId") ?? "");
      const stream = await stub.fetch(new Request(url, { headers: c.req.raw.headers }));
      // An SSE response from the object has immutable headers: copy it so the app's headers apply.
      return stream.status === 101 ? stream : new Response(stream.body, stream);
    }
    const read = await stub.events(address, Number(after), Number(limit));
    if (!read) throw notFound(address);
    return c.json(acceptedOrThrow(read).page, 200);
  });
}

/** The entity type and address a read names; an unknown type is not found. */
function resolve(
  c: Context<EntityEnv>,
  entities: EntityRegistry,
  params: { type: string; id: string },
): { entity: EntityType; address: EntityAddress } {
  const entity = entities.get(params.type);
  if (!entity) throw fail("not-found", `no entity type ${params.type}`);
  return { entity, address: { tenant: c.get("tenant"), entityType: entity.type, entityId: params.id } };
}

function notFound(a: EntityAddress): ProblemError {
  return fail("not-found", `no ${a.entityType} ${a.entityId}`);
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
  const json =
    ranges.find((r) => r.range === "application/json") ??
    ranges.find((r) => r.range === "application/*") ??
    ranges.find((r) => r.range === "*/*");
  return json === undefined || sse.weight >= json.weight;
}
