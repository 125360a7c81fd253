// The human-readable API reference (GET /docs): the OpenAPI document rendered on the server as
// one self-contained HTML page — no scripts, no external assets — so it works offline and under
// a strict Content-Security-Policy, and shows exactly what /openapi.json says.

type Json = Record<string, unknown>;

const esc = (s: unknown): string =>
  String(s).replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch] ?? ch,
  );

export const API_REFERENCE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function renderApiReference(doc: Json): string {
  const info = (doc.info ?? {}) as Json;
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = String((op.tags as unknown[] | undefined)?.[0] ?? "other");
      const list = byTag.get(tag) ?? [];
      list.push(operation(method, path, op));
      byTag.set(tag, list);
    }
  }
  const problem = ((doc.components as Json | undefined)?.schemas as Json | undefined)?.Problem as Json | undefined;
  const types = ((problem?.properties as Json | undefined)?.type as Json | undefined)?.enum as unknown[] | undefined;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)} — API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1rem 2rem;color:#1b1f24}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
details{border:1px solid #e3e3e3;border-radius:6px;margin:.4rem 0;padding:.3rem .7rem}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:24rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;text-transform:uppercase}.get{color:#1a7f37}.post{color:#0969da}.put{color:#9a6700}.delete{color:#cf222e}
table{border-collapse:collapse}td,th{border:1px solid #e3e3e3;padding:.2rem .5rem;text-align:left;vertical-align:top}
</style></head><body>
<h1>${esc(info.title)} <small>${esc(info.version)}</small></h1>
<p>${esc(info.description)}</p>
<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${esc(doc.openapi)}).</p>
${[...byTag].map(([tag, ops]) => `<h2 id="${esc(tag)}">${esc(tag)}</h2>\n${ops.join("\n")}`).join("\n")}
<h2 id="problems">Problem types</h2>
<p>Every error is <code>application/problem+json</code> (RFC 9457) with one of these stable <code>type</code> URIs.</p>
<ul>${(types ?? []).map((t) => `<li><code>${esc(t)}</code></li>`).join("")}</ul>
</body></html>`;
}

function operation(method: string, path: string, op: Json): string {
  const params = (op.parameters as Json[] | undefined) ?? [];
  const body = ((op.requestBody as Json | undefined)?.content as Json | undefined)?.["application/json"] as
    | Json
    | undefined;
  const responses = (op.responses ?? {}) as Record<string, Json>;
  return `<details id="${esc(op.operationId)}"><summary><span class="m ${esc(method)}">${esc(method)}</span> <code>${esc(path)}</code> — ${esc(op.summary)}</summary>
${op.description ? `<p>${esc(op.description)}</p>` : ""}
${params.length ? `<table><tr><th>parameter</th><th>in</th><th>description</th></tr>${params.map((p) => `<tr><td><code>${esc(p.name)}</code>${p.required ? " *" : ""}</td><td>${esc(p.in)}</td><td>${esc(p.description ?? "")}</td></tr>`).join("")}</table>` : ""}
${body ? `<p>Request body (application/json):</p><pre>${esc(JSON.stringify(body.schema, null, 2))}</pre>` : ""}
<p>Responses:</p><ul>${Object.entries(responses)
    .map(([status, r]) => `<li><b>${esc(status)}</b> ${esc(r.description)}</li>`)
    .join("")}</ul>
</details>`;
}
