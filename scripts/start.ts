// `npm start [-- --port N]`: the whole platform on wrangler dev (workerd) at 127.0.0.1.
// Creates .dev.vars from the example on first start, applies the local D1 migrations, seeds a
// demo tenant with a fresh API key, then runs wrangler dev and prints how to use it.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { issueApiKey } from "../src/core/security/api-key.js";

const args = process.argv.slice(2);
const portFlag = args.indexOf("--port");
const port = portFlag >= 0 ? Number(args[portFlag + 1]) : 8787;
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error("usage: npm start [-- --port N]");
  process.exit(2);
}
const passthrough = portFlag >= 0 ? [...args.slice(0, portFlag), ...args.slice(portFlag + 2)] : args;
const persist = process.env.FACTLINE_STATE_DIR ?? ".wrangler/state";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("Created .dev.vars from .dev.vars.example (holds ADMIN_TOKEN for local runs).");
}

function wrangler(...wranglerArgs: string[]): void {
  const run = spawnSync("npx", ["wrangler", ...wranglerArgs], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "true" },
  });
  if (run.status !== 0) {
    process.stderr.write(run.stdout);
    process.stderr.write(run.stderr);
    process.exit(run.status ?? 1);
  }
}

wrangler("d1", "migrations", "apply", "DB", "--local", "--persist-to", persist);

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
  ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist, ...passthrough],
  { stdio: ["inherit", "pipe", "inherit"] },
);
let announced = false;
dev.stdout.on("data", (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!announced && chunk.toString().includes("Ready on")) {
    announced = true;
    const url = `http://127.0.0.1:${port}`;
    console.log(`
  Factline is running at ${url}
  Dashboard:     ${url}/dashboard (sign in with ADMIN_TOKEN, or a tenant's API key)
  Admin token:   ADMIN_TOKEN in .dev.vars
  Demo tenant:   demo
  Demo API key:  ${key.apiKey}
  Demo board:    ${url}/demo#key=${key.apiKey}
                 (the offline-first inventory board; the key rides in the link's fragment, never sent to the server)

  curl -X POST ${url}/v1/entities/inventory/sku-1/commands/restock \\
       -H 'authorization: Bearer ${key.apiKey}' -H 'content-type: application/json' -d '{"quantity": 5}'
`);
  }
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
