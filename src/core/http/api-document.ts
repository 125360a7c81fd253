// The whole API's OpenAPI document: the platform's own routes (health, this document, the
// reference page) plus the operations each route module declares, built once per isolate.
import { z } from "zod";
import { openApiDocument, type Operation } from "./openapi.js";

export const platformOperations: readonly Operation[] = [
  {
    method: "get",
    path: "/healthz",
    operationId: "healthz",
    summary: "liveness check",
    tag: "platform",
    auth: "none",
    responses: { 200: { description: "up", content: { kind: "json", schema: z.object({ status: z.literal("ok") }) } } },
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    summary: "this document (OpenAPI 3.1)",
    tag: "platform",
    auth: "none",
    responses: { 200: { description: "the OpenAPI document", content: { kind: "json", schema: z.record(z.string(), z.unknown()) } } },
  },
  {
    method: "get",
    path: "/docs",
    operationId: "docs",
    summary: "the API reference, rendered from this document",
    tag: "platform",
    auth: "none",
    responses: { 200: { description: "an HTML page", content: { kind: "html" } } },
  },
];

export function apiDocument(operations: () => readonly Operation[]): () => Record<string, unknown> {
  let built: Record<string, unknown> | undefined;
  return () =>
    (built ??= openApiDocument(
      {
        title: "Factline",
        version: "1",
        description:
          "Event-sourced entities at the edge, read models in D1. Tenant routes take `Authorization: Bearer <tenant api key>`; admin routes take the ADMIN_TOKEN. Errors are application/problem+json.",
      },
      [...platformOperations, ...operations()],
    ));
}
