// The operator's tenant pages: every tenant, creating one (its first API key shown once), and
// suspending or resuming one. A tenant's admin finds none of these (404).
import type { Child } from "hono/jsx";
import { z } from "zod";
import { tenantIdSchema, tenantNameSchema } from "../../../src/core/protocol/identifiers.js";
import { routeTable } from "../../../src/core/http/openapi.js";
import { createTenant, setTenantStatus } from "../../admin/tenant-admin.js";
import { pushTenantPolicy } from "../../admin/tenant-policy-routes.js";
import { allowedTenant, db, type Ctx, type DashboardEnv } from "../context.js";
import { listTenants, type TenantRow } from "../data.js";
import { formRoute, pageRoute } from "../declarations.js";
import { notFound } from "../renderer.js";
import { NewKey } from "./new-key.js";

export const tenantPages = routeTable<DashboardEnv>();

const createTenantForm = z.object({ id: tenantIdSchema, name: tenantNameSchema });

tenantPages.openapi(pageRoute("/tenants", "dashboard.tenants", "all tenants (operator)"), async (c) => {
  if (c.get("session").role !== "operator") return notFound(c);
  return tenantsPage(c, {});
});

tenantPages.openapi(formRoute("/tenants", "dashboard.tenants.create", "create a tenant (operator)"), async (c) => {
  if (c.get("session").role !== "operator") return notFound(c);
  const parsed = createTenantForm.safeParse(await c.req.parseBody());
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    return tenantsPage(c, { error: `The tenant is invalid — ${message}` }, 400);
  }
  const created = await createTenant(db(c), parsed.data.id, parsed.data.name);
  if (!created.ok) return tenantsPage(c, { error: `Tenant ${parsed.data.id} already exists.` }, 409);
  const notice = (
    <NewKey
      tenant={parsed.data.id}
      keyId={created.keyId}
      apiKey={created.apiKey}
      what={`Tenant ${parsed.data.id} created.`}
    />
  );
  return tenantsPage(c, { notice }, 201);
});

for (const [action, status] of [
  ["suspend", "suspended"],
  ["resume", "active"],
] as const) {
  tenantPages.openapi(
    formRoute(`/t/{tenant}/${action}`, `dashboard.tenant.${action}`, `${action} the tenant (operator)`),
    async (c) => {
      const tenant = await allowedTenant(c);
      if (!tenant || c.get("session").role !== "operator") return notFound(c);
      await setTenantStatus(db(c), tenant.id, status);
      await pushTenantPolicy(c.env, tenant.id);
      return c.redirect(`/dashboard/t/${tenant.id}`, 303);
    },
  );
}

async function tenantsPage(
  c: Ctx,
  { error, notice }: { error?: string; notice?: Child },
  status: 200 | 201 | 400 | 409 = 200,
) {
  const tenants = await listTenants(db(c));
  c.status(status);
  return c.render(
    <TenantsPage csrf={c.get("session").csrf} tenants={tenants} error={error}>
      {notice}
    </TenantsPage>,
    { title: "Tenants", current: "Tenants" },
  );
}

function TenantsPage({
  csrf,
  tenants,
  error,
  children,
}: {
  csrf: string;
  tenants: TenantRow[];
  error?: string;
  children?: Child;
}) {
  return (
    <>
      {children}
      {error ? (
        <p class="card error" role="alert">
          {error}
        </p>
      ) : null}
      <section aria-labelledby="create-heading">
        <h2 id="create-heading">Create a tenant</h2>
        <form method="post" action="/dashboard/tenants" class="row">
          <input type="hidden" name="_csrf" value={csrf} />
          <div>
            <label for="tenant-id">Id</label>
            <input
              id="tenant-id"
              name="id"
              required
              pattern="[a-z0-9](?:[a-z0-9\-]{0,38}[a-z0-9])?"
              maxlength={40}
              aria-describedby="tenant-id-help"
            />
          </div>
          <div>
            <label for="tenant-name">Name</label>
            <input id="tenant-name" name="name" required maxlength={200} />
          </div>
          <button type="submit">Create tenant</button>
        </form>
        <p class="muted" id="tenant-id-help">
          Ids are 1-40 of a-z, 0-9 and inner hyphens. The tenant's first API key is shown once.
        </p>
      </section>
      <section aria-labelledby="list-heading">
        <h2 id="list-heading">All tenants</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {tenants.map((t) => (
                <tr>
                  <th scope="row">
                    <a href={`/dashboard/t/${t.id}`}>{t.id}</a>
                  </th>
                  <td>{t.name}</td>
                  <td class={t.status === "active" ? undefined : "bad"}>{t.status}</td>
                  <td>{new Date(t.createdAt).toISOString().slice(0, 16).replace("T", " ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
