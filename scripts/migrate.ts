// Brings an app's D1 database (binding `DB`) to the platform's schema and then the app's own:
// the platform's migrations/ first, tracked in their own table, then the migrations_dir the app's
// wrangler config names. Two tables because both sets number their files from 0000 and wrangler
// tracks a migration by file name. For the platform's own wrangler.toml (the reference app) the
// one set is applied as `wrangler d1 migrations apply` does.
//
// `npm run migrate -- [--config <app>/wrangler.toml] [--local [--persist-to <dir>] | --remote]`;
// locally into `localStateDir`, the directory `npm start` serves from for the same config.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { unstable_readConfig } from "wrangler";
import { z } from "zod";

const ROOT = resolve(import.meta.dirname, "..");
const PLATFORM_MIGRATIONS = join(ROOT, "migrations");
/** Where the platform's migrations are recorded in an app's database (wrangler's own table is the app's). */
export const PLATFORM_MIGRATIONS_TABLE = "d1_platform_migrations";

/**
 * What this script reads of a wrangler config (wrangler's own types do not reach here). A D1
 * binding keeps every field, the ones not named here included: the platform's half is applied
 * through a copy of it, which must address the same database (locally wrangler uses
 * `preview_database_id`, else `database_id`, else the binding name; remotely `database_id` and
 * `database_internal_env`).
 */
const D1Bindings = z.object({
  main: z.string().optional(),
  d1_databases: z.array(
    z.looseObject({
      binding: z.string(),
      migrations_dir: z.string().optional(),
      remote: z.boolean().optional(),
    }),
  ),
});

/** An app's wrangler config as `npm start` and `npm run migrate` use it. */
export interface AppConfig {
  /** The config file, absolute. */
  readonly path: string;
  /** The Worker's entry module, absolute, when the config names one. */
  readonly main: string | undefined;
  /** The `DB` binding. */
  readonly db: z.output<typeof D1Bindings>["d1_databases"][number];
  /** The app's migrations directory, absolute; undefined for an app without one. */
  readonly migrations: string | undefined;
}

/**
 * Reads and checks the wrangler config at `path`, writing nothing: it must be a file wrangler can
 * read that binds a D1 database named `DB`. Its migrations are `migrations_dir` (which must exist
 * when named) or `migrations/` beside it, and an app may have none. Throws an Error saying what is
 * wrong and what to pass instead.
 */
export function readAppConfig(path: string): AppConfig {
  const config = resolve(path);
  if (!existsSync(config)) throw new Error(`${config} does not exist: pass the app's wrangler config file`);
  if (statSync(config).isDirectory()) {
    const inside = ["wrangler.toml", "wrangler.jsonc", "wrangler.json"].find((name) => existsSync(join(config, name)));
    throw new Error(
      `${config} is a directory: pass the wrangler config file${inside === undefined ? " of the app" : `, ${join(config, inside)}`}`,
    );
  }
  let read: z.output<typeof D1Bindings>;
  try {
    read = D1Bindings.parse(unstable_readConfig({ config }, { hideWarnings: true }));
  } catch (error) {
    throw new Error(
      `${config} is not a wrangler config wrangler can read: ${error instanceof Error ? error.message : error}`,
    );
  }
  const db = read.d1_databases.find((d) => d.binding === "DB");
  if (db === undefined) throw new Error(`${config} binds no D1 database named DB`);
  const migrations = resolve(dirname(config), db.migrations_dir ?? "migrations");
  if (db.migrations_dir !== undefined && !existsSync(migrations))
    throw new Error(`${config} names migrations_dir ${db.migrations_dir}, and ${migrations} does not exist`);
  return { path: config, main: read.main, db, migrations: existsSync(migrations) ? migrations : undefined };
}

/**
 * Why `app`'s local D1 is not the one wrangler dev serves, or undefined. With `remote = true` on
 * `DB`, wrangler dev binds the remote database, while `npm start` and `npm run migrate --local`
 * would migrate and seed the local one that nothing then reads.
 */
export function localDatabaseMistake(app: AppConfig): string | undefined {
  return app.db.remote === true
    ? `${app.path} binds DB with remote = true, so wrangler dev would use the remote database, not the local one migrated and seeded here: remove remote from the DB binding to run locally`
    : undefined;
}

