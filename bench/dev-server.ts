// Runs a Worker on a private wrangler dev (workerd) for the length of a bench run or a Node-side
// test suite: free ports on 127.0.0.1, a temporary --persist-to directory with the D1 migrations
// applied first, output captured to a log file, and the workerd processes found so their memory
// and CPU can be read. The bench passes its own config; test suites run production's
// wrangler.toml (optionally with another entry module), so bindings and vars cannot drift.
//
// The config's custom [build] is run once here and left out of the config wrangler sees: wrangler
// dev always re-runs a custom build when its file watcher becomes ready and then restarts the
// runtime, and on a loaded machine that restart can race the first runtime for the port and die
// with "Address already in use" (seen in CI). A server under test has nothing to rebuild.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { basename, dirname, join } from "node:path";
import { buildDemo } from "../scripts/build-demo.js";
import { migrate } from "../scripts/migrate.js";

const PRODUCTION_CONFIG = join(import.meta.dirname, "..", "wrangler.toml");

export interface DevServer {
  readonly port: number;
  readonly logFile: string;
  /**
   * Resident memory of the workerd processes wrangler started (summed), in bytes. Throws once
   * wrangler has restarted its runtime: the figure would no longer be of the Worker.
   */
  rss(): number;
  /** CPU time (user + system) used so far by the workerd processes, ms. Throws as `rss` does. */
  cpuMs(): number;
  /**
   * The part of `cpuMs` spent by wrangler's HTTP proxy, ms: the workerd that owns the public port
   * and forwards every request to the Worker's runtime (a dev-only hop; production has none).
   */
  proxyCpuMs(): number;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  /** The wrangler config; production's wrangler.toml when absent. */
  readonly config?: string;
  /** An entry module replacing the config's `main` (a test Worker wrapping production's). */
  readonly entry?: string;
  readonly persistDir: string;
  readonly adminToken: string;
  readonly logFile: string;
  /** wrangler's --log-level; "error" stops it printing every request and worker log line. */
  readonly logLevel?: "log" | "error";
  /** Overrides of the config's [vars]. */
  readonly vars?: Readonly<Record<string, string>>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Applies the D1 migrations (the platform's, then an app's: scripts/migrate.ts) to the local state
 * in `persistDir`, for production's config when `config` is absent.
 */
export function applyMigrations(config: string | undefined, persistDir: string): void {
  migrate({ config, target: { local: true, persistTo: persistDir } });
}

/**
 * Writes a copy of the TOML config at `config` without its `[build]` table beside it (so its
 * relative paths resolve alike) and returns the copy's path; the caller deletes it.
 */
function withoutCustomBuild(config: string): string {
  const lines = readFileSync(config, "utf8").split("\n");
  const kept: string[] = [];
  let inBuild = false;
  for (const line of lines) {
    if (/^\s*\[/.test(line)) inBuild = /^\s*\[build\]\s*(#.*)?$/.test(line);
    if (!inBuild) kept.push(line);
  }
  const copy = join(dirname(config), `.${basename(config, ".toml")}.no-build-${process.pid}-${Date.now()}.toml`);
  writeFileSync(copy, kept.join("\n"));
  return copy;
}

/** Starts of wrangler dev tried when a port was taken between `freePort` and workerd's bind. */
const PORT_ATTEMPTS = 3;

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  await buildDemo();
  // freePort's ports are free when it answers, not when workerd binds them: another process can
  // take one in between (seen in CI: "Address already in use"). Such a start is tried again on
  // other ports, a few times; any other failure is thrown at once.
  for (let attempt = 1; ; attempt++) {
    const server = await launch(options, attempt > 1);
    if (server !== undefined) return server;
    const collided = /Address already in use/.test(logTail(options.logFile));
    if (!collided || attempt >= PORT_ATTEMPTS)
      throw new Error(`wrangler dev did not become ready (${options.logFile}):\n${logTail(options.logFile)}`);
  }
}

/** One start of wrangler dev on fresh ports: the server once it answers, or undefined if it never did. */
async function launch(options: DevServerOptions, retry: boolean): Promise<DevServer | undefined> {
  const config = withoutCustomBuild(options.config ?? PRODUCTION_CONFIG);
  const removeConfig = () => rmSync(config, { force: true });
  const port = await freePort();
  const inspectorPort = await freePort();
  const log = createWriteStream(options.logFile, { flags: retry ? "a" : "w" });
  // Its own process group, so stopping it ends wrangler and the workerd it started, nothing else.
  const child = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      ...(options.entry === undefined ? [] : [options.entry]),
      "--config",
      config,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      options.persistDir,
      "--var",
      `ADMIN_TOKEN:${options.adminToken}`,
      ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
      "--show-interactive-dev-session=false",
      ...(options.logLevel ? ["--log-level", options.logLevel] : []),
    ],
    {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "true", NO_COLOR: "1", WRANGLER_SEND_METRICS: "false" },
    },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve())).finally(removeConfig);

  const ready = await waitForHealth(port, child, 90_000);
  if (!ready) {
    await stop(child, exited);
    await new Promise<void>((resolve) => log.end(resolve));
    return undefined;
  }
  const workerd = findWorkerd(child.pid ?? -1).map((pid) => ({ pid, startedAt: startTime(pid) }));
  // wrangler restarts the runtime when a file of the Worker changes (its watcher cannot be turned
  // off): the new workerd processes are not the ones counted, and every CPU or memory figure read
  // after that would be the proxy's alone. Reading the processes first refuses such a figure.
  const counted = (): number[] => {
    for (const { pid, startedAt } of workerd)
      if (startTime(pid) !== startedAt)
        throw new Error(
          `workerd ${pid} is gone: wrangler restarted the runtime (did a source file change during the run?), so its CPU and memory figures would be void`,
        );
    return workerd.map((w) => w.pid);
  };
  const cpu = new CpuClock();
  const proxyCpu = new CpuClock();
  const proxy = counted().filter((pid) => listensOn(pid, port));
  return {
    cpuMs: () => cpu.ms(counted()),
    proxyCpuMs: () => {
      counted();
      if (proxy.length !== 1) throw new Error(`expected one workerd serving port ${port}, found ${proxy.length}`);
      return proxyCpu.ms(proxy);
    },
    port,
    logFile: options.logFile,
    rss: () => (workerd.length === 0 ? Number.NaN : counted().reduce((sum, pid) => sum + readRss(pid), 0)),
    stop: () => stop(child, exited),
  };
}

