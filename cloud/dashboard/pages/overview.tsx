// A tenant's overview (status, live stats and charts, breakers and sagas needing attention, API
// keys) and what can be done from it: issue or revoke a key, retry or compensate a saga. The sagas
// needing attention are paged (`?sagas=<cursor>`) in the admin API's order for them.
import type { Child } from "hono/jsx";
import { routeTable } from "../../../src/core/http/openapi.js";
import {
  describeRefusal,
  isTaskKeyLength,
  MAX_TASK_KEY_CHARS,
  OPERATOR_ACTOR,
  tenantKeyActor,
} from "../../../src/core/model/saga.js";
import { issueKey, listKeys, revokeKey } from "../../admin/tenant-admin.js";
import { pushTenantPolicy } from "../../admin/tenant-policy-routes.js";
import { sagaStub } from "../../stubs.js";
import { allowedTenant, db, liveHref, sagaActionHref, type Ctx, type DashboardEnv } from "../context.js";
import { sagaCursor, sagaCursorPosition, type SagaListPosition } from "../../sagas/saga-list.js";
import { DASHBOARD_SAGAS, openBreakers, overview, sagasNeedingAttention, type TenantRow } from "../data.js";
import { formRoute, pageRoute } from "../declarations.js";
import { AttentionList, OverviewCharts, OverviewStats } from "../panels.js";
import { PostButton } from "../post-button.js";
import { notFound } from "../renderer.js";
import { refusedOverLimit } from "../tenant-work.js";
import { NewKey } from "./new-key.js";

export const overviewPages = routeTable<DashboardEnv>();

overviewPages.openapi(
  pageRoute(
    "/t/{tenant}",
    "dashboard.tenant",
    "the tenant's overview: status, keys, metrics",
    {
      sagas:
        "the page of sagas needing attention after this cursor (a previous page's, or a `next` of " +
        "GET /admin/sagas?status=attention for this tenant); 400 for a cursor no such list gave",
    },
    [400],
  ),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    const cursor = c.req.query("sagas");
    if (cursor === undefined) return overviewPage(c, tenant);
    const after = sagaCursorPosition(cursor, tenant.id);
    if (after === undefined) {
      c.status(400);
      return overviewPage(
        c,
        tenant,
        <p class="card error" role="alert">
          That page of sagas needing attention does not exist: its link is not one this list gives. The first page is
          shown.
        </p>,
      );
    }
    return overviewPage(c, tenant, undefined, after);
  },
);

overviewPages.openapi(
  formRoute("/t/{tenant}/keys", "dashboard.keys.issue", "issue an API key (shown once)"),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    const key = await issueKey(db(c), tenant.id);
    c.status(201);
    return overviewPage(
      c,
      tenant,
      <NewKey tenant={tenant.id} keyId={key.keyId} apiKey={key.apiKey} what="A new API key was issued." />,
    );
  },
);

overviewPages.openapi(
  formRoute("/t/{tenant}/keys/{keyId}/revoke", "dashboard.keys.revoke", "revoke an API key"),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    if (!(await revokeKey(db(c), tenant.id, c.req.param("keyId")))) return notFound(c);
    await pushTenantPolicy(c.env, tenant.id);
    return c.redirect(`/dashboard/t/${tenant.id}`, 303);
  },
);

const sagaActions = {
  retry: "retry a saga that needs attention",
  compensate: "force a saga to compensate",
  resolve: "declare a stuck compensation done by hand (the form's task)",
} as const;

