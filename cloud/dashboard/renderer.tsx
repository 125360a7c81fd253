// Every dashboard page is rendered in the one frame (layout.tsx) by Hono's jsx-renderer: a page
// handler calls `c.render(body, { title, tenant, current })` and the frame adds the head, the
// navigation for the session's role and this request's CSP nonce. Unknown dashboard paths render
// the HTML not-found page for a browser.
import type { Context, MiddlewareHandler } from "hono";
import { jsxRenderer } from "hono/jsx-renderer";
import type { Ctx } from "./context.js";
import { Layout } from "./layout.js";
import type { Session } from "./session.js";

/** What a page tells the frame. */
export interface PageProps {
  readonly title: string;
  /** The tenant whose pages these are, for the navigation. */
  readonly tenant?: string;
  /** The navigation entry to mark as the current page. */
  readonly current?: string;
}

declare module "hono" {
  interface ContextRenderer {
    // biome-ignore lint/style/useShorthandFunctionType: declaration merging with Hono's interface needs an interface
    (content: string | Promise<string>, props: PageProps): Response | Promise<Response>;
  }
}

/** The session a page is shown to, if the session guard has run (the sign-in page has none). */
function sessionOf(c: Context): Session | null {
  const session: unknown = c.get("session");
  return (session as Session | undefined) ?? null;
}

/** Renders `c.render(...)` bodies in the dashboard's frame. */
export function pageRenderer(): MiddlewareHandler {
  return jsxRenderer(
    ({ children, title, tenant, current }, c) => (
      <Layout
        title={title}
        nonce={c.get("secureHeadersNonce") ?? ""}
        session={sessionOf(c)}
        tenant={tenant}
        current={current}
      >
        {children}
      </Layout>
    ),
    // The frame writes its own doctype.
    { docType: false },
  );
}

/** The HTML not-found page: an id this session cannot see answers exactly like one that does not exist. */
export function notFound(c: Ctx | Context): Response | Promise<Response> {
  c.status(404);
  return c.render(<p>There is nothing here, or it belongs to a tenant you cannot see.</p>, { title: "Not found" });
}
