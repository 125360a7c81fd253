// The entity browser's content: find an entity by type and id, see its state (now or as of any
// past version) and its event timeline with metadata. The timeline grows live from the entity's
// own event stream, proxied by the dashboard so the browser needs no API key.
import type { EntitySnapshotView, RecordedEvent } from "../../src/core/model/envelope.js";

interface FinderProps {
  readonly action: string;
  readonly types: readonly string[];
  readonly type: string;
  readonly id: string;
}

export function EntityFinder({ action, types, type, id }: FinderProps) {
  return (
    // biome-ignore lint/a11y/useSemanticElements: the form is the search landmark; <search> is too new for older browsers
    <form method="get" action={action} class="card row" role="search" aria-label="Find an entity">
      <div>
        <label for="entity-type">Entity type</label>
        <select id="entity-type" name="type">
          {types.map((t) => (
            <option value={t} selected={t === type}>
              {t}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="entity-id">Entity id</label>
        <input
          id="entity-id"
          name="id"
          value={id}
          required
          maxlength={128}
          pattern="[A-Za-z0-9._~\-]{1,128}"
          autocomplete="off"
        />
      </div>
      <button type="submit">Show</button>
    </form>
  );
}

export function EventItem({ event, stateHref }: { event: RecordedEvent; stateHref: string }) {
  const m = event.meta;
  return (
    <li data-seq={event.seq}>
      <strong>
        #{event.seq} {event.type}
      </strong>{" "}
      <span class="muted">
        v{event.schemaVersion} · {m.recordedAt}
      </span>{" "}
      <a href={stateHref}>state at version {event.seq}</a>
      <pre>{JSON.stringify(event.data, null, 2)}</pre>
      <details>
        <summary>Metadata</summary>
        <pre>
          {JSON.stringify(
            {
              eventId: m.eventId,
              hlc: m.hlc,
              correlationId: m.correlationId,
              causationId: m.causationId,
              idempotencyKey: m.idempotencyKey,
              traceparent: m.traceparent,
            },
            null,
            2,
          )}
        </pre>
      </details>
    </li>
  );
}

interface EntityViewProps {
  readonly view: EntitySnapshotView;
  readonly latest: number;
  readonly events: readonly RecordedEvent[];
  readonly more: boolean;
  readonly stateHref: (version: number) => string;
  readonly streamHref: string;
}

export function EntityView({ view, latest, events, more, stateHref, streamHref }: EntityViewProps) {
  const past = view.version < latest;
  return (
    <>
      <section aria-labelledby="state-heading">
        <h2 id="state-heading">
          {past ? `State at version ${view.version} (of ${latest})` : `Current state, version ${view.version}`}
        </h2>
        {past ? (
          <p>
            <a href={stateHref(latest)}>Show current state</a>
          </p>
        ) : null}
        <p id="state-note" class="muted" role="status"></p>
        <pre id="entity-state">{JSON.stringify(view.state, null, 2)}</pre>
      </section>
      <section aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Timeline</h2>
        {more ? (
          <p class="muted">Showing the first {events.length} events; new ones appear as they are recorded.</p>
        ) : null}
        <ol
          class="timeline"
          id="timeline"
          aria-live="polite"
          data-stream={streamHref}
          data-state-base={stateHref(0).replace(/0$/, "")}
        >
          {events.map((e) => (
            <EventItem event={e} stateHref={stateHref(e.seq)} />
          ))}
        </ol>
      </section>
    </>
  );
}

/** Appends events from the entity's SSE stream to the timeline (resuming after the last shown). */
export const TIMELINE_SCRIPT = `
const timeline = document.getElementById("timeline");
if (timeline) {
  const last = () => Number(timeline.lastElementChild?.getAttribute("data-seq") ?? "0");
  const source = new EventSource(timeline.getAttribute("data-stream") + "?after=" + last());
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.seq <= last()) return;
    const item = document.createElement("li");
    item.setAttribute("data-seq", String(event.seq));
    const title = document.createElement("strong");
    title.textContent = "#" + event.seq + " " + event.type;
    const when = document.createElement("span");
    when.className = "muted";
    when.textContent = " v" + event.schemaVersion + " · " + event.meta.recordedAt + " ";
    const link = document.createElement("a");
    link.href = timeline.getAttribute("data-state-base") + event.seq;
    link.textContent = "state at version " + event.seq;
    const data = document.createElement("pre");
    data.textContent = JSON.stringify(event.data, null, 2);
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "Metadata";
    const meta = document.createElement("pre");
    const m = event.meta;
    meta.textContent = JSON.stringify({ eventId: m.eventId, hlc: m.hlc, correlationId: m.correlationId, causationId: m.causationId, idempotencyKey: m.idempotencyKey, traceparent: m.traceparent }, null, 2);
    details.append(summary, meta);
    item.append(title, when, link, data, details);
    timeline.append(item);
    const note = document.getElementById("state-note");
    if (note) {
      const current = document.createElement("a");
      current.href = timeline.getAttribute("data-state-base") + event.seq;
      current.textContent = "show the state at version " + event.seq;
      note.replaceChildren("Event #" + event.seq + " was recorded after this state was read: ", current);
    }
  };
}
`;
