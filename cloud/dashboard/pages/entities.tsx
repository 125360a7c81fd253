// Looking up one entity: its state at any version, its log, and (for the whole log on one page)
// the log live, through the entity's own stream.
import type { HtmlEscapedString } from "hono/utils/html";
import { routeTable } from "../../../src/core/http/openapi.js";
import { fail, type Problem } from "../../../src/core/http/problem.js";
import type { EntityAddress } from "../../../src/core/protocol/entity-protocol.js";
import { entityIdSchema } from "../../../src/core/protocol/identifiers.js";
import { entityStub } from "../../stubs.js";
import { allowedTenant, nonceOf, type Ctx, type DashboardEnv } from "../context.js";
import { pageRoute, streamRoute } from "../declarations.js";
import { EntityFinder, EntityView, TIMELINE_SCRIPT } from "../entity-page.js";
import { notFound } from "../renderer.js";
import { endsWithSession } from "../session-bound-stream.js";
import { refusedOverLimit } from "../tenant-work.js";

export const entityPages = routeTable<DashboardEnv>();

const SEQ = /^\d{1,15}$/;

entityPages.openapi(
  pageRoute(
    "/t/{tenant}/entities",
    "dashboard.entities",
    "look up an entity",
    { type: "the entity type", id: "the entity id", at: "a past version" },
    [400, 429],
  ),
  async (c) => {
    const tenant = await allowedTenant(c);
    if (!tenant) return notFound(c);
    const types = c
      .get("app")
      .entities.all()
      .map((e) => e.type);
    const type = c.req.query("type") ?? types[0] ?? "";
    const id = c.req.query("id") ?? "";
    const at = c.req.query("at");
    const action = `/dashboard/t/${tenant.id}/entities`;
    const finder = <EntityFinder action={action} types={types} type={type} id={id} />;
    const page = (
      body: HtmlEscapedString | Promise<HtmlEscapedString>,
      title = "Entities",
      status: 200 | 400 | 404 | 500 = 200,
    ) => {
      c.status(status);
      return c.render(body, { title, tenant: tenant.id, current: "Entities" });
    };
    if (id === "") return page(finder);
    if (
      !c.get("app").entities.get(type) ||
      !entityIdSchema.safeParse(id).success ||
      (at !== undefined && !SEQ.test(at))
    ) {
      return page(
        <>
          {finder}
          <p class="card error" role="alert">
            Choose an entity type and an id of 1-128 letters, digits or . _ ~ -.
          </p>
        </>,
        "Entities",
        400,
      );
    }
    const refused = await refusedOverLimit(c, tenant);
    if (refused) return refused;
    const address: EntityAddress = { tenant: tenant.id, entityType: type, entityId: id };
    const stub = entityStub(c.env, address);
    const [current, view, log] = await Promise.all([
      stub.read(address, null),
      stub.read(address, at === undefined ? null : Number(at)),
      stub.events(address, 0, 200),
    ]);
    if (!current || !view || !log?.ok) {
      return page(
        <>
          {finder}
          <p class="card" role="status">
            No {type} {id} has recorded anything.
          </p>
        </>,
        "Entities",
        404,
      );
    }
    // The log holds what the definition cannot fold: say so (the log itself is still served by /v1).
    const unfoldable = (problem: Problem) =>
      page(
        <>
          {finder}
          <p class="card error" role="alert">
            {problem.detail}
          </p>
        </>,
        `${type}/${id}`,
        500,
      );
    if (!current.ok) return unfoldable(current.problem);
    if (!view.ok) return unfoldable(view.problem);
    const latest = current.view.version;
    // As the tenant API's `?at=`: a version not yet recorded has no state to show under its number.
    if (at !== undefined && Number(at) > latest) {
      return page(
        <>
          {finder}
          <p class="card" role="status">
            {type} {id} has no version {at}: its latest is {latest}.
          </p>
        </>,
        "Entities",
        404,
      );
    }
    const stateHref = (v: number) => `${action}?type=${encodeURIComponent(type)}&id=${encodeURIComponent(id)}&at=${v}`;
    return page(
      <>
        {finder}
        <EntityView
          view={view.view}
          latest={latest}
          events={log.page.events}
          more={log.page.next !== null}
          stateHref={stateHref}
          streamHref={`${action}/${encodeURIComponent(type)}/${encodeURIComponent(id)}/stream`}
        />
        {log.page.next === null ? (
          <script nonce={nonceOf(c)} dangerouslySetInnerHTML={{ __html: TIMELINE_SCRIPT }} />
        ) : null}
      </>,
      `${type}/${id}`,
    );
  },
);

entityPages.openapi(
  streamRoute(
    "/t/{tenant}/entities/{type}/{id}/stream",
    "dashboard.entity.stream",
    "an entity's live log for the page",
    {
      after: "the last sequence number already shown",
    },
  ),
  async (c) => streamEntity(c),
);

async function streamEntity(c: Ctx): Promise<Response> {
  const tenant = await allowedTenant(c);
  if (!tenant) return notFound(c);
  const type = c.req.param("type") ?? "";
  const id = c.req.param("id") ?? "";
  const after = c.req.header("last-event-id") ?? c.req.query("after") ?? "0";
  if (!c.get("app").entities.get(type) || !entityIdSchema.safeParse(id).success || !SEQ.test(after)) {
    throw fail("malformed-request", "no such entity type, or a bad id or position");
  }
  const refused = await refusedOverLimit(c, tenant);
  if (refused) return refused;
  const address: EntityAddress = { tenant: tenant.id, entityType: type, entityId: id };
  const url = new URL("https://entity/live");
  url.searchParams.set("tenant", tenant.id);
  url.searchParams.set("type", type);
  url.searchParams.set("id", id);
  url.searchParams.set("after", after);
  // The entity ends a tenant admin's stream itself when their key is revoked or the tenant
  // suspended (its own check, as for a /v1 stream); the session's check ends any stream, the
  // operator's too, once its session lapses.
  const session = c.get("session");
  url.searchParams.set("key", session.role === "tenant" ? session.keyId : "");
  const live = await entityStub(c.env, address).fetch(new Request(url, { headers: { accept: "text/event-stream" } }));
  // A new response (a response from another object has immutable headers): the security headers
  // apply. A refusal (a position past the entity's latest event) is answered as the entity gave it.
  return live.ok ? endsWithSession(c, live) : new Response(live.body, live);
}