/**
 * Where local state (D1, Durable Objects, queues) lives for the app whose wrangler config is
 * `config`: `persistTo` when given, else the environment's FACTLINE_STATE_DIR, else
 * `.wrangler/state` beside the config (wrangler's own default for that config). `npm start` and
 * `npm run migrate` both ask here, so a migration applied by one is what the other serves.
 */
export function localStateDir(config: string, persistTo?: string): string {
  return resolve(persistTo ?? (process.env.FACTLINE_STATE_DIR || join(dirname(resolve(config)), ".wrangler", "state")));
}

export interface MigrateOptions {
  /** The app's wrangler config; the platform's wrangler.toml when absent. */
  readonly config?: string;
  /** `--local` with a state directory (`localStateDir(config)` when absent), or `--remote`. */
  readonly target: { readonly local: true; readonly persistTo?: string } | { readonly local: false };
}

function wranglerApply(config: string, target: MigrateOptions["target"]): void {
  const where = target.local
    ? ["--local", ...(target.persistTo === undefined ? [] : ["--persist-to", target.persistTo])]
    : ["--remote"];
  const run = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--config", config, ...where], {
    encoding: "utf8",
    env: { ...process.env, CI: "true" },
  });
  if (run.status !== 0) throw new Error(`applying D1 migrations (${config}) failed:\n${run.stdout}\n${run.stderr}`);
}

/**
 * Applies the platform's migrations and then the app's (if it has any) to the `DB` database of
 * `options.config`, and returns that config as read. Throws when the config is not one
 * (readAppConfig) or wrangler fails (its output in the message).
 */
export function migrate(options: MigrateOptions): AppConfig {
  const app = readAppConfig(options.config ?? join(ROOT, "wrangler.toml"));
  const { path: config, db, migrations: appMigrations } = app;
  const mistake = options.target.local ? localDatabaseMistake(app) : undefined;
  if (mistake !== undefined) throw new Error(mistake);
  // Always an explicit directory: the platform's half runs with a scratch config elsewhere, where
  // wrangler's default (beside the config it is given) would be another directory.
  const target: MigrateOptions["target"] = options.target.local
    ? { local: true, persistTo: localStateDir(config, options.target.persistTo) }
    : options.target;
  if (appMigrations !== PLATFORM_MIGRATIONS) {
    // The app's binding as it is, so the same database, with the platform's migrations and their own table.
    const scratch = mkdtempSync(join(tmpdir(), "factline-migrate-"));
    const platformConfig = join(scratch, "wrangler.json");
    writeFileSync(
      platformConfig,
      JSON.stringify({
        name: "factline-migrations",
        compatibility_date: "2026-04-20",
        d1_databases: [{ ...db, migrations_dir: PLATFORM_MIGRATIONS, migrations_table: PLATFORM_MIGRATIONS_TABLE }],
      }),
    );
    try {
      wranglerApply(platformConfig, target);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  // wrangler refuses to apply a directory that is not there; an app without tables has none.
  if (appMigrations !== undefined) wranglerApply(config, target);
  return app;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const usage = "usage: npm run migrate -- [--config <app>/wrangler.toml] [--local [--persist-to <dir>] | --remote]";
  let flags: { config?: string; "persist-to"?: string; local?: boolean; remote?: boolean };
  try {
    // strict: a mistyped flag must not migrate the reference app's database instead of the one meant.
    flags = parseArgs({
      options: {
        config: { type: "string" },
        "persist-to": { type: "string" },
        local: { type: "boolean" },
        remote: { type: "boolean" },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n${usage}`);
    process.exit(2);
  }
  const persistTo = flags["persist-to"];
  if (flags.remote === true && (flags.local === true || persistTo !== undefined)) {
    console.error(usage);
    process.exit(2);
  }
  try {
    const app = migrate({
      config: flags.config,
      target:
        flags.remote === true
          ? { local: false }
          : persistTo === undefined
            ? { local: true }
            : { local: true, persistTo },
    });
    console.log(
      app.migrations === undefined
        ? "D1 migrations applied: the platform's (the app has no migrations directory of its own)."
        : "D1 migrations applied: the platform's, then the app's.",
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
