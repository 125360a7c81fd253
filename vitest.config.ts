import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Every suite runs inside workerd with the real bindings declared in wrangler.toml: SQLite
// Durable Objects, D1 and Queues (with their consumers). Only secrets and bounds are set here.
export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      main: "./worker.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          ADMIN_TOKEN: "test-admin-token",
          // Low enough that the backpressure suite reaches it quickly, above any burst other suites send.
          ENTITY_MAX_BACKLOG: "250",
          TEST_MIGRATIONS: await readD1Migrations("./migrations"),
          // Runs of the model-based suite; raise it for a soak (FACTLINE_MODEL_RUNS=500 npm test).
          MODEL_RUNS: process.env.FACTLINE_MODEL_RUNS ?? "12",
        },
      },
    })),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/support/apply-migrations.ts"],
    // The runtime's own structured info/warn lines would drown the report; errors still show.
    onConsoleLog: (log) => !/^\{"level":"(info|warn)"/.test(log),
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
