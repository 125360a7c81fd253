import { defineConfig } from "drizzle-kit";

// Generates D1 migrations (SQL files in migrations/) from the cloud tier's drizzle schema.
export default defineConfig({
  dialect: "sqlite",
  // The platform's tables, and the reference domain's view tables beside their projections.
  schema: ["./cloud/schema.ts", "./src/domain/projections/*.ts"],
  out: "./migrations",
});
