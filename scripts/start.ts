// `npm start [-- --port N] [-- --config <app>/wrangler.toml]`: the whole platform on wrangler dev
// (workerd) at 127.0.0.1, the reference app or, with --config, an app of your own. Creates
// .dev.vars (beside the config, where wrangler reads it) from the example on first start, applies
// the local D1 migrations (the platform's, then the app's), seeds a demo tenant with a fresh API
// key, then runs wrangler dev and prints how to use it.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { issueApiKey } from "../src/core/security/api-key.js";
import { migrate } from "./migrate.js";

const usage = "usage: npm start [-- --port N] [-- --config <app>/wrangler.toml]";
let passthrough = process.argv.slice(2);
/** Takes `--flag value` (or `-f value`) out of the arguments handed on to wrangler dev. */
function take(...flags: string[]): string | undefined {
  const at = passthrough.findIndex((arg) => flags.includes(arg));
  if (at < 0) return undefined;
  const value = passthrough[at + 1];
  if (value === undefined) {
    console.error(usage);
    process.exit(2);
  }
  passthrough = [...passthrough.slice(0, at), ...passthrough.slice(at + 2)];
  return value;
}
const port = Number(take("--port") ?? 8787);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(usage);
  process.exit(2);
}
const appConfig = take("--config", "-c");
const config = resolve(appConfig ?? "wrangler.toml");
if (!existsSync(config)) {
  console.error(`${config} does not exist\n${usage}`);
  process.exit(2);
}
const persist = process.env.FACTLINE_STATE_DIR ?? ".wrangler/state";

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
