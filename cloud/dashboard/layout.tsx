// The dashboard's page frame: head, styles, skip link, navigation for the signed-in role, the
// sign-out form, and the small client script (constant text, so it is inlined unescaped) that keeps `data-live` regions current over SSE.
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import { PostButton } from "./post-button.js";
import type { Session } from "./session.js";

interface LayoutProps {
  readonly title: string;
  readonly nonce: string;
  readonly session: Session | null;
  /** The tenant whose pages are shown, if any. */
  readonly tenant?: string;
  readonly current?: string;
  readonly children?: Child;
}

export function Layout({ title, nonce, session, tenant, current, children }: LayoutProps) {
  const base = tenant ? `/dashboard/t/${encodeURIComponent(tenant)}` : "";
  const links: [string, string][] = [];
  if (session?.role === "operator") links.push(["Tenants", "/dashboard/tenants"]);
  if (tenant) {
    links.push(
      ["Overview", base],
      ["Entities", `${base}/entities`],
      ["Views", `${base}/views`],
      ["Dead letters", `${base}/dead-letters`],
      ["Projections", `${base}/projections`],
    );
  }
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${title} · Factline`}</title>
          <style nonce={nonce} dangerouslySetInnerHTML={{ __html: STYLES }} />
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header>
            <span class="brand">Factline</span>
            {tenant ? <span class="tenant">tenant {tenant}</span> : null}
            {links.length > 0 ? (
              <nav aria-label="Dashboard">
                <ul>
                  {links.map(([label, href]) => (
                    <li>
                      <a href={href} aria-current={current === label ? "page" : undefined}>
                        {label}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
            ) : null}
            {session ? (
              <PostButton action="/dashboard/sign-out" csrf={session.csrf} formClass="signout">
                Sign out
              </PostButton>
            ) : null}
          </header>
          <main id="main" tabindex={-1}>
            <h1>{title}</h1>
            {children}
          </main>
          <script nonce={nonce} dangerouslySetInnerHTML={{ __html: LIVE_SCRIPT }} />
        </body>
      </html>
    </>
  );
}

/** Regions marked data-live="<sse url>" receive {"<element id>": "<html>"} messages and swap them in. */
const LIVE_SCRIPT = `
for (const region of document.querySelectorAll("[data-live]")) {
  const source = new EventSource(region.getAttribute("data-live"));
  source.onmessage = (message) => {
    const parts = JSON.parse(message.data);
    for (const [id, html] of Object.entries(parts)) {
      const target = document.getElementById(id);
      if (target && target.innerHTML !== html) target.innerHTML = html;
    }
    region.setAttribute("data-live-updated", new Date().toISOString());
  };
}
`;

const STYLES = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #f7f8fa; --card: #fff; --muted: #5b6470; --accent: #0b5cad; --bad: #b3261e; --ok: #1d7a35; --line: #d8dde3; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ed; --bg: #111418; --card: #1a1f25; --muted: #a3adb8; --accent: #7db4ff; --bad: #ff8a80; --ok: #7ddc94; --line: #2d343c; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: .5rem; }
.skip:focus { left: .5rem; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .6rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; }
.tenant { color: var(--muted); }
nav ul { display: flex; flex-wrap: wrap; gap: .25rem .9rem; list-style: none; margin: 0; padding: 0; }
nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
.signout { margin-left: auto; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 .5rem; }
section, .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; margin-bottom: 1rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 15rem), 1fr)); gap: .8rem; }
dl.grid { grid-template-columns: repeat(auto-fit, minmax(min(100%, 10rem), 1fr)); margin: 0; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; }
.stat dt { color: var(--muted); font-size: .85rem; }
.stat dd { margin: 0; font-size: 1.4rem; font-weight: 600; }
.chart { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; }
.chart figcaption { display: flex; justify-content: space-between; color: var(--muted); font-size: .85rem; }
.chart figcaption strong { color: var(--fg); }
.chart svg { width: 100%; height: 4.5rem; display: block; fill: var(--accent); }
.chart svg .axis { stroke: var(--line); }
.chart svg text { fill: var(--muted); font-size: 9px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; }
label { display: block; font-weight: 600; margin: .4rem 0 .2rem; }
input, select, button { font: inherit; padding: .45rem .6rem; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); min-height: 2.5rem; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
form.inline { display: inline; }
.row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
.notice { border-left: 4px solid var(--ok); }
.error { border-left: 4px solid var(--bad); }
.secret { font-size: 1rem; padding: .5rem; background: var(--bg); border: 1px dashed var(--line); word-break: break-all; display: block; }
.muted { color: var(--muted); }
.bad { color: var(--bad); font-weight: 600; }
.timeline { list-style: none; padding: 0; margin: 0; }
.timeline li { border-left: 3px solid var(--accent); padding: .3rem .7rem; margin-bottom: .5rem; background: var(--bg); }
@media (max-width: 40rem) { main { padding: .6rem; } .signout { margin-left: 0; } th, td { padding: .3rem; } }
`;
