import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { existsSync, readdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";
import { buildDemo } from "./scripts/build-demo.js";
import { PLATFORM_MIGRATIONS_TABLE, readAppConfig } from "./scripts/migrate.js";

// worker.ts serves the demo board's bundle, which wrangler's [build] writes before dev and deploy;
// the test pool does not run [build], so the bundle is written here first.
await buildDemo();
// The platform's D1 migrations, which every project's database gets first.
const PLATFORM_MIGRATIONS = await readD1Migrations("./migrations");

// Seven projects, and one per app of a user's (`conformance` is described where it is declared).
// `example-todo`, and `app-<name>` for each apps/<name>/ with a wrangler.toml and a test/
// directory: the app's test/ inside workerd against its own Worker (appProject, at the end).
// `workers`: the suites under test/ that need bindings run inside workerd with the real bindings
// declared in wrangler.toml (SQLite Durable Objects, D1, Queues with their consumers); only
// secrets and bounds are set here. `browser`: test/browser/ runs in Node, starts `wrangler dev`
// itself and drives Debian's Chromium through playwright-core. `simulation`: test/simulation/
// runs the deterministic simulation and the pure machines' specifications in Node. `unit`:
// test/unit/ and test/domain/, specifications of pure functions (no binding), in Node, where a
// file starts in a fraction of a second; inside workerd each file starts a runtime of its own.
export default defineConfig({
  test: {
    // At least two files at a time (vitest's default, one per core but one, runs them one by one
    // on 2 cores): most of a workerd file's time is its runtime starting or its tests waiting,
    // which overlap well.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // The runtime's own structured info/warn lines would drown the report; errors still show.
    onConsoleLog: (log) => !/^\{"level":"(info|warn)"/.test(log),
    projects: [
      {
        plugins: [
          cloudflareTest(async () => ({
            main: "./worker.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                ADMIN_TOKEN: "test-admin-token",
                // Low enough that the backpressure suite reaches it quickly, above any burst other suites send.
                ENTITY_MAX_BACKLOG: "250",
                // Sagas and guarded calls on a test clock: short backoff, timeouts and cool-downs.
                SAGA_RETRY_BASE_MS: "50",
                SAGA_RETRY_MAX_MS: "400",
                SAGA_MAX_ATTEMPTS: "6",
                SAGA_COMPENSATION_MAX_ATTEMPTS: "12",
                SAGA_STAGE_TIMEOUTS: JSON.stringify({ charge: 20_000 }),
                GATEWAY_TIMEOUT_MS: "3000",
                BREAKER_FAILURE_THRESHOLD: "10",
                BREAKER_OPEN_MS: "400",
                // Live streams re-check their key and tenant every 200 ms, so revocation tests end quickly.
                LIVE_REVALIDATE_MS: "200",
                // Dashboard streams re-check their session every 200 ms, so sign-out tests end quickly.
                DASHBOARD_SESSION_RECHECK_MS: "200",
                // Gates re-read their tenant's policy from D1 after 1 s, so a lost push heals quickly.
                TENANT_POLICY_MAX_AGE_MS: "1000",
                // Isolates trust their copy of a key and its tenant's policy for 400 ms, so the
                // admission suite can wait the bound out.
                TENANT_ADMISSION_MAX_STALE_MS: "400",
                // Shedding caps above any burst other suites send (the shedding suite sends more);
                // the queueing-delay target far above what a loaded test machine ever waits.
                TENANT_MAX_IN_FLIGHT: "300",
                ENTITY_MAX_IN_FLIGHT: "250",
                ENTITY_MAX_QUEUE_DELAY_MS: "30000",
                // Durable Streams long-polls answer 204 after 1 s (test/streams.test.ts waits them out).
                STREAM_LONG_POLL_TIMEOUT_MS: "1000",
                TEST_MIGRATIONS: PLATFORM_MIGRATIONS,
                // Runs of the model-based suite; raise it for a soak (FACTLINE_MODEL_RUNS=500 npm test).
                MODEL_RUNS: process.env.FACTLINE_MODEL_RUNS ?? "12",
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/**/*.test.ts"],
          exclude: [
            "test/browser/**",
            "test/client-node/**",
            "test/simulation/**",
            "test/conformance/**",
            "test/unit/**",
            "test/domain/**",
          ],
          setupFiles: ["./test/support/apply-migrations.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      // The example app (examples/todo), and every app of a user's under apps/ that has tests.
      await appProject("example-todo", "examples/todo"),
      ...(await Promise.all(userApps().map((name) => appProject(`app-${name}`, `apps/${name}`)))),
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "test/domain/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        // factline/client in Node (its file outbox; imported by the package's own name).
        test: {
          name: "client-node",
          include: ["test/client-node/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        // The deterministic simulation (src/simulation/): pure TypeScript in Node, no workerd.
        test: {
          name: "simulation",
          include: ["test/simulation/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          // A spec may run its simulation once in a beforeAll and check it in several tests.
          hookTimeout: 180_000,
        },
      },
      {
        // The official Durable Streams conformance suite, in Node, against a `wrangler dev` the
        // test file starts (test/conformance/); its tests share one stream server, so one file.
        // Beside it, what a refused upload leaves on wrangler dev's real HTTP path.
        test: {
          name: "conformance",
          include: ["test/conformance/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          environment: "node",
          testTimeout: 90_000,
          // A set-up starts wrangler dev and a browser and opens pages in it: on a busy machine
          // that alone has taken over a minute.
          hookTimeout: 180_000,
          // After every other project: each spec drives a wrangler dev and Chromium of its own,
          // whose first page load timed out twice on a clean clone (never alone) while the workers
          // pool and the other projects' servers ran beside it.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

/**
 * The vitest project of the app whose Worker `<dir>/wrangler.toml` configures: `<dir>/test/**\/*.test.ts`
 * inside workerd against that Worker (its `main` and bindings), its D1 brought to the platform's
 * migrations and then the app's own, each set recorded in its own table as `npm run migrate` does
 * (both number their files from 0000). Throws, naming the file, when the config cannot run
 * (`readAppConfig`).
 */
async function appProject(name: string, dir: string) {
  const app = readAppConfig(join(import.meta.dirname, dir, "wrangler.toml"));
  return {
    plugins: [
      cloudflareTest(async () => ({
        wrangler: { configPath: app.path },
        miniflare: {
          bindings: {
            ADMIN_TOKEN: "test-admin-token",
            SAGA_RETRY_BASE_MS: "50",
            SAGA_RETRY_MAX_MS: "400",
            TEST_MIGRATIONS: PLATFORM_MIGRATIONS,
            TEST_PLATFORM_MIGRATIONS_TABLE: PLATFORM_MIGRATIONS_TABLE,
            TEST_APP_MIGRATIONS: app.migrations === undefined ? [] : await readD1Migrations(app.migrations),
          },
        },
      })),
    ],
    test: {
      name,
      include: [`${dir}/test/**/*.test.ts`],
      setupFiles: ["./test/support/apply-migrations.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
}

/** The apps under apps/ that have a wrangler.toml and a test/ directory (README "Define your domain", step 8, "Its tests"). */
function userApps(): string[] {
  const root = join(import.meta.dirname, "apps");
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter(
      (d) =>
        d.isDirectory() && existsSync(join(root, d.name, "wrangler.toml")) && existsSync(join(root, d.name, "test")),
    )
    .map((d) => d.name)
    .sort();
}
