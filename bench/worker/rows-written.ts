// Counts the SQLite rows the bench's objects write, per class, in this isolate: what a
// SQLite-backed Durable Object is billed for besides requests and duration (rows written,
// developers.cloudflare.com/durable-objects/platform/pricing). Each object's `sql.exec` is wrapped
// to add up its cursors' `rowsWritten`; alarms and the key-value API are not SQL and not counted.
// Bench-only.

const written = { entity: 0, bare: 0 };

/** Which class of object a count belongs to: the entity host or the bare baselines' object. */
export type RowsWrittenBy = keyof typeof written;

/** Counts, from now on, the rows every statement `sql` runs writes, under `by`. */
export function countRowsWritten(sql: SqlStorage, by: RowsWrittenBy): void {
  const exec = sql.exec.bind(sql);
  sql.exec = <T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]) => {
    const cursor = exec<T>(query, ...bindings);
    // A write has run by the time exec returns (with RETURNING too: SQLite completes the change on
    // the first step), so its count is final here.
    written[by] += cursor.rowsWritten;
    return cursor;
  };
}

/** Rows written so far in this isolate, by class of object. */
export function rowsWritten(): Readonly<Record<RowsWrittenBy, number>> {
  return { ...written };
}
