// What `npm start` and `npm run migrate` need of an app's wrangler config, run as a user runs them
// (the scripts, in Node, with real wrangler): a config that is not one is refused before anything
// is written, an app with no migrations of its own is migrated with the platform's alone, and
// migrations and the seed land in the database wrangler dev serves.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const scratch = mkdtempSync(join(tmpdir(), "factline-app-config-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Node with tsx's loader and wrangler's own entry, not `npx`: the same programs, without npx
// resolving them again (0.8 s measured) on each of this file's twenty-odd runs.
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

function run(script: "start" | "migrate", args: string[], env: Record<string, string> = {}) {
  const { FACTLINE_STATE_DIR: _unset, ...inherited } = process.env;
  return spawnSync(process.execPath, ["--import", "tsx", `scripts/${script}.ts`, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...inherited, CI: "true", ...env },
  });
}

/** An app's wrangler config binding only D1, in a fresh directory; no `main`, so wrangler dev stops at once. */
function dbOnlyApp(name: string): string {
  const app = appDir(name, {
    "wrangler.json": JSON.stringify({
      name,
      compatibility_date: "2026-04-20",
      d1_databases: [{ binding: "DB", database_name: name, database_id: `local-${name}` }],
    }),
  });
  return join(app, "wrangler.json");
}

/** The rows `sql` selects from the local D1 of `config` kept in `state`, as wrangler prints them. */
function query(config: string, state: string, sql: string): string {
  return spawnSync(
    process.execPath,
    [WRANGLER, "d1", "execute", "DB", "--local", "--persist-to", state, "--config", config, "--json", "--command", sql],
    { cwd: ROOT, encoding: "utf8", env: { ...process.env, CI: "true" } },
  ).stdout;
}

