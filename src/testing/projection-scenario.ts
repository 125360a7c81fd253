// A given-when-then kit for projections: given these facts, then these rows, read back through
// the projection's own `get` and `list`. It runs the projection's statements against the database
// handle the test gives it (real D1 inside workerd), under a tenant of its own, so scenarios never
// see each other's rows. Framework-free: a failed expectation throws with both sides spelled out.
import type { AnyEntity } from "../core/model/entity.js";
import { canonicalJson } from "../core/protocol/fingerprint.js";
import type {
  Db,
  FactOfAny,
  FilterQuery,
  FilterSchemas,
  ProjectionOf,
  RowScope,
  Statement,
} from "../core/model/projection.js";

/** One scenario of a projection in the kit: facts in, rows read back; each step resolves to the run. */
export interface ProjectionRun<X extends AnyEntity, F extends FilterSchemas = FilterSchemas> {
  /** Whose rows the scenario reads and writes. */
  readonly scope: RowScope;
  /** Applies facts one at a time through the handlers keyed by their type, as the consumer does. */
  given(...facts: readonly FactOfAny<X>[]): Promise<ProjectionRun<X, F>>;
  /** Applies facts as one run through `applyRun` (as a rebuild does); throws when the projection has none. */
  givenAsRun(...facts: readonly FactOfAny<X>[]): Promise<ProjectionRun<X, F>>;
  /** The row `key` reads (`get`) with at least these fields and values; null: there is no such row. */
  expectRow(key: string, expected: Readonly<Record<string, unknown>> | null): Promise<ProjectionRun<X, F>>;
  /**
   * A list read with `query` (the projection's filters, typed by their schemas' outputs, handed
   * to `list` as given) gives exactly these rows, in order, each with at least these fields.
   */
  expectList(
    query: FilterQuery<F>,
    expected: readonly Readonly<Record<string, unknown>>[],
  ): Promise<ProjectionRun<X, F>>;
}

/** Starts a scenario of `projection` on `db`, under a fresh tenant, in generation 0. */
export function projectionScenario<X extends AnyEntity, F extends FilterSchemas>(
  projection: ProjectionOf<X, F>,
  db: Db,
): ProjectionRun<X, F> {
  const scope: RowScope = { tenant: `kit-${crypto.randomUUID()}`, generation: 0 };
  // The facts' own tenant is replaced by the scenario's, so its rows are the scenario's alone.
  const own = (facts: readonly FactOfAny<X>[]) =>
    facts.map((f) => ({ ...f, meta: { ...f.meta, tenant: scope.tenant } }));
  const apply = async (statements: readonly Statement[]) => {
    const [first, ...rest] = statements;
    if (first) await db.batch([first, ...rest]);
  };
  const run: ProjectionRun<X, F> = {
    scope,
    async given(...facts) {
      for (const f of own(facts)) {
        const handler = Object.hasOwn(projection.on, f.type) ? projection.on[f.type] : undefined;
        if (handler) await apply(handler(db, f, scope.generation));
      }
      return run;
    },
    async givenAsRun(...facts) {
      if (!projection.applyRun) fail(`${projection.name} has no applyRun`);
      await apply(projection.applyRun(db, own(facts), scope.generation));
      return run;
    },
    async expectRow(key, expected) {
      const row = await projection.get(db, scope, key);
      if (expected === null) {
        if (row !== undefined) fail(`expected no ${projection.name} row ${key}, got ${show(row)}`);
        return run;
      }
      if (row === undefined) fail(`expected ${projection.name} row ${key} ${show(expected)}, got none`);
      const actual = subset(row, expected);
      if (canonicalJson(actual) !== canonicalJson(expected))
        fail(`expected ${projection.name} row ${key} ${show(expected)}, got ${show(row)}`);
      return run;
    },
    async expectList(query, expected) {
      const given = Object.entries(query).flatMap(([name, value]) =>
        typeof value === "string" ? [[name, value]] : [],
      );
      const rows = await projection.list(db, scope, Object.fromEntries(given), 1000);
      const actual = rows.map((row, i) => subset(row, expected[i] ?? {}));
      if (canonicalJson(actual) !== canonicalJson(expected))
        fail(`expected ${projection.name} list ${show(query)} ${show(expected)}, got ${show(rows)}`);
      return run;
    },
  };
  return run;
}

/** The fields of `row` that `expected` names. */
function subset(row: unknown, expected: Readonly<Record<string, unknown>>): unknown {
  if (row === null || typeof row !== "object") return row;
  const names = Object.keys(expected);
  return Object.fromEntries(
    names.map((name) => [name, Object.hasOwn(row, name) ? (row as Record<string, unknown>)[name] : undefined]),
  );
}

function show(value: unknown): string {
  return JSON.stringify(value);
}

function fail(message: string): never {
  throw new Error(message);
}
