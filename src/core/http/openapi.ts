// The OpenAPI 3.1 document of the HTTP API, built from operation descriptions that sit next to
// the routes and from the same zod schemas that validate requests, so the document cannot drift
// from what the API accepts. Errors are described once, from the problem catalogue.
import { z } from "zod";
import { problemCatalogue } from "./problem.js";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete" | "options";

export interface Parameter {
  readonly name: string;
  readonly in: "path" | "query" | "header";
  readonly schema: z.ZodType;
  readonly description?: string;
  readonly required?: boolean;
}

export type Content =
  | { readonly kind: "json"; readonly schema: z.ZodType }
  | { readonly kind: "html" }
  | { readonly kind: "event-stream" }
  | { readonly kind: "none" };

export interface Operation {
  readonly method: HttpMethod;
  /** OpenAPI path template, e.g. `/v1/entities/{type}/{id}`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly auth: "tenant" | "admin" | "none";
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: z.ZodType;
  /** Success responses by status. */
  readonly responses: Readonly<Record<number, { readonly description: string; readonly content: Content; readonly headers?: readonly string[] }>>;
  /** Error statuses this operation may answer (as problem+json), beyond those of its auth. */
  readonly problems?: readonly number[];
}

const RESPONSE_HEADERS: Record<string, { description: string; schema: object }> = {
  etag: { description: 'The entity version, e.g. "3"', schema: { type: "string" } },
  "factline-consistency": { description: "A token to present on view reads for read-your-writes", schema: { type: "string" } },
  "factline-stale": { description: "present (true) when a view could not yet reflect a presented token", schema: { type: "string", enum: ["true"] } },
  "idempotent-replayed": { description: "present (true) when the stored response of an Idempotency-Key is returned", schema: { type: "string", enum: ["true"] } },
  "retry-after": { description: "seconds to wait before retrying", schema: { type: "integer" } },
};

const AUTH_PROBLEMS = { tenant: [401, 403, 429], admin: [401], none: [] } as const;

/** JSON Schema of a zod schema as a request (input) or response (output) body. */
export function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument(info: { title: string; version: string; description: string }, operations: readonly Operation[]): Record<string, unknown> {
  const catalogue = problemCatalogue();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const item = (paths[op.path] ??= {});
    if (item[op.method]) throw new Error(`operation documented twice: ${op.method.toUpperCase()} ${op.path}`);
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(op.responses)) {
      responses[status] = {
        description: r.description,
        ...content(r.content),
        ...(r.headers?.length ? { headers: Object.fromEntries(r.headers.map((h) => [h, RESPONSE_HEADERS[h] ?? { schema: { type: "string" } }])) } : {}),
      };
    }
    const statuses = [...new Set([...AUTH_PROBLEMS[op.auth], ...(op.problems ?? []), 500])].sort((a, b) => a - b);
    for (const status of statuses) {
      const kinds = catalogue.filter((p) => p.status === status);
      responses[String(status)] = {
        description: kinds.map((k) => k.title).join("; ") || "Error",
        content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        ...(status === 429 || status === 503 ? { headers: { "retry-after": RESPONSE_HEADERS["retry-after"] } } : {}),
      };
    }
    item[op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      tags: [op.tag],
      security: op.auth === "tenant" ? [{ tenantKey: [] }] : op.auth === "admin" ? [{ adminToken: [] }] : [],
      parameters: (op.parameters ?? []).map((p) => ({
        name: p.name,
        in: p.in,
        required: p.in === "path" ? true : (p.required ?? false),
        ...(p.description ? { description: p.description } : {}),
        schema: jsonSchema(p.schema, "input"),
      })),
      ...(op.requestBody ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(op.requestBody, "input") } } } } : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info,
    paths,
    components: {
      securitySchemes: {
        tenantKey: { type: "http", scheme: "bearer", description: "A tenant API key (fl_…), shown once when issued" },
        adminToken: { type: "http", scheme: "bearer", description: "The ADMIN_TOKEN Workers secret" },
      },
      schemas: {
        Problem: {
          type: "object",
          description: "RFC 9457 problem details",
          required: ["type", "title", "status", "detail"],
          properties: {
            type: { type: "string", enum: catalogue.map((p) => p.type) },
            title: { type: "string" },
            status: { type: "integer" },
            detail: { type: "string" },
            code: { type: "string", description: "the domain's own reason for a business-rule rejection" },
            errors: {
              type: "array",
              items: { type: "object", required: ["path", "message"], properties: { path: { type: "string" }, message: { type: "string" } } },
            },
          },
        },
      },
    },
  };
}

function content(c: Content): Record<string, unknown> {
  switch (c.kind) {
    case "json":
      return { content: { "application/json": { schema: jsonSchema(c.schema, "output") } } };
    case "html":
      return { content: { "text/html": { schema: { type: "string" } } } };
    case "event-stream":
      return { content: { "text/event-stream": { schema: { type: "string", description: "one event as JSON per message, id: <seq>" } } } };
    case "none":
      return {};
  }
}
