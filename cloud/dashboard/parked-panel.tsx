// The parked facts of a tenant, beside its dead letters: facts too large for the queue that the
// relay parked (the consumer still applied them, reading them from their entity). An operator
// deals with the cause (a command that records such facts) and acknowledges each one.
import type { InferSelectModel } from "drizzle-orm";
import type { parkedFacts } from "../schema.js";
import { FactActionTable, when } from "./panels.js";

type ParkedFactRow = Pick<
  InferSelectModel<typeof parkedFacts>,
  "id" | "entityType" | "entityId" | "seq" | "eventType" | "bytes" | "reason" | "parkedAt"
>;

/** The tenant's unacknowledged parked facts, each with an Acknowledge form posting to `action(id)`. */
export function ParkedFactTable({
  items,
  action,
  csrf,
}: {
  items: readonly ParkedFactRow[];
  action: (id: string) => string;
  csrf: string;
}) {
  return (
    <FactActionTable
      items={items}
      empty="No parked facts. Facts too large for the queue appear here."
      columns={[
        { heading: "Size", cell: (p) => `${p.bytes} bytes` },
        { heading: "Reason", cell: (p) => <pre>{p.reason}</pre> },
        { heading: "Parked", cell: (p) => when(p.parkedAt) },
      ]}
      label={(p) => `${p.entityType}/${p.entityId} #${p.seq} ${p.eventType}`}
      verb="Acknowledge"
      action={action}
      csrf={csrf}
    />
  );
}
