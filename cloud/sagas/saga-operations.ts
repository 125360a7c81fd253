// The OpenAPI description of the saga routes (cloud/sagas/saga-admin-routes.ts): sagas needing
// attention and circuit breakers.
import { z } from "zod";
import type { Operation, Parameter } from "../../src/core/http/openapi.js";

const json = (description: string) => ({ description, content: { kind: "json" as const, schema: z.record(z.string(), z.unknown()) } });
const sagaId: Parameter = { name: "id", in: "path", schema: z.string(), description: "tenant:saga:instance" };

function admin(o: Omit<Operation, "tag" | "auth">): Operation {
  return { tag: "sagas", auth: "admin", ...o };
}

export const sagaOperations: readonly Operation[] = [
  admin({ method: "get", path: "/admin/sagas", operationId: "admin.sagas.list", summary: "sagas, those needing attention first", responses: { 200: json("the sagas") } }),
  admin({ method: "get", path: "/admin/sagas/{id}", operationId: "admin.sagas.show", summary: "one saga with its log", parameters: [sagaId], responses: { 200: json("the saga") }, problems: [400, 404] }),
  ...(["retry", "compensate"] as const).map((action) =>
    admin({
      method: "post",
      path: `/admin/sagas/{id}/${action}`,
      operationId: `admin.sagas.${action}`,
      summary: action === "retry" ? "retry a stuck saga's current step" : "compensate a stuck saga",
      parameters: [sagaId],
      responses: { 202: json("the saga") },
      problems: [400, 404, 409],
    }),
  ),
  admin({ method: "get", path: "/admin/breakers", operationId: "admin.breakers", summary: "circuit breakers and their state", responses: { 200: json("the breakers") } }),
];
