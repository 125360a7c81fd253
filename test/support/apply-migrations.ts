// Brings the test D1 database to its schema before each file's tests run: the platform's
// migrations/ for the reference app; for an app's Worker (vitest.config.ts, appProject) the
// platform's, recorded in a table of their own, and then the app's, as `npm run migrate` does.
import { applyD1Migrations, type D1Migration } from "cloudflare:test";
import { env } from "cloudflare:workers";

const bindings = env as unknown as {
  readonly TEST_MIGRATIONS: D1Migration[];
  readonly TEST_PLATFORM_MIGRATIONS_TABLE?: string;
  readonly TEST_APP_MIGRATIONS?: D1Migration[];
};

if (bindings.TEST_APP_MIGRATIONS === undefined) await applyD1Migrations(env.DB, bindings.TEST_MIGRATIONS);
else {
  await applyD1Migrations(env.DB, bindings.TEST_MIGRATIONS, bindings.TEST_PLATFORM_MIGRATIONS_TABLE);
  await applyD1Migrations(env.DB, bindings.TEST_APP_MIGRATIONS);
}
