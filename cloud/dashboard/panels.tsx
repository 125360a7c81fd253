// The parts of dashboard pages that change while they are open. Each is rendered once into its
// page and re-rendered by the live stream, which sends the new HTML for the page to swap in.
import type { Child } from "hono/jsx";
import { BarChart, Histogram } from "./charts.js";
import type { Attention, Overview, ProjectionStatus, ViewRows } from "./data.js";
import { PostButton } from "./post-button.js";

const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
const ms = (x: number | null) => (x === null ? "—" : x >= 1000 ? `${(x / 1000).toFixed(1)} s` : `${x} ms`);
/** A UTC time as the dashboard shows it, to the second ("never" for null). */
export const when = (t: number | null) =>
  t === null ? "never" : `${new Date(t).toISOString().replace("T", " ").slice(0, 19)} UTC`;

export function OverviewStats({ o }: { o: Overview }) {
  const t = o.metrics.totals;
  const behind = o.projections.reduce((n, p) => n + p.factsBehind, 0);
  const waited = Math.max(0, ...o.projections.map((p) => p.secondsBehind));
  const stats: [string, string, boolean][] = [
    ["Commands (30 min)", String(t.commands), false],
    ["Facts applied (30 min)", String(t.factsApplied), false],
    ["Error rate", percent(t.errorRate), t.errorRate > 0.05],
    ["Rejections / errors / shed", `${t.rejections} / ${t.errors} / ${t.shed}`, t.errors > 0],
    ["Latency p50 / p95", `${ms(o.metrics.latency.p50Ms)} / ${ms(o.metrics.latency.p95Ms)}`, false],
    ["Queue lag avg / max", `${ms(o.metrics.queueLag.avgMs)} / ${ms(o.metrics.queueLag.maxMs)}`, false],
    ["Queue backlog (est.)", String(t.backlogEstimate), t.backlogEstimate > 100],
    ["Projection lag", behind === 0 ? "caught up" : `${behind} facts, ${waited} s`, behind > 0 && waited > 30],
    ["Dead letters", String(o.deadLetters), o.deadLetters > 0],
  ];
  return (
    <dl class="grid">
      {stats.map(([label, value, bad]) => (
        <div class="stat">
          <dt>{label}</dt>
          <dd class={bad ? "bad" : undefined} data-stat={label}>
            {value}
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function OverviewCharts({ o }: { o: Overview }) {
  const m = o.metrics.minutes;
  return (
    <div class="grid">
      <BarChart label="Commands per minute" unit="/min" values={m.map((x) => x.commands)} />
      <BarChart label="Facts applied per minute" unit="/min" values={m.map((x) => x.factsApplied)} />
      <BarChart
        label="Rejections, errors and shed per minute"
        unit="/min"
        values={m.map((x) => x.rejections + x.errors + x.shed)}
      />
      <BarChart label="Queue lag (max per minute)" unit=" ms" values={m.map((x) => x.queueLagMsMax)} />
      <Histogram label="Request latency (30 min)" buckets={o.metrics.latency.buckets} />
    </div>
  );
}

export function AttentionList<I extends Attention["items"][number]>({
  title,
  id,
  a,
  empty,
  actions,
  footer,
}: {
  title: string;
  /** The section's fragment id, for links to it (a page of the list). */
  id?: string;
  a: { readonly items: readonly I[] };
  empty: string;
  /** Buttons per item (label → form action, with any hidden fields), e.g. retry / compensate for a saga. */
  actions?: {
    csrf: string;
    forms: (item: I) => readonly { label: string; href: string; fields?: Readonly<Record<string, string>> }[];
  };
  /** What follows the items: how they are ordered, links to other pages. */
  footer?: Child;
}) {
  return (
    <section aria-label={title} id={id}>
      <h2>{title}</h2>
      {a.items.length === 0 ? (
        <p class="muted">{empty}</p>
      ) : (
        <ul>
          {a.items.map((i) => (
            <li>
              <strong>{i.name}</strong> — {i.detail}
              {actions?.forms(i).map((f) => (
                <PostButton action={f.href} csrf={actions.csrf} fields={f.fields} formClass="inline">
                  {f.label}
                </PostButton>
              ))}
            </li>
          ))}
        </ul>
      )}
      {footer}
    </section>
  );
}

export function ProjectionsTable({
  items,
  csrf,
  action,
}: {
  items: readonly ProjectionStatus[];
  csrf: string;
  action: (name: string) => string;
}) {
  return (
    <div class="table-wrap">
      <table>
        <caption class="muted">
          Per projection: entities followed, facts received but not yet applied and how long the newest has waited, and
          any rebuild in progress.
        </caption>
        <thead>
          <tr>
            <th scope="col">Projection</th>
            <th scope="col">Follows</th>
            <th scope="col">Entities</th>
            <th scope="col">Facts behind</th>
            <th scope="col">Seconds behind</th>
            <th scope="col">Rebuild</th>
          </tr>
        </thead>
        <tbody>
          {items.map((p) => (
            <tr>
              <th scope="row">{p.name}</th>
              <td>{p.follows.join(", ")}</td>
              <td>{p.entities}</td>
              <td class={p.factsBehind > 0 ? "bad" : undefined}>{p.factsBehind}</td>
              <td>{p.secondsBehind}</td>
              <td>
                {p.rebuild ? (
                  <span role="status">
                    generation {p.rebuild.generation} ({p.rebuild.phase}): {p.rebuild.entitiesDone} of{" "}
                    {p.rebuild.entitiesTotal} entities, since {when(p.rebuild.startedAt)}
                    {p.rebuild.failures > 0 ? (
                      <span class="bad">
                        {" "}
                        — failed {p.rebuild.failures}× ({p.rebuild.lastError}), retrying
                      </span>
                    ) : null}
                  </span>
                ) : (
                  <PostButton
                    action={action(p.name)}
                    csrf={csrf}
                    formClass="inline"
                    buttonClass="secondary"
                    label={`Rebuild ${p.name} from the entity logs`}
                  >
                    Rebuild
                  </PostButton>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ViewTables({ views }: { views: readonly ViewRows[] }) {
  return (
    <>
      {views.map((v) => {
        const rows = v.rows.filter((r): r is Record<string, unknown> => typeof r === "object" && r !== null);
        const columns = Object.keys(rows[0] ?? {});
        return (
          <section aria-label={`View ${v.name}`}>
            <h2>{v.name}</h2>
            {rows.length === 0 ? (
              <p class="muted">No rows yet.</p>
            ) : (
              <div class="table-wrap">
                <table data-view={v.name}>
                  <thead>
                    <tr>
                      {columns.map((c) => (
                        <th scope="col">{c}</th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r) => (
                      <tr>
                        {columns.map((c) => (
                          <td>{String(r[c] ?? "")}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            {v.more ? (
              <p class="muted" data-more-rows={v.name}>
                The first {v.rows.length} rows in key order; GET /v1/views/{v.name} pages through them all.
              </p>
            ) : null}
          </section>
        );
      })}
    </>
  );
}

export interface DeadLetterRow {
  readonly id: string;
  readonly entityType: string;
  readonly entityId: string;
  readonly seq: number;
  readonly error: string;
  readonly attempts: number;
  readonly createdAt: number;
}

/**
 * A table of facts an operator acts on one by one (dead letters, parked facts): the fact's address
 * in the first column, the given detail columns, and a CSRF-guarded form posting to `action(id)`.
 */
export function FactActionTable<
  R extends { readonly id: string; readonly entityType: string; readonly entityId: string; readonly seq: number },
>(props: {
  readonly items: readonly R[];
  readonly empty: string;
  readonly columns: readonly { readonly heading: string; readonly cell: (row: R) => unknown }[];
  readonly label: (row: R) => string;
  readonly verb: string;
  readonly action: (id: string) => string;
  readonly csrf: string;
}) {
  if (props.items.length === 0) return <p class="muted">{props.empty}</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Fact</th>
            {props.columns.map((c) => (
              <th scope="col">{c.heading}</th>
            ))}
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {props.items.map((row) => (
            <tr>
              <th scope="row">{props.label(row)}</th>
              {props.columns.map((c) => (
                <td>{c.cell(row)}</td>
              ))}
              <td>
                <PostButton
                  action={props.action(row.id)}
                  csrf={props.csrf}
                  formClass="inline"
                  label={`${props.verb} ${row.entityType}/${row.entityId} #${row.seq}`}
                >
                  {props.verb}
                </PostButton>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function DeadLetterTable({
  items,
  action,
  csrf,
}: {
  items: readonly DeadLetterRow[];
  action: (id: string) => string;
  csrf: string;
}) {
  return (
    <FactActionTable
      items={items}
      empty="No dead letters. Facts the consumer gives up on appear here."
      columns={[
        { heading: "Error", cell: (d) => <pre>{d.error}</pre> },
        { heading: "Attempts", cell: (d) => d.attempts },
        { heading: "Recorded", cell: (d) => when(d.createdAt) },
      ]}
      label={(d) => `${d.entityType}/${d.entityId} #${d.seq}`}
      verb="Replay"
      action={action}
      csrf={csrf}
    />
  );
}
