// The OpenAPI description of the entity routes (edge/entity/entity-routes.ts): one operation per
// entity type and command, with the command's own zod schema as its request body, plus the
// reads, the log and its live stream.
import { z } from "zod";
import type { EntityRegistry } from "../../src/core/model/entity.js";
import { entityIdSchema } from "../../src/core/protocol/identifiers.js";
import type { Operation, Parameter } from "../../src/core/http/openapi.js";

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
const acceptedEvent = recordedEvent.extend({ meta: recordedEvent.shape.meta.pick({ eventId: true, hlc: true, recordedAt: true }) });
const commandResult = z.object({ type: z.string(), id: z.string(), version: z.number().int(), events: z.array(acceptedEvent) });
const entityRead = z.object({ type: z.string(), id: z.string(), version: z.number().int(), state: z.unknown() });
const eventPage = z.object({ events: z.array(recordedEvent), next: z.number().int().nullable() });

const id: Parameter = { name: "id", in: "path", schema: entityIdSchema, description: "the entity's id" };

export function entityOperations(registry: EntityRegistry): Operation[] {
  const types = registry.all().map((t) => t.type);
  const type: Parameter = { name: "type", in: "path", schema: z.enum(types as [string, ...string[]]), description: "the entity type" };
  const commands: Operation[] = registry.all().flatMap((entity) =>
    entity.publicCommandNames.map((command): Operation => ({
      method: "post",
      path: `/v1/entities/${entity.type}/{id}/commands/${command}`,
      operationId: `${entity.type}.${command}`,
      summary: `${command} a ${entity.type} entity`,
      tag: entity.type,
      auth: "tenant",
      parameters: [
        id,
        { name: "Idempotency-Key", in: "header", schema: z.string().regex(/^[\x21-\x7e]{1,255}$/), description: "the same key with the same body returns the stored response; 1-255 visible ASCII, sent once" },
        { name: "If-Match", in: "header", schema: z.string().max(1024), description: 'RFC 9110: "*" (the entity exists) or a list of strong tags such as "3", "4"; a weak tag never matches' },
        { name: "Factline-Cause-Clock", in: "header", schema: z.string().regex(/^\d{15}\.\d{6}$/), description: "the clock of the event that caused this command; at most 5 minutes ahead of the server's" },
        { name: "Factline-Correlation-Id", in: "header", schema: z.string().regex(/^[\x21-\x7e]{1,256}$/), description: "recorded with the events (default: x-request-id)" },
        { name: "Factline-Causation-Id", in: "header", schema: z.string().regex(/^[\x21-\x7e]{1,256}$/), description: "recorded with the events" },
        {
          name: "Factline-Client-Session",
          in: "header",
          schema: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
          description:
            "an offline client's random session id, sent with Factline-Client-Seq (not with Idempotency-Key): the entity decides each numbered command at most once, " +
            "however late it arrives; a retry of the last one decided is answered again (Idempotent-Replayed: true), an earlier one is 409 client-command-answered. " +
            "Commands to one entity must be sent in number order, one at a time. Records are kept 180 days after their last use.",
        },
        { name: "Factline-Client-Seq", in: "header", schema: z.string().regex(/^[1-9]\d{0,15}$/), description: "the command's number in its client session: 1, 2, 3… in the order the client made its commands" },
      ],
      requestBody: entity.commandSchema(command) ?? z.unknown(),
      responses: { 200: { description: "the new version and the events recorded", content: { kind: "json", schema: commandResult }, headers: ["etag", "factline-consistency", "idempotent-replayed"] } },
      problems: [400, 404, 409, 412, 413, 415, 422, 503],
    })),
  );
  return [
    ...commands,
    {
      method: "get",
      path: "/v1/entities/{type}/{id}",
      operationId: "entities.read",
      summary: "an entity's current state and version (strongly consistent)",
      tag: "entities",
      auth: "tenant",
      parameters: [type, id, { name: "at", in: "query", schema: z.string().regex(/^\d{1,15}$/), description: "the state as of this version" }],
      responses: { 200: { description: "the entity", content: { kind: "json", schema: entityRead }, headers: ["etag"] } },
      problems: [400, 404, 503],
    },
    {
      method: "get",
      path: "/v1/entities/{type}/{id}/events",
      operationId: "entities.events",
      summary: "an entity's log, paged; live as Server-Sent Events (Accept: text/event-stream) or a WebSocket (Upgrade)",
      description:
        "Each SSE message is one event as JSON in `data` with `id: <seq>`; a reconnecting EventSource resumes after Last-Event-ID. " +
        "A live stream ends within 60 s of its key's revocation or its tenant's suspension (a WebSocket closes with 4401 or 4403). " +
        "A WebSocket is sent at most 4 MiB of backlog, then closed with 4000: reconnect with ?after= the last seq received.",
      tag: "entities",
      auth: "tenant",
      parameters: [
        type,
        id,
        { name: "after", in: "query", schema: z.string().regex(/^\d{1,15}$/), description: "the last sequence number already seen" },
        { name: "limit", in: "query", schema: z.string().regex(/^\d{1,4}$/), description: "1-1000, default 100" },
        { name: "Last-Event-ID", in: "header", schema: z.string().regex(/^\d{1,15}$/), description: "resume a live stream after this sequence" },
      ],
      responses: {
        200: { description: "a page of the log (or, live, the event stream)", content: { kind: "json", schema: eventPage } },
        101: { description: "switched to a WebSocket carrying one event as JSON per message", content: { kind: "none" } },
      },
      problems: [400, 404, 503],
    },
  ];
}
