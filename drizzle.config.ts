import { defineConfig } from "drizzle-kit";

// Generates D1 migrations (SQL files in migrations/) from the cloud tier's drizzle schema.
export default defineConfig({
  dialect: "sqlite",
  schema: "./cloud/schema.ts",
  out: "./migrations",
});
