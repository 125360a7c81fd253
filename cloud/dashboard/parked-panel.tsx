// The parked facts of a tenant, beside its dead letters: facts too large for the queue that the
// relay parked (the consumer still applied them, reading them from their entity). An operator
// deals with the cause (a command that records such facts) and acknowledges each one.
import type { InferSelectModel } from "drizzle-orm";
import type { parkedFacts } from "../schema.js";

type ParkedFactRow = Pick<InferSelectModel<typeof parkedFacts>, "id" | "entityType" | "entityId" | "seq" | "eventType" | "bytes" | "reason" | "parkedAt">;

const when = (t: number) => new Date(t).toISOString().replace("T", " ").slice(0, 19) + " UTC";

/** The tenant's unacknowledged parked facts, each with an Acknowledge form posting to `action(id)`. */
export function ParkedFactTable({ items, action, csrf }: { items: readonly ParkedFactRow[]; action: (id: string) => string; csrf: string }) {
  if (items.length === 0) return <p class="muted">No parked facts. Facts too large for the queue appear here.</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Fact</th>
            <th scope="col">Size</th>
            <th scope="col">Reason</th>
            <th scope="col">Parked</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {items.map((p) => (
            <tr>
              <th scope="row">
                {p.entityType}/{p.entityId} #{p.seq} {p.eventType}
              </th>
              <td>{p.bytes} bytes</td>
              <td>
                <pre>{p.reason}</pre>
              </td>
              <td>{when(p.parkedAt)}</td>
              <td>
                <form method="post" action={action(p.id)} class="inline">
                  <input type="hidden" name="_csrf" value={csrf} />
                  <button type="submit" aria-label={`Acknowledge ${p.entityType}/${p.entityId} #${p.seq}`}>
                    Acknowledge
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
