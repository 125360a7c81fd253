// The OpenAPI description of the view routes (cloud/projections/view-routes.ts): a list and a key read per
// projection, with the projection's own filters.
import { z } from "zod";
import { entityIdSchema } from "../../src/core/protocol/identifiers.js";
import type { Operation, Parameter } from "../../src/core/http/openapi.js";
import type { Projection } from "../../src/core/model/projection.js";

const consistency: Parameter = {
  name: "Factline-Consistency",
  in: "header",
  schema: z.string(),
  description: "a command's consistency token: the answer reflects that write, or says Factline-Stale: true",
};

export function viewOperations(projections: readonly Projection[]): Operation[] {
  return projections.flatMap((p): Operation[] => [
    {
      method: "get",
      path: `/v1/views/${p.name}`,
      operationId: `views.${p.name}.list`,
      summary: `list the ${p.name} view`,
      tag: "views",
      auth: "tenant",
      parameters: [
        consistency,
        { name: "limit", in: "query", schema: z.string().regex(/^\d{1,4}$/), description: "1-500, default 100" },
        ...Object.entries(p.filters).map(([name, schema]): Parameter => ({ name, in: "query", schema, description: schema.description ?? name })),
      ],
      responses: { 200: { description: "the rows", content: { kind: "json", schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) }, headers: ["factline-stale"] } },
      problems: [400, 404],
    },
    {
      method: "get",
      path: `/v1/views/${p.name}/{key}`,
      operationId: `views.${p.name}.get`,
      summary: `one row of the ${p.name} view`,
      tag: "views",
      auth: "tenant",
      parameters: [{ name: "key", in: "path", schema: entityIdSchema, description: "the entity id the row is keyed by" }, consistency],
      responses: { 200: { description: "the row", content: { kind: "json", schema: z.record(z.string(), z.unknown()) }, headers: ["factline-stale"] } },
      problems: [400, 404],
    },
  ]);
}
