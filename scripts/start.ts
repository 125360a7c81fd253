// `npm start [-- --port N] [-- --config <app>/wrangler.toml] [-- --persist-to <dir>]`: the whole
// platform on wrangler dev (workerd) at 127.0.0.1, the reference app or, with --config, an app of
// your own. Checks the config first and, only if it is one, creates .dev.vars (beside the config,
// where wrangler reads it) from the example on first start, applies the local D1 migrations (the
// platform's, then the app's if it has any), seeds a demo tenant with a fresh API key, then runs
// wrangler dev and prints how to use it. Local state lives in --persist-to, else
// FACTLINE_STATE_DIR, else .wrangler/state beside the config (`localStateDir`, the rule `npm run
// migrate` follows too); the migrations, the seed and wrangler dev all use it.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { issueApiKey } from "../src/core/security/api-key.js";
import { localDatabaseMistake, localStateDir, migrate, readAppConfig } from "./migrate.js";

const usage = "usage: npm start [-- --port N] [-- --config <app>/wrangler.toml] [-- --persist-to <dir>]";
function refuse(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}
let passthrough = process.argv.slice(2);
/**
 * Takes `--flag value`, `--flag=value` (or `-f value`) out of the arguments handed on to wrangler
 * dev: a flag of ours left there would reach wrangler too, twice over where we pass our own.
 */
function take(...flags: string[]): string | undefined {
  const at = passthrough.findIndex((arg) => flags.some((flag) => arg === flag || arg.startsWith(`${flag}=`)));
  if (at < 0) return undefined;
  const arg = passthrough[at] ?? "";
  const inline = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : undefined;
  const value = inline ?? passthrough[at + 1];
  if (value === undefined || value === "") refuse(`${arg} needs a value`);
  passthrough = [...passthrough.slice(0, at), ...passthrough.slice(at + (inline === undefined ? 2 : 1))];
  return value;
}
const portText = take("--port") ?? "8787";
const port = Number(portText);
if (!/^\d+$/.test(portText) || port < 1 || port > 65535) refuse(`--port ${portText} is not a port from 1 to 65535`);
const appConfig = take("--config", "-c");
const persistTo = take("--persist-to");
// Migrations and the seed address the config's top-level DB, locally: wrangler dev must serve that one.
const elsewhere = passthrough.find((arg) => /^(--env|-e|--remote|-r)(=|$)/.test(arg));
if (elsewhere !== undefined)
  refuse(
    `${elsewhere} would make wrangler dev use another database than the local one npm start migrates and seeds: npm start serves the config's top level locally`,
  );

// Everything the config must be is checked before anything is written.
let app: ReturnType<typeof readAppConfig>;
try {
  app = readAppConfig(appConfig ?? "wrangler.toml");
} catch (error) {
  refuse(error instanceof Error ? error.message : String(error));
}
if (app.main !== undefined && !existsSync(app.main)) refuse(`${app.path} names main ${app.main}, which does not exist`);
const mistake = localDatabaseMistake(app);
if (mistake !== undefined) refuse(mistake);
const config = app.path;
const persist = localStateDir(config, persistTo);

const devVars = join(dirname(config), ".dev.vars");
if (!existsSync(devVars)) {
  copyFileSync(join(import.meta.dirname, "..", ".dev.vars.example"), devVars);
  console.log(`Created ${devVars} from .dev.vars.example (holds ADMIN_TOKEN for local runs).`);
}

function wrangler(...wranglerArgs: string[]): void {
  const run = spawnSync("npx", ["wrangler", ...wranglerArgs, "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "true" },
  });
  if (run.status !== 0) {
    process.stderr.write(run.stdout);
    process.stderr.write(run.stderr);
    process.exit(run.status ?? 1);
  }
}

try {
  migrate({ config, target: { local: true, persistTo: persist } });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}

const key = await issueApiKey();
const now = Date.now();
wrangler(
  "d1",
  "execute",
  "DB",
  "--local",
  "--persist-to",
  persist,
  "--command",
  `INSERT OR IGNORE INTO tenants (id, name, status, created_at) VALUES ('demo', 'Demo tenant', 'active', ${now});
   INSERT INTO api_keys (id, tenant_id, key_hash, created_at) VALUES ('${key.keyId}', 'demo', '${key.hash}', ${now});`,
);

const dev = spawn(
  "npx",
  [
    "wrangler",
    "dev",
    "--config",
    config,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--persist-to",
    persist,
    ...passthrough,
  ],
  { stdio: ["inherit", "pipe", "inherit"] },
);
let announced = false;
dev.stdout.on("data", (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!announced && chunk.toString().includes("Ready on")) {
    announced = true;
    const url = `http://127.0.0.1:${port}`;
    const reference = appConfig === undefined;
    console.log(`
  Factline is running at ${url}${reference ? "" : ` (${config})`}
  Dashboard:     ${url}/dashboard (sign in with ADMIN_TOKEN, or a tenant's API key)
  Admin token:   ADMIN_TOKEN in ${devVars}
  Demo tenant:   demo
  Demo API key:  ${key.apiKey}
  API reference: ${url}/docs
${
  reference
    ? `  Demo board:    ${url}/demo#key=${key.apiKey}
                 (the offline-first inventory board; the key rides in the link's fragment, never sent to the server)

  curl -X POST ${url}/v1/entities/inventory/sku-1/commands/restock \\
       -H 'authorization: Bearer ${key.apiKey}' -H 'content-type: application/json' -d '{"quantity": 5}'
`
    : `  curl -X POST ${url}/v1/entities/<type>/<id>/commands/<command> \\
       -H 'authorization: Bearer ${key.apiKey}' -H 'content-type: application/json' -d '{…}'
`
}`);
  }
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
