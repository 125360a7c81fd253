import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Every suite runs inside workerd with the real bindings declared in wrangler.toml: SQLite
// Durable Objects, D1 and Queues (with their consumers). Only secrets are set here.
export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      main: "./worker.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          ADMIN_TOKEN: "test-admin-token",
          // Sagas and guarded calls on a test clock: short backoff, timeouts and cool-downs.
          SAGA_RETRY_BASE_MS: "50",
          SAGA_RETRY_MAX_MS: "400",
          SAGA_MAX_ATTEMPTS: "6",
          SAGA_COMPENSATION_MAX_ATTEMPTS: "12",
          SAGA_STAGE_TIMEOUTS: JSON.stringify({ charge: 20_000 }),
          GATEWAY_TIMEOUT_MS: "3000",
          BREAKER_FAILURE_THRESHOLD: "10",
          BREAKER_OPEN_MS: "400",
          TEST_MIGRATIONS: await readD1Migrations("./migrations"),
        },
      },
    })),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/support/apply-migrations.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
