// An app of a user's under apps/ has its tests run by `npm test` with nothing to edit: vitest.config.ts
// gives every apps/<name>/ with a wrangler.toml and a test/ directory a project of its own
// (`app-<name>`), inside workerd against the app's Worker, its D1 migrated as `npm run migrate`
// does. Run as a user runs it: a copy of examples/todo placed under apps/, and vitest in Node.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const PREFIX = "conformance-copy-";
const name = `${PREFIX}${process.pid}`;
const app = join(ROOT, "apps", name);

// A copy a killed run left behind would run as an app of its own in every later `npm test`.
for (const stale of existsSync(join(ROOT, "apps")) ? readdirSync(join(ROOT, "apps")) : [])
  if (stale.startsWith(PREFIX)) rmSync(join(ROOT, "apps", stale), { recursive: true, force: true });
afterAll(() => {
  rmSync(app, { recursive: true, force: true });
  if (existsSync(join(ROOT, "apps")) && readdirSync(join(ROOT, "apps")).length === 0)
    rmSync(join(ROOT, "apps"), { recursive: true });
});

/** This process's environment without colour: the summary is read as plain text. */
function colourless(): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _forced, ...env } = process.env;
  return { ...env, NO_COLOR: "1" };
}

describe("an app's own tests", () => {
  it("run as the project app-<name>, with a migration named like one of the platform's", () => {
    cpSync(join(ROOT, "examples", "todo"), app, { recursive: true, filter: (from) => !from.includes(".wrangler") });
    // wrangler records a migration by its file name, and an app's first may well be 0000_init.sql,
    // the platform's own first: each set is recorded in a table of its own.
    const [migration] = readdirSync(join(app, "migrations")).filter((f) => f.endsWith(".sql"));
    renameSync(join(app, "migrations", migration ?? ""), join(app, "migrations", "0000_init.sql"));

    const run = spawnSync(
      process.execPath,
      [join(ROOT, "node_modules", "vitest", "vitest.mjs"), "run", "--project", `app-${name}`],
      { cwd: ROOT, encoding: "utf8", env: { ...colourless(), CI: "true" }, timeout: 240_000 },
    );
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output).toMatch(/Test Files\s+1 passed/);
    expect(output).toMatch(/Tests\s+\d+ passed/);
    expect(run.status).toBe(0);
  }, 240_000);
});