/** A fresh directory holding `files`, for one case. */
function appDir(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

describe("npm start", () => {
  it("refuses a directory given as --config, naming the config file in it, and creates nothing", () => {
    const app = appDir("a-directory", { "wrangler.toml": 'name = "x"\n' });
    const res = run("start", ["--config", app]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(`${app} is a directory: pass the wrangler config file, ${join(app, "wrangler.toml")}`);
    expect(existsSync(join(scratch, ".dev.vars"))).toBe(false);
    expect(existsSync(join(app, ".dev.vars"))).toBe(false);
  }, 60_000);

  it("refuses a config that cannot run, saying why, and creates nothing", () => {
    const db = '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "x"\ndatabase_id = "local-x"\n';
    const cases: [files: Record<string, string>, says: string][] = [
      [{ "wrangler.toml": "name = \n[[d1_databases]\n" }, "is not a wrangler config wrangler can read"],
      [{ "wrangler.toml": 'name = "x"\ncompatibility_date = "2026-04-20"\n' }, "binds no D1 database named DB"],
      [{ "wrangler.toml": `name = "x"\nmain = "worker.ts"\n${db}` }, "worker.ts, which does not exist"],
      [{ "wrangler.toml": `name = "x"\n${db}migrations_dir = "gone"\n` }, "names migrations_dir gone"],
      [{ "wrangler.toml": `name = "x"\n${db}remote = true\n` }, "binds DB with remote = true"],
    ];
    for (const [i, [files, says]] of cases.entries()) {
      const app = appDir(`cannot-run-${i}`, files);
      const res = run("start", ["--config", join(app, "wrangler.toml")]);
      expect(res.status).toBe(2);
      expect(res.stderr).toContain(says);
      expect(existsSync(join(app, ".dev.vars"))).toBe(false);
    }
    const missing = run("start", ["--config", join(scratch, "nowhere.toml")]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("nowhere.toml does not exist");
  }, 120_000);

  it("refuses a flag of its own given without a value, rather than handing it to wrangler dev", () => {
    for (const flag of ["--persist-to", "--persist-to="]) {
      const res = run("start", [flag]);
      expect(res.status).toBe(2);
      expect(res.stderr).toContain(`${flag} needs a value`);
    }
  }, 60_000);

  it("refuses --env and --remote, under which wrangler dev would serve another database than the one seeded", () => {
    for (const [i, flag] of ["--env=staging", "--remote"].entries()) {
      const config = dbOnlyApp(`elsewhere-${i}`);
      const res = run("start", ["--config", config, flag]);
      expect(res.status).toBe(2);
      expect(res.stderr).toContain(`${flag} would make wrangler dev use another database`);
      expect(existsSync(join(dirname(config), ".dev.vars"))).toBe(false);
    }
  }, 60_000);
});

describe("npm run migrate", () => {
  it("migrates an app with no migrations directory of its own with the platform's alone", () => {
    const app = appDir("no-migrations", {
      "wrangler.json": JSON.stringify({
        name: "no-migrations",
        compatibility_date: "2026-04-20",
        d1_databases: [{ binding: "DB", database_name: "no-migrations", database_id: "local-no-migrations" }],
      }),
    });
    const state = join(app, "state");
    const res = run("migrate", ["--config", join(app, "wrangler.json"), "--persist-to", state]);
    expect(res.stderr).toBe("");
    expect(res.status).toBe(0);
    expect(res.stdout).toContain("the app has no migrations directory of its own");
    expect(query(join(app, "wrangler.json"), state, "SELECT name FROM sqlite_master WHERE name = 'tenants'")).toContain(
      '"name": "tenants"',
    );
  }, 120_000);

  it("migrates into FACTLINE_STATE_DIR when it is set, the directory npm start then serves", () => {
    const config = dbOnlyApp("state-dir");
    const state = join(scratch, "state-dir-state");
    expect(run("migrate", ["--config", config], { FACTLINE_STATE_DIR: state }).status).toBe(0);
    expect(query(config, state, "SELECT name FROM sqlite_master WHERE name = 'tenants'")).toContain(
      '"name": "tenants"',
    );
  }, 120_000);

  it("refuses to migrate locally a DB that wrangler dev binds remotely", () => {
    const app = appDir("remote-db", {
      "wrangler.json": JSON.stringify({
        name: "remote-db",
        compatibility_date: "2026-04-20",
        d1_databases: [{ binding: "DB", database_name: "remote-db", database_id: "local-remote-db", remote: true }],
      }),
    });
    const res = run("migrate", ["--config", join(app, "wrangler.json")]);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain("binds DB with remote = true");
    expect(existsSync(join(app, ".wrangler"))).toBe(false);
  }, 60_000);
});

describe("npm start and npm run migrate together", () => {
  it("keep an app's local state in one directory by default, .wrangler/state beside its config", () => {
    const config = dbOnlyApp("one-state");
    const beside = join(dirname(config), ".wrangler", "state");
    expect(run("migrate", ["--config", config]).status).toBe(0);
    // npm start migrates and seeds the demo tenant, then wrangler dev stops: the config has no main.
    expect(run("start", ["--config", config]).status).not.toBe(0);
    expect(query(config, beside, "SELECT id FROM tenants WHERE id = 'demo'")).toContain('"id": "demo"');
  }, 180_000);

  it("migrate and seed the preview_database_id database, the one wrangler dev serves locally", () => {
    const app = appDir("preview-db", {
      "wrangler.json": JSON.stringify({
        name: "preview-db",
        compatibility_date: "2026-04-20",
        d1_databases: [
          {
            binding: "DB",
            database_name: "preview-db",
            database_id: "local-prod",
            preview_database_id: "local-preview",
          },
        ],
      }),
    });
    const config = join(app, "wrangler.json");
    const res = run("start", ["--config", config]);
    expect(res.stderr).not.toContain("no such table");
    expect(query(config, join(app, ".wrangler", "state"), "SELECT id FROM tenants WHERE id = 'demo'")).toContain(
      '"id": "demo"',
    );
  }, 180_000);
});
