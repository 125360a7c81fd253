// The OpenAPI description of the tenant admin dashboard (cloud/dashboard/routes.tsx): HTML pages
// and form posts behind a session cookie (sign in with a tenant API key or the admin token).
// Listed so the contract suite can hold every served route to a description.
import { z } from "zod";
import type { Operation, Parameter } from "../../src/core/http/openapi.js";

const tenant: Parameter = { name: "tenant", in: "path", schema: z.string() };
const pathParam = (name: string): Parameter => ({ name, in: "path", schema: z.string() });

function page(path: string, operationId: string, summary: string, parameters: Parameter[] = []): Operation {
  return { method: "get", path, operationId, summary, tag: "dashboard", auth: "none", parameters, responses: { 200: { description: "an HTML page", content: { kind: "html" } } }, problems: [404] };
}

function form(path: string, operationId: string, summary: string, parameters: Parameter[] = []): Operation {
  return {
    method: "post",
    path,
    operationId,
    summary,
    description: "A form post; refused with 403 unless it comes from the dashboard's own origin.",
    tag: "dashboard",
    auth: "none",
    parameters,
    responses: {
      200: { description: "an HTML page", content: { kind: "html" } },
      303: { description: "redirect to the page that shows the result", content: { kind: "none" } },
    },
    problems: [400, 403, 404],
  };
}

export const dashboardOperations: readonly Operation[] = [
  page("/dashboard/sign-in", "dashboard.signIn.page", "the sign-in page"),
  form("/dashboard/sign-in", "dashboard.signIn", "sign in with a tenant API key or the admin token"),
  form("/dashboard/sign-out", "dashboard.signOut", "sign out"),
  page("/dashboard", "dashboard.home", "the dashboard's home (redirects to the signed-in tenant or the tenant list)"),
  page("/dashboard/tenants", "dashboard.tenants", "all tenants (operator)"),
  form("/dashboard/tenants", "dashboard.tenants.create", "create a tenant (operator)"),
  form("/dashboard/t/{tenant}/suspend", "dashboard.tenant.suspend", "suspend the tenant (operator)", [tenant]),
  form("/dashboard/t/{tenant}/resume", "dashboard.tenant.resume", "resume the tenant (operator)", [tenant]),
  page("/dashboard/t/{tenant}", "dashboard.tenant", "the tenant's overview: status, keys, metrics", [tenant]),
  form("/dashboard/t/{tenant}/keys", "dashboard.keys.issue", "issue an API key (shown once)", [tenant]),
  form("/dashboard/t/{tenant}/keys/{keyId}/revoke", "dashboard.keys.revoke", "revoke an API key", [tenant, pathParam("keyId")]),
  page("/dashboard/t/{tenant}/views", "dashboard.views", "the tenant's views", [tenant]),
  page("/dashboard/t/{tenant}/projections", "dashboard.projections", "projection lag and rebuilds", [tenant]),
  form("/dashboard/t/{tenant}/projections/{name}/rebuild", "dashboard.projections.rebuild", "rebuild a projection", [tenant, pathParam("name")]),
  form("/dashboard/t/{tenant}/sagas/{id}/retry", "dashboard.sagas.retry", "retry a saga that needs attention", [tenant, pathParam("id")]),
  form("/dashboard/t/{tenant}/sagas/{id}/compensate", "dashboard.sagas.compensate", "force a saga to compensate", [tenant, pathParam("id")]),
  page("/dashboard/t/{tenant}/dead-letters", "dashboard.deadLetters", "dead letters", [tenant]),
  form("/dashboard/t/{tenant}/dead-letters/{id}/replay", "dashboard.deadLetters.replay", "replay a dead letter", [tenant, pathParam("id")]),
  form("/dashboard/t/{tenant}/parked-facts/{id}/acknowledge", "dashboard.parkedFacts.acknowledge", "acknowledge a parked fact (too large for the queue)", [tenant, pathParam("id")]),
  page("/dashboard/t/{tenant}/entities", "dashboard.entities", "look up an entity", [tenant]),
  {
    ...page("/dashboard/t/{tenant}/entities/{type}/{id}/stream", "dashboard.entity.stream", "an entity's live log for the page", [tenant, pathParam("type"), pathParam("id")]),
    responses: { 200: { description: "Server-Sent Events", content: { kind: "event-stream" } } },
  },
  {
    ...page("/dashboard/t/{tenant}/live", "dashboard.live", "live metrics for the page", [tenant]),
    responses: { 200: { description: "Server-Sent Events", content: { kind: "event-stream" } } },
  },
];