for (const action of ["retry", "compensate", "resolve"] as const) {
  overviewPages.openapi(
    formRoute(`/t/{tenant}/sagas/{id}/${action}`, `dashboard.sagas.${action}`, sagaActions[action]),
    async (c) => {
      const tenant = await allowedTenant(c);
      const id = c.req.param("id");
      // A saga id starts with its tenant: another tenant's saga is simply not found.
      if (!tenant || !id.startsWith(`${tenant.id}:`)) return notFound(c);
      // The page of sagas the form was on (its hidden `sagas`), shown again once the saga is acted on.
      const form = await c.req.parseBody();
      const cursor = typeof form.sagas === "string" ? form.sagas : undefined;
      const page = cursor === undefined ? undefined : sagaCursorPosition(cursor, tenant.id);
      const task = typeof form.task === "string" ? form.task : "";
      if (action === "resolve") {
        if (!isTaskKeyLength(task)) {
          c.status(400);
          const refusal = `the form names no task to resolve (a task key, 1-${MAX_TASK_KEY_CHARS} characters)`;
          return overviewPage(c, tenant, <ActionRefused id={id}>{refusal}</ActionRefused>, page);
        }
        // A declaration no one can take back is confirmed on a page of its own first (nothing is done yet).
        if (form.confirm !== "yes") {
          const fields = { task, confirm: "yes", ...(cursor === undefined ? {} : { sagas: cursor }) };
          return c.render(<ConfirmResolve c={c} tenant={tenant.id} id={id} task={task} fields={fields} />, {
            title: `Resolve ${task}?`,
            tenant: tenant.id,
            current: "Overview",
          });
        }
      }
      const refused = await refusedOverLimit(c, tenant);
      if (refused) return refused;
      const stub = sagaStub(c.env, id);
      const session = c.get("session");
      const by = session.role === "operator" ? OPERATOR_ACTOR : tenantKeyActor(session.keyId);
      const outcome =
        action === "retry"
          ? await stub.retry(by)
          : action === "compensate"
            ? await stub.compensate(by)
            : await stub.resolve(task, by);
      if (!outcome) return notFound(c);
      if (!outcome.ok) {
        c.status(409);
        return overviewPage(
          c,
          tenant,
          <ActionRefused id={id}>{describeRefusal(action, outcome.refusal)}</ActionRefused>,
          page,
        );
      }
      return c.redirect(`/dashboard/t/${tenant.id}${page === undefined ? "" : `?sagas=${cursor}#sagas`}`, 303);
    },
  );
}

/** The question before a resolve: what it records, what it leaves undone, and the button that does it. */
function ConfirmResolve(props: {
  c: Ctx;
  tenant: string;
  id: string;
  task: string;
  fields: Readonly<Record<string, string>>;
}) {
  const back = `/dashboard/t/${props.tenant}${props.fields.sagas === undefined ? "" : `?sagas=${props.fields.sagas}`}#sagas`;
  return (
    <section class="card" aria-label={`Resolve ${props.task}?`}>
      <p>
        Saga <code>{props.id}</code> records the compensation of <code>{props.task}</code> as done and goes on
        compensating without running it. It records nothing that compensation would have: undo the step, and whatever
        the compensation leaves behind (a refund recorded, a key voided), by hand first. If what failed answers again,
        Retry is safer.
      </p>
      <PostButton
        action={sagaActionHref(props.tenant, props.id, "resolve")}
        csrf={props.c.get("session").csrf}
        fields={props.fields}
        buttonClass="danger"
        formClass="inline"
      >
        Resolve {props.task}
      </PostButton>{" "}
      <a href={back}>Cancel</a>
    </section>
  );
}

/** Why an action on saga `id` was not taken, above the overview. */
function ActionRefused({ id, children }: { id: string; children: Child }) {
  return (
    <p class="card error" role="alert">
      Saga <code>{id}</code>: {children}.
    </p>
  );
}

function overviewPage(c: Ctx, tenant: TenantRow, notice?: Child, sagasAfter?: SagaListPosition) {
  return c.render(
    <OverviewPage c={c} tenant={tenant} sagasAfter={sagasAfter}>
      {notice}
    </OverviewPage>,
    { title: `${tenant.name} (${tenant.id})`, tenant: tenant.id, current: "Overview" },
  );
}

async function OverviewPage({
  c,
  tenant,
  sagasAfter,
  children,
}: {
  c: Ctx;
  tenant: TenantRow;
  /** Where the page of sagas needing attention starts (the first page when undefined). */
  sagasAfter?: SagaListPosition | undefined;
  children?: Child;
}) {
  const d = db(c);
  const [o, keys, breakers, sagas] = await Promise.all([
    overview(c.env, d, c.get("app").projections, tenant.id),
    listKeys(d, tenant.id),
    openBreakers(d, tenant.id),
    sagasNeedingAttention(d, tenant.id, sagasAfter),
  ]);
  const overviewHref = `/dashboard/t/${tenant.id}`;
  const pageField = sagasAfter === undefined ? undefined : { sagas: sagaCursor(sagasAfter) };
  const session = c.get("session");
  const csrf = session.csrf;
  return (
    <>
      {children}
      <div data-live={liveHref(tenant.id, "overview")}>
        <p class="muted">
          Status: <strong class={tenant.status === "active" ? undefined : "bad"}>{tenant.status}</strong> · last 30
          minutes, updated live
        </p>
        <div id="stats">
          <OverviewStats o={o} />
        </div>
        <h2>Activity</h2>
        <div id="charts">
          <OverviewCharts o={o} />
        </div>
      </div>
      <div class="grid">
        <AttentionList title="Open circuit breakers" a={breakers} empty="All breakers are closed." />
        <AttentionList
          title="Sagas needing attention"
          id="sagas"
          a={sagas}
          empty={sagasAfter === undefined ? "No saga needs attention." : "No more sagas need attention."}
          footer={
            sagas.items.length === 0 && sagasAfter === undefined ? null : (
              <p class="muted">
                Newest first by when each saga started, {DASHBOARD_SAGAS} a page: a saga keeps its place while it waits.{" "}
                {sagasAfter === undefined ? null : <a href={`${overviewHref}#sagas`}>First page</a>}{" "}
                {sagas.next === null ? null : (
                  <a href={`${overviewHref}?sagas=${sagas.next}#sagas`} rel="next" data-more-sagas>
                    Next page
                  </a>
                )}
              </p>
            )
          }
          actions={{
            csrf,
            // The page's cursor rides along, so the answer shows the page the operator acted on.
            forms: (saga) => [
              { label: "Retry", href: sagaActionHref(tenant.id, saga.name, "retry"), fields: pageField },
              { label: "Compensate", href: sagaActionHref(tenant.id, saga.name, "compensate"), fields: pageField },
              // Once the operator has undone a stuck compensation's step outside the saga.
              ...saga.resolvable.map((task) => ({
                label: `Resolve ${task}: compensated by hand`,
                href: sagaActionHref(tenant.id, saga.name, "resolve"),
                fields: { ...pageField, task },
              })),
            ],
          }}
        />
      </div>
      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">API keys</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Key id</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr>
                  <th scope="row">
                    <code>{k.keyId}</code>
                  </th>
                  <td>{new Date(k.createdAt).toISOString().slice(0, 16).replace("T", " ")}</td>
                  <td>
                    {k.lastUsedAt === null
                      ? "never"
                      : new Date(k.lastUsedAt).toISOString().slice(0, 16).replace("T", " ")}
                  </td>
                  <td>
                    {k.revokedAt !== null ? (
                      "revoked"
                    ) : (
                      <PostButton
                        action={`/dashboard/t/${tenant.id}/keys/${k.keyId}/revoke`}
                        csrf={csrf}
                        formClass="inline"
                        buttonClass="danger"
                        label={`Revoke key ${k.keyId}`}
                      >
                        Revoke
                      </PostButton>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <form method="post" action={`/dashboard/t/${tenant.id}/keys`}>
          <input type="hidden" name="_csrf" value={csrf} />
          <p>
            <button type="submit">Issue a new key</button>
          </p>
        </form>
      </section>
      {session.role === "operator" ? (
        <section aria-labelledby="status-heading">
          <h2 id="status-heading">Tenant status</h2>
          <PostButton
            action={`/dashboard/t/${tenant.id}/${tenant.status === "active" ? "suspend" : "resume"}`}
            csrf={csrf}
            buttonClass={tenant.status === "active" ? "danger" : undefined}
          >
            {tenant.status === "active" ? "Suspend tenant" : "Resume tenant"}
          </PostButton>
        </section>
      ) : null}
    </>
  );
}
