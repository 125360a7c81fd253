// `npm start -- --config <app>/wrangler.toml` as a user runs their own app: the platform's
// migrations and then the app's applied to the app's local D1, a demo tenant seeded, and the
// app's commands and view served. Runs the example app (examples/todo) on a free port over a
// fresh state directory (`--persist-to`), in Node, since the script drives wrangler itself.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../bench/dev-server.js";

const ROOT = join(import.meta.dirname, "..", "..");
const DEV_VARS = join(ROOT, "examples", "todo", ".dev.vars");

let started: { url: string; apiKey: string; output: () => string } | undefined;
let child: ChildProcess | undefined;
let state: string | undefined;
const devVarsExisted = existsSync(DEV_VARS);

/**
 * Starts `npm start` on a free port and waits for its demo key. The port is free when asked for
 * and taken only once the migrations have run, seconds later: on a busy machine another process
 * may take it meanwhile (an outgoing connection's ephemeral port), so that start is made again on
 * another port, at most three times.
 */
async function start(root: string, stateDir: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = ["--port", String(port), "--config", "examples/todo/wrangler.toml", "--persist-to", stateDir];
    const spawned = spawn("npx", ["tsx", "scripts/start.ts", ...args], {
      cwd: root,
      env: { ...process.env, CI: "true" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child = spawned;
    let output = "";
    spawned.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    spawned.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline && spawned.exitCode === null && !output.includes("Address already in use")) {
      const key = /Demo API key:\s+(\S+)/.exec(output)?.[1];
      if (key !== undefined) {
        started = { url: `http://127.0.0.1:${port}`, apiKey: key, output: () => output };
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    if (!output.includes("Address already in use") || attempt === 3)
      throw new Error(`npm start did not come up:\n${output}`);
    if (spawned.pid !== undefined && spawned.exitCode === null) process.kill(-spawned.pid, "SIGTERM");
  }
}

beforeAll(async () => {
  state = mkdtempSync(join(tmpdir(), "factline-start-"));
  await start(ROOT, state);
}, 480_000);

afterAll(() => {
  if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
  if (state !== undefined) rmSync(state, { recursive: true, force: true });
  if (!devVarsExisted) rmSync(DEV_VARS, { force: true });
});

function command(list: string, name: string, body: unknown) {
  const { url, apiKey } = started ?? expect.unreachable("npm start did not come up");
  return fetch(`${url}/v1/entities/todo-lists/${list}/commands/${name}`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("npm start with an app's config", () => {
  it("creates the app's .dev.vars beside its config and prints its demo key", () => {
    expect(existsSync(DEV_VARS)).toBe(true);
    expect(started?.output()).toContain(`ADMIN_TOKEN in ${DEV_VARS}`);
  });

  it("keeps the app's local state in the directory --persist-to names", () => {
    expect(existsSync(join(state ?? expect.unreachable("no state directory"), "v3", "d1"))).toBe(true);
  });

  it("serves the app's commands for the seeded demo tenant", async () => {
    const res = await command("start-list", "add", { itemId: "milk", title: "Milk" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { events: { type: string }[] }).events.map((e) => e.type)).toEqual(["ItemAdded"]);
  });

  it("keeps the app's view, whose table came from the app's own migrations, over the platform's", async () => {
    const { url, apiKey } = started ?? expect.unreachable("npm start did not come up");
    expect((await command("start-view", "add", { itemId: "tea", title: "Tea" })).status).toBe(200);
    const deadline = Date.now() + 20_000;
    let row: unknown;
    while (Date.now() < deadline && row === undefined) {
      const res = await fetch(`${url}/v1/views/todo-lists/start-view`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      if (res.status === 200) row = await res.json();
      else await new Promise((r) => setTimeout(r, 250));
    }
    expect(row).toMatchObject({ listId: "start-view", open: 1 });
  });
});