/** The last 8 KB of a server's log file, or "(no log)" if it cannot be read. */
export function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").slice(-8_000);
  } catch {
    return "(no log)";
  }
}

async function waitForHealth(port: number, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      await res.text();
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  return false;
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const group = -child.pid;
  try {
    process.kill(group, "SIGTERM");
  } catch {
    return;
  }
  const killed = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
  if (!killed) {
    try {
      process.kill(group, "SIGKILL");
    } catch {
      // already gone
    }
    await exited;
  }
}

/** Whether workerd `pid` was started to serve the public port (its `entry` socket on 127.0.0.1:`port`). */
function listensOn(pid: number, port: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(`--socket-addr=entry=127.0.0.1:${port}`);
  } catch {
    return false;
  }
}

/** The workerd processes among the descendants of `root` (wrangler starts two: proxy and user). */
function findWorkerd(root: number): number[] {
  return findDescendants(root, "workerd");
}

function findDescendants(root: number, command: string): number[] {
  const parents = new Map<number, number>();
  const names = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat) continue; // exited meanwhile
    names.set(Number(entry), stat.name);
    parents.set(Number(entry), Number(stat.fields[1]));
  }
  const isDescendant = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === root) return true;
    return false;
  };
  return [...names].filter(([pid, name]) => name === command && isDescendant(pid)).map(([pid]) => pid);
}

/**
 * /proc/<pid>/stat taken apart (proc(5)): the command name, and the fields after it, so that
 * `fields[0]` is field 3 (state). Undefined once the process has exited.
 */
function procStat(pid: number): { readonly name: string; readonly fields: readonly string[] } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The name may hold spaces and parentheses: it ends at the last ")".
  const close = stat.lastIndexOf(")");
  return { name: stat.slice(stat.indexOf("(") + 1, close), fields: stat.slice(close + 2).split(" ") };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** When `pid` started (clock ticks after boot; proc(5) stat field 22), or undefined once it has exited. */
function startTime(pid: number): string | undefined {
  return procStat(pid)?.fields[19];
}

const HAS_SCHEDSTAT = existsSync("/proc/self/schedstat");

/**
 * CPU time of `pids` so far, ms: each thread's time on a CPU from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds; proc(5)), summed. The process's utime and stime count in clock ticks of 10 ms,
 * which over a round of a few thousand answers at tens of µs each was a tenth of the figure. A
 * thread that exits keeps the time it had when last read (the process's own counters would keep
 * all of it, but only in ticks). Without schedstat (a kernel built without it), the ticks.
 */
class CpuClock {
  readonly #threads = new Map<string, number>();

  ms(pids: readonly number[]): number {
    if (!HAS_SCHEDSTAT) return ticksMs(pids);
    for (const pid of pids) {
      let tasks: string[];
      try {
        tasks = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue; // exited: `counted` refuses the reading first
      }
      for (const tid of tasks) {
        try {
          this.#threads.set(
            `${pid}/${tid}`,
            Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]),
          );
        } catch {
          // the thread exited between the listing and the read: its last reading stands
        }
      }
    }
    let ns = 0;
    for (const value of this.#threads.values()) ns += value;
    return ns / 1e6;
  }
}

/** CPU time (user + system) of `pids` so far, ms, in clock ticks (proc(5) stat fields 14 and 15). */
function ticksMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = procStat(pid)?.fields;
    if (fields) ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

function readRss(pid: number): number {
  const status = readFileSync(join("/proc", String(pid), "status"), "utf8");
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) * 1024;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
