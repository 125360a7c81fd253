// `npm run bench [-- --quick] [-- --json]`: every Factline benchmark in one bounded run against
// a private wrangler dev (workerd) on 127.0.0.1, each figure next to a baseline measured in the
// same run. Writes docs/performance.md and docs/performance.svg; with --json also
// bench/results.json. Full mode takes about 20 minutes on 2 cores, --quick a few.
import { execSync } from "node:child_process";
import http from "node:http";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CLIENT_COMMANDS,
  CLIENT_CONCURRENCY,
  CLIENT_ENTITIES,
  clientBundleBytes,
  clientSync,
  concurrentLoops,
  plainLoop,
} from "./client-sync.js";
import { applyMigrations, sleep, startDevServer, type DevServer } from "./dev-server.js";
import {
  fromDevProxy,
  requestJson,
  runLoad,
  runOpenLoad,
  send,
  shedCount,
  type LoadRequest,
  type LoadResult,
  type OpenLoadResult,
} from "./load.js";
import { consoleTable, performanceMarkdown, ratioChartSvg, resultsJson, type Figure, type Machine } from "./report.js";
import { median, pairedRatio, percentile, ratio, round } from "./stats.js";
import { DISPATCH_PATH, FLOOR_PATH, TIMING_HEADER, type DispatchRequest } from "./worker-timing.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const args = new Set(argv);
const quick = args.has("--quick");
const writeJson = args.has("--json");
// State lives in /dev/shm unless --disk: a local disk's fsync per SQLite commit (one per object
// per request) would otherwise dominate every figure, and production storage works differently.
const tmpfs = !args.has("--disk") && existsSync("/dev/shm");
// --only commands,consumer runs a subset (for working on the harness; reports are not written).
const only = argv.includes("--only") ? new Set((argv[argv.indexOf("--only") + 1] ?? "").split(",")) : undefined;
/** Each phase run, with the size of wrangler's log (bytes) when it began: the report says which phase logged errors. */
const phasesRun: { readonly name: string; readonly logBytesBefore: number }[] = [];
const phase = (name: string) => {
  const on = only === undefined || only.has(name);
  if (on) phasesRun.push({ name, logBytesBefore: statSync(server.logFile).size });
  return on;
};
// --note "…" adds what the harness cannot know to the report (who else was using the machine).
const runNote = argv.includes("--note") ? argv[argv.indexOf("--note") + 1] : undefined;
// Only warnings and errors are logged and printed unless --log-lines: locally each log line
// crosses the DevTools protocol into wrangler's Node.js process on the same 2 cores (a line per
// request cut the HTTP floor from ~950 to ~250 req/s here), while in production logs leave the
// Worker without competing with it.
const quietLogs = !args.has("--log-lines");

const plan = quick
  ? {
      rounds: 2,
      roundMs: 1_500,
      warmupMs: 2_000,
      concurrency: 16,
      e2eCommands: 300,
      e2eRounds: 1,
      consumerFacts: 1_000,
      consumerRounds: 1,
      wakeRounds: 3,
      memEntities: 300,
      memRounds: 1,
      drainMs: 20_000,
      rebuildEntities: 20,
      rebuildRounds: 2,
    }
  : {
      rounds: 10,
      roundMs: 3_000,
      warmupMs: 6_000,
      concurrency: 16,
      e2eCommands: 1_000,
      e2eRounds: 2,
      consumerFacts: 2_000,
      consumerRounds: 2,
      wakeRounds: 7,
      memEntities: 1_000,
      memRounds: 2,
      drainMs: 45_000,
      rebuildEntities: 100,
      rebuildRounds: 3,
    };
const SPREAD = 1_000;
/** The wake-up pass over the spread shape's objects stops at this bound (ms) if it has not woken them all. */
const WAKE_ALL_BOUND_MS = 30_000;
/**
 * The tenant of the command figures. The true bare Worker takes it in its path and names its
 * object as the middleware-laden bare route does (`tenant:type:id`), so the two baselines share
 * their 1,000 objects: fewer objects open at once under workerd's cap on SQLite's heap.
 */
const COMMAND_TENANT = "bench-cmd";
// The open-loop overload rounds (issue #19: 2× capacity for 20 s) and the half-capacity rounds.
const OVERLOAD_MS = 20_000;
const OVERLOAD_HALF_MS = 8_000;
/** Errors of the local emulator whose cause is known, explained where the report lists them. */
const KNOWN_ERRORS: readonly { readonly message: RegExp; readonly cause: string }[] = [
  {
    message: /^QuotaExceededError: You have exceeded the number of active timeouts/,
    cause:
      "The active-timeouts errors are miniflare's local queue broker (its broker.worker.ts): it sets one timer per message it accepts, even with no delivery delay, and workerd allows an isolate 10,000 active timers; when the 2×-capacity rounds saturate the machine the broker's timers fall behind its intake, and it refuses the sendBatch that would pass the cap. The Worker reports a refused hand-off to its entities, which send those facts again themselves (edge/entity/fact-handoff.ts); the phase's drain then waits until the view has applied a fact for every accepted command, and a drain that times out is reported above. Production's queues set no timer per message.",
  },
];

/** How often the overload round samples the isolate's admission (sampleAdmission), ms. */
const ADMISSION_SAMPLE_MS = 250;
/** The tenant of the in-isolate CPU figures (workerCpuFigures). */
const ISOLATE_TENANT = "bench-isolate";
// Copies per arm and round of the in-isolate CPU figures (a quarter of them in quick mode).
const DISPATCHED_ANSWERS = 4_000;
const DISPATCHED_COMMANDS = 2_000;
// What an arm of the in-isolate figures sets going runs on after its last answer (the hand-off's
// queue sends, the local broker's turns, objects' alarms): each arm's CPU is read this long after
// its dispatch answered, less an idle window of the same length measured in the same round
// (workerd's timers, the paused consumer's polls). Read at once, that work was charged to
// whichever arm came next: true bare read 0.14 or 0.30 ms per command by what preceded it.
const DISPATCH_SETTLE_MS = 1_000;
/** Counted rounds of the in-isolate CPU figures, after one uncounted warm-up round. */
const DISPATCH_ROUNDS = 3;
const WAKE_EVENTS = 10_000;
const CONSUMER_ENTITIES = 100;
const REBUILD_EVENTS_PER_ENTITY = 1_000;
const STREAM_CATCHUP_MESSAGES = 100_000;
const STREAM_FOLLOWERS = 1_000;
const FOLLOWER_WAVE = 100;

const adminToken = randomBytes(18).toString("hex");
// The machine may be shared (other test runs, other benches): its load is part of the report.
const loadAtStart = os.loadavg();
const started = Date.now();
const figures: Figure[] = [];
const diagnostics: string[] = [];

checkBindingsMirrored();
const tmp = mkdtempSync(join(tmpfs ? "/dev/shm" : os.tmpdir(), "factline-bench-"));
const config = join(root, "bench", "wrangler.bench.toml");
log(`preparing ${quick ? "quick" : "full"} run in ${tmp}`);
applyMigrations(config, join(tmp, "state"));
const server = await startDevServer({
  config,
  persistDir: join(tmp, "state"),
  adminToken,
  logFile: join(tmp, "wrangler.log"),
  ...(quietLogs ? { logLevel: "error" as const } : { vars: { LOG_LEVEL: "info" } }),
});
const port = server.port;
const admin = { authorization: `Bearer ${adminToken}` };
log(`wrangler dev on 127.0.0.1:${port} (log: ${server.logFile})`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void server.stop().finally(() => {
      rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

try {
  if (phase("commands")) {
    await commandFigures(await newTenant(COMMAND_TENANT));
    await letIdleObjectsGo();
  }
  if (phase("tenants")) {
    await tenantsFigure();
    await letIdleObjectsGo();
  }
  if (phase("overload")) await overloadFigures(await newTenant("bench-over"));
  if (phase("isolate")) await workerCpuFigures(await newTenant(ISOLATE_TENANT));
  if (phase("e2e")) await endToEndFigure(await newTenant("bench-e2e"));
  if (phase("consumer")) await consumerFigure();
  if (phase("rebuild")) {
    await newTenant("bench-rebuild");
    await rebuildFigures("bench-rebuild");
  }
  if (phase("wake")) await wakeFigures(await newTenant("bench-wake"));
  if (phase("memory")) await memoryFigure();
  if (phase("client")) await clientFigures(await newTenant("bench-client"));
  if (phase("streams")) await streamFigures(await newTenant("bench-streams"), "bench-streams");
} finally {
  await server.stop();
  // Keep wrangler's output of the last run (errors included) where git ignores it.
  mkdirSync(join(root, "bench", "tmp"), { recursive: true });
  copyFileSync(server.logFile, join(root, "bench", "tmp", "wrangler.log"));
  diagnostics.push(loggedErrors(server.logFile));
  rmSync(tmp, { recursive: true, force: true });
}

const durationS = Math.round((Date.now() - started) / 1000);
console.log(`\n${consoleTable(figures)}\n`);
for (const d of diagnostics) console.log(`- ${d}`);
if (only === undefined) report(durationS);

// ---------------------------------------------------------------------------------------------

/** "edge" is Factline with its facts consumer paused for the round (relay live, facts queued). */
/** "substrate" is a bare SQLite DO behind a Worker with no Factline middleware at all (the headline baseline). */
/** "substrate-send" is the same object also putting each row on a queue after its commit (an outbox's floor). */
type Target = "factline" | "edge" | "substrate" | "substrate-send" | "bare" | "crud";

function commandRequest(target: Target, apiKey: string, entity: (i: number) => string): (i: number) => LoadRequest {
  const prefix =
    target === "factline" || target === "edge"
      ? "/v1/entities"
      : target === "substrate" || target === "substrate-send"
        ? `/${target}/${COMMAND_TENANT}`
        : `/v1/bench/${target}`;
  const headers = { authorization: `Bearer ${apiKey}` };
  return (i) => ({
    method: "POST",
    path: `${prefix}/inventory/${entity(i)}/commands/restock`,
    headers,
    body: '{"quantity":1}',
  });
}

interface Rounds {
  /**
   * workerd CPU ms during the rounds and after them (Factline's relay and consumer catching up),
   * and the part of the rounds' CPU that wrangler's HTTP proxy spent.
   */
  readonly cpu: { round: number; after: number; proxy: number; commands: number };
  /** Objects of the target woken (started from storage) during its rounds. */
  wakes: number;
  /** SQLite rows its objects wrote during its rounds and the catch-up after them. */
  rowsWritten: number;
  readonly throughput: number[];
  readonly p50: number[];
  readonly p99: number[];
  readonly failed: number;
  readonly statuses: Record<string, number>;
}

/** Commands/s and latency, one entity and spread over 1,000, each target's rounds interleaved. */
async function commandFigures(apiKey: string): Promise<void> {
  for (const shape of ["one", "spread"] as const) {
    const entity = shape === "one" ? () => "hot" : (i: number) => `e-${i % SPREAD}`;
    // No CRUD target over 1,000 entities: its 1,000 more objects would share SQLite's heap, which
    // workerd caps for the whole process (sqlite3_hard_heap_limit64, 512 MiB in this workerd), and
    // with about 3,000 objects open every target's commands fail with SQLITE_NOMEM.
    const targets: Target[] =
      shape === "one"
        ? ["factline", "edge", "substrate", "substrate-send", "bare", "crud"]
        : ["factline", "edge", "substrate", "substrate-send", "bare"];
    const out = new Map<Target, Rounds>(
      targets.map((t) => [
        t,
        {
          cpu: { round: 0, after: 0, proxy: 0, commands: 0 },
          wakes: 0,
          rowsWritten: 0,
          throughput: [],
          p50: [],
          p99: [],
          failed: 0,
          statuses: {},
        },
      ]),
    );
    let factlineFacts = 0;
    // Warm-up: every target wakes all its objects and the isolate compiles the hot paths.
    for (const target of targets.filter((t) => t !== "edge")) {
      const r = await runLoad({
        port,
        concurrency: plan.concurrency,
        durationMs: plan.warmupMs,
        maxRequests: shape === "one" ? 300 : SPREAD,
        request: commandRequest(target, apiKey, entity),
      });
      if (target === "factline") factlineFacts += r.ok;
    }
    factlineFacts = await drain(COMMAND_TENANT, factlineFacts);
    for (let round = 0; round < plan.rounds; round++) {
      for (const target of rotate(targets, round)) {
        if (shape === "spread") {
          // workerd evicts an object idle for about 10 s, so after the other targets' rounds most of
          // this target's 1,000 objects would start cold: for a bare object that is opening its
          // table, for an entity rebuilding its memory image, and Factline's objects are kept
          // awake by their consumer's acknowledgements while bare ones are not. Every round is
          // measured with every object of its target woken just before, alike for all targets.
          const warm = await wakeAll(commandRequest(target, apiKey, entity));
          if (target === "factline" || target === "edge")
            factlineFacts = await drain(COMMAND_TENANT, factlineFacts + warm.ok);
        }
        // The previous round's and the wake-up pass's acknowledgements land after their view caught up.
        if (target === "factline" || target === "edge") await rowsSettled(target);
        if (target === "edge") await pauseConsumer(true);
        const wakes0 = await wakes(target);
        const rows0 = await rowsWrittenBy(target);
        const cpu0 = server.cpuMs();
        const proxy0 = server.proxyCpuMs();
        const r = await runLoad({
          port,
          concurrency: plan.concurrency,
          durationMs: plan.roundMs,
          maxRequests: 1_000_000,
          request: commandRequest(target, apiKey, entity),
        });
        const cpu1 = server.cpuMs();
        const proxy1 = server.proxyCpuMs();
        const woken = (await wakes(target)) - wakes0;
        if (target === "edge") await pauseConsumer(false);
        const rounds = out.get(target);
        record(rounds, r);
        if (target === "factline" || target === "edge") {
          factlineFacts += r.ok;
          // Let the cloud tier catch up so the next target does not share the machine with it.
          factlineFacts = await drain(COMMAND_TENANT, factlineFacts);
          // The acknowledgements reach the entities after the view: count their rows here too.
          await rowsSettled(target);
        } else if (target === "substrate-send") {
          // Its last rows reach their consumer within the queue's batch timeout (1 s).
          await sleep(1_500);
        }
        const cpu2 = server.cpuMs();
        const rows = (await rowsWrittenBy(target)) - rows0;
        if (rounds) {
          rounds.cpu.round += cpu1 - cpu0;
          rounds.cpu.after += cpu2 - cpu1;
          rounds.cpu.proxy += proxy1 - proxy0;
          rounds.cpu.commands += r.ok;
          rounds.wakes += woken;
          rounds.rowsWritten += rows;
        }
      }
    }
    const f = out.get("factline") as Rounds;
    const e = out.get("edge") as Rounds;
    const t = out.get("substrate") as Rounds;
    const s = out.get("substrate-send") as Rounds;
    const b = out.get("bare") as Rounds;
    const c = out.get("crud");
    const where = shape === "one" ? "one entity" : `${SPREAD.toLocaleString("en-US")} entities`;
    const key = shape === "one" ? "one_entity" : "spread_1000";
    // The headline baseline is the substrate: a Worker and a SQLite DO inserting one row, with no
    // Factline middleware. The middleware-laden bare object is a second row, so the middleware's
    // cost is a figure of its own.
    const truth = "true bare: Worker + SQLite DO, one row, no middleware";
    pushRounds(
      `commands_per_s_${key}_edge`,
      `commands/s, ${where}, edge alone`,
      e.throughput,
      "cmd/s",
      t.throughput,
      truth,
      "higher",
      0.9,
    );
    pushRounds(
      `commands_p99_ms_${key}_edge`,
      `command p99, ${where}, edge alone`,
      e.p99,
      "ms",
      t.p99,
      "true bare p99",
      "lower",
      1.5,
    );
    pushRounds(
      `commands_p50_ms_${key}_edge`,
      `command p50, ${where}, edge alone`,
      e.p50,
      "ms",
      t.p50,
      "true bare p50",
      "lower",
    );
    pushRounds(
      `commands_per_s_${key}`,
      `commands/s, ${where}, whole platform`,
      f.throughput,
      "cmd/s",
      t.throughput,
      truth,
      "higher",
      shape === "one" ? 0.8 : undefined,
    );
    pushRounds(
      `commands_p99_ms_${key}`,
      `command p99, ${where}, whole platform`,
      f.p99,
      "ms",
      t.p99,
      "true bare p99",
      "lower",
    );
    pushRounds(
      `commands_per_s_${key}_middleware_bare`,
      `bare DO behind Factline's middleware, ${where}`,
      b.throughput,
      "cmd/s",
      t.throughput,
      truth,
      "higher",
    );
    pushRounds(
      `commands_per_s_${key}_edge_vs_mw_bare`,
      `commands/s, ${where}, edge alone vs bare DO behind the middleware`,
      e.throughput,
      "cmd/s",
      b.throughput,
      "bare SQLite DO behind the same middleware",
      "higher",
    );
    // What shipping each fact through a queue costs on this substrate, with no Factline at all:
    // locally the queue's broker runs in the same workerd as the objects, so its work shares their cores.
    pushRounds(
      `commands_per_s_${key}_send_floor`,
      `bare DO + one queue send per row (an outbox's floor), ${where}`,
      s.throughput,
      "cmd/s",
      t.throughput,
      truth,
      "higher",
    );
    pushRounds(
      `commands_per_s_${key}_edge_vs_send_floor`,
      `commands/s, ${where}, edge alone vs bare DO + one queue send per row`,
      e.throughput,
      "cmd/s",
      s.throughput,
      "bare SQLite DO that also puts each row on a queue after its commit, no middleware",
      "higher",
    );
    // What a SQLite-backed Durable Object is billed for per command besides the request: rows written.
    push(
      `rows_written_per_command_${key}`,
      `SQLite rows written per command, ${where}, whole platform`,
      rowsPer(f),
      "rows",
      rowsPer(t),
      "true bare: one row inserted per command",
      "lower",
    );
    // wrangler's proxy parses and forwards every request and answer once more, in a workerd of its
    // own, at about the same cost for every target: left out, this is what the Worker's runtime
    // spends per command, the share a production Worker pays (its HTTP front line aside).
    push(
      `runtime_cpu_per_command_${key}_edge`,
      `Worker runtime CPU per command, ${where}, edge alone, wrangler's proxy left out`,
      runtimeCpuPer(e),
      "ms",
      runtimeCpuPer(t),
      "true bare, measured the same way",
      "lower",
    );
    if (c)
      pushRounds(
        `commands_per_s_${key}_vs_crud`,
        `commands/s vs CRUD, ${where}, edge alone`,
        e.throughput,
        "cmd/s",
        c.throughput,
        "hand-written CRUD DO (overwrite state), behind the middleware",
        "higher",
      );
    const perRound = (values: readonly number[]) =>
      values.map((v, i) => ratio(v, t.throughput[i] ?? Number.NaN)).join(", ");
    diagnostics.push(
      `${where}: commands/s ÷ true bare, round by round: edge alone ${perRound(e.throughput)}; whole platform ${perRound(f.throughput)}; bare + queue send ${perRound(s.throughput)}; bare behind the middleware ${perRound(b.throughput)}.`,
      `${where}: responses over all rounds: whole platform ${fmtStatuses(f.statuses)}; edge alone ${fmtStatuses(e.statuses)}; true bare ${fmtStatuses(t.statuses)}; bare + queue send ${fmtStatuses(s.statuses)}; bare behind the middleware ${fmtStatuses(b.statuses)}${c ? `; CRUD ${fmtStatuses(c.statuses)}` : ""}.`,
      `${where}: objects started from storage per 100 commands during the rounds (workerd evicts idle objects; a Factline start rebuilds the memory image, a bare one opens its table): whole platform ${per100(f)}, edge alone ${per100(e)}, bare ${per100(b)}.`,
      `${where}: SQLite rows written per command, the relay's cursor and the acknowledgements included (the count of its objects' statements: alarms and the key-value API are not counted): whole platform ${rowsPer(f)}, edge alone ${rowsPer(e)} (its acknowledgements land in the catch-up after each round, counted until its objects write no row for 300 ms), true bare ${rowsPer(t)}, bare + queue send ${rowsPer(s)}, bare behind the middleware ${rowsPer(b)}.`,
      `${where}: workerd CPU per command: whole platform ${cpuPer(f, "round")} ms during its rounds + ${cpuPer(f, "after")} ms after them while relay and consumer catch up; edge alone ${cpuPer(e, "round")} ms + ${cpuPer(e, "after")} ms for the paused consumer's catch-up; true bare ${cpuPer(t, "round")} ms; bare + queue send ${cpuPer(s, "round")} ms (the send's share, queue broker and delivery included: ${round(cpuPer(s, "round") - cpuPer(t, "round"))} ms); bare behind the middleware ${cpuPer(b, "round")} ms (the middleware's share: ${round(cpuPer(b, "round") - cpuPer(t, "round"))} ms)${c ? `; CRUD ${cpuPer(c, "round")} ms` : ""}. Of it, wrangler's HTTP proxy (a workerd of its own that forwards each request to the Worker's runtime; production has no such hop): whole platform ${cpuPer(f, "proxy")} ms, edge alone ${cpuPer(e, "proxy")} ms, true bare ${cpuPer(t, "proxy")} ms, bare + queue send ${cpuPer(s, "proxy")} ms, bare behind the middleware ${cpuPer(b, "proxy")} ms.`,
    );
  }
  await floorDiagnostic();
}

/**
 * The offline-first client (issue #18): 1,000 queued commands to 100 entities synced by the
 * client, beside a plain sequential loop and plain concurrent loops sending the same commands,
 * arms interleaved per round; and the client's size.
 */
async function clientFigures(apiKey: string): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const rounds = quick ? 1 : 5;
  const seconds = { client: [] as number[], plain: [] as number[], concurrent: [] as number[] };
  let facts = 0;
  // Untimed, on entities of their own: the phase's first timed arm ran up to 1.75× slower than
  // the same arm in later rounds (the isolate and the objects' first use after the earlier phases),
  // and whichever arm a rotation put first carried it.
  for (const warm of [clientSync, concurrentLoops]) {
    await warm(base, apiKey, `cl-warm-${warm.name}`);
    facts = await drain("bench-client", facts + CLIENT_COMMANDS);
  }
  for (let r = 0; r < rounds; r++) {
    for (const arm of rotate(["client", "plain", "concurrent"] as const, r)) {
      const prefix = `cl-${r}-${arm}`;
      seconds[arm].push(
        await (arm === "client" ? clientSync : arm === "plain" ? plainLoop : concurrentLoops)(base, apiKey, prefix),
      );
      facts = await drain("bench-client", facts + CLIENT_COMMANDS);
    }
  }
  const rate = (values: number[]) => values.map((v) => CLIENT_COMMANDS / v);
  const what = `${CLIENT_COMMANDS.toLocaleString("en-US")} queued commands to ${CLIENT_ENTITIES} entities`;
  pushRounds(
    "client_sync_commands_per_s",
    `client sync of ${what}`,
    rate(seconds.client),
    "cmd/s",
    rate(seconds.plain),
    "a plain HTTP loop, one command at a time",
    "higher",
    0.9,
  );
  pushRounds(
    "client_sync_commands_per_s_vs_concurrent",
    `client sync of ${what}, vs concurrent loops`,
    rate(seconds.client),
    "cmd/s",
    rate(seconds.concurrent),
    `${CLIENT_CONCURRENCY} plain HTTP loops, each entity on one`,
    "higher",
    0.9,
  );
  const size = await clientBundleBytes(root);
  push(
    "client_bundle_gzip_bytes",
    "factline/client, minified + gzipped",
    size.gzipped / 1000,
    "kB",
    15,
    "the issue's goal, 15 kB",
    "lower",
    1,
  );
  diagnostics.push(
    `Client sync: seconds per ${CLIENT_COMMANDS.toLocaleString("en-US")} commands, round by round: client ${seconds.client.map((v) => v.toFixed(2)).join(", ")}; plain loop ${seconds.plain.map((v) => v.toFixed(2)).join(", ")}; ${CLIENT_CONCURRENCY} concurrent loops ${seconds.concurrent.map((v) => v.toFixed(2)).join(", ")}. Client bundle: ${(size.minified / 1000).toFixed(1)} kB minified, ${(size.gzipped / 1000).toFixed(1)} kB gzipped (idb and zod/mini included; no domain).`,
  );
}

/**
 * One tenant spread over 1,000 entities against the same load spread over 10 tenants (edge
 * alone, rounds interleaved): no per-tenant object caps a tenant, so the ratio stays near 1. As
 * in the command rounds, the consumer is paused for each round only and catches up after it:
 * paused for the whole phase, every entity's facts would go unacknowledged past the relay's ack
 * timeout (30 s), and 2,000 probes with their alarms would land in whichever rounds ran then.
 * Every round is preceded by an untimed pass that wakes its arm's 1,000 objects.
 */
async function tenantsFigure(): Promise<void> {
  const tenants = ["bench-ten-one", ...Array.from({ length: 10 }, (_, i) => `bench-ten-${i}`)];
  const keys = new Map<string, string>();
  for (const t of tenants) keys.set(t, await newTenant(t));
  const one = keys.get("bench-ten-one") ?? "";
  const ten = tenants.slice(1).map((t) => keys.get(t) ?? "");
  const request =
    (spread: boolean) =>
    (i: number): LoadRequest => ({
      method: "POST",
      path: `/v1/entities/inventory/e-${i % SPREAD}/commands/restock`,
      // Spread: each entity belongs to one of the 10 tenants, so both arms touch the same 1,000 objects' worth.
      headers: { authorization: `Bearer ${spread ? ten[(i % SPREAD) % ten.length] : one}` },
      body: '{"quantity":1}',
    });
  const single: number[] = [];
  const spread: number[] = [];
  const statuses = { single: [] as LoadResult[], spread: [] as LoadResult[] };
  const all = tenants.join(",");
  let facts = 0;
  for (let round = 0; round < plan.rounds; round++) {
    for (const spreadOut of round % 2 === 0 ? [false, true] : [true, false]) {
      // The two arms are different objects (a tenant is part of an entity's address), and with the
      // other arm's round and the catch-ups in between this arm's objects have been idle long enough
      // for workerd to evict some: wake them all first, untimed, as the command rounds do.
      facts = await drain(all, facts + (await wakeAll(request(spreadOut))).ok);
      await pauseConsumer(true);
      const r = await runLoad({
        port,
        concurrency: plan.concurrency,
        durationMs: plan.roundMs,
        maxRequests: 1_000_000,
        request: request(spreadOut),
      });
      await pauseConsumer(false);
      (spreadOut ? spread : single).push(r.ok / (r.elapsedMs / 1000));
      (spreadOut ? statuses.spread : statuses.single).push(r);
      facts = await drain(all, facts + r.ok);
    }
  }
  pushRounds(
    "commands_per_s_one_tenant_vs_ten",
    "commands/s, one tenant over 1,000 entities, edge alone",
    single,
    "cmd/s",
    spread,
    "the same load spread over 10 tenants",
    "higher",
    0.9,
  );
  diagnostics.push(
    `Tenants: commands/s round by round: one tenant ${single.map((v) => round(v)).join(", ")}; ten tenants ${spread.map((v) => round(v)).join(", ")}; responses: one tenant ${fmtStatuses(sumStatuses(statuses.single))}, ten tenants ${fmtStatuses(sumStatuses(statuses.spread))}.`,
  );
}

/**
 * Overload, on one entity and over 200 (whole platform, consumer live). Capacity C is what the
 * server accepts per second from 64 closed-loop connections (enough to saturate it here); then an
 * open loop offers C/2 (OVERLOAD_HALF_MS) and 2×C (OVERLOAD_MS): requests leave on schedule
 * whatever the answers, so 2× really offers twice what is served. Every answer must be 2xx or
 * 429/503 with Retry-After; accepted commands' p99 at 2× is compared with their p99 at C/2. A
 * shed answer's CPU is measured on its own: an open loop at C/2 against an entity whose in-flight
 * places the harness holds (bench control), so every command is shed by the production path,
 * next to the accepted commands' CPU at C/2 and the floor's: the same request answered at the
 * bench Worker's entry, before any of Factline's code (GET /healthz beside it). Accepted
 * latency is also given inside the Worker (Server-Timing), to show where the wait is.
 */
async function overloadFigures(apiKey: string): Promise<void> {
  const tenant = "bench-over";
  const overloadMs = quick ? 6_000 : OVERLOAD_MS;
  const halfMs = quick ? 3_000 : OVERLOAD_HALF_MS;
  let accepted = 0;
  // workerd spends some CPU when idle too (timers, alarms, the proxy): reported, not subtracted
  // (it varies more than it weighs); the CPU comparisons run at capacity, where it weighs least.
  const idle0 = server.cpuMs();
  const idleStarted = performance.now();
  await sleep(2_000);
  const idlePerS = ((server.cpuMs() - idle0) / (performance.now() - idleStarted)) * 1000;
  for (const shape of ["one", "spread"] as const) {
    const entity = shape === "one" ? () => "over-hot" : (i: number) => `over-${i % 200}`;
    const request =
      (to: (i: number) => string) =>
      (i: number): LoadRequest => ({
        method: "POST",
        path: `/v1/entities/inventory/${to(i)}/commands/restock`,
        // The bench Worker answers with the Worker's own share of the latency (Server-Timing).
        headers: { authorization: `Bearer ${apiKey}`, [TIMING_HEADER]: "1" },
        body: '{"quantity":1}',
      });
    const where = shape === "one" ? "one entity" : "200 entities";
    accepted += (
      await runLoad({
        port,
        concurrency: plan.concurrency,
        durationMs: plan.warmupMs,
        maxRequests: 1_000_000,
        request: request(entity),
      })
    ).ok;
    accepted = await drain(tenant, accepted);
    const cpuCapacity0 = server.cpuMs();
    const capacityRound = await runLoad({
      port,
      concurrency: 64,
      durationMs: plan.roundMs * 2,
      maxRequests: 1_000_000,
      request: request(entity),
    });
    const cpuCapacity = server.cpuMs() - cpuCapacity0;
    const capacity = capacityRound.ok / (capacityRound.elapsedMs / 1000);
    accepted = await drain(tenant, accepted + capacityRound.ok);

    const open = (rate: number, durationMs: number, req: (i: number) => LoadRequest) =>
      runOpenLoad({ port, ratePerS: rate, durationMs, maxOutstanding: 1024, request: req });
    const cpuHalf0 = server.cpuMs();
    const proxyHalf0 = server.proxyCpuMs();
    const half = await open(capacity / 2, halfMs, request(entity));
    const cpuHalf = server.cpuMs() - cpuHalf0;
    const proxyHalf = server.proxyCpuMs() - proxyHalf0;
    accepted = await drain(tenant, accepted + half.ok);
    const cpuOver0 = server.cpuMs();
    const proxyOver0 = server.proxyCpuMs();
    const admission = sampleAdmission();
    const over = await open(capacity * 2, overloadMs, request(entity));
    const cpuOver = server.cpuMs() - cpuOver0;
    const proxyOver = server.proxyCpuMs() - proxyOver0;
    const { samples: admissionSamples, last: admissionLast } = await admission.stop();
    accepted = await drain(tenant, accepted + over.ok);

    const shed = shedCount(over.statuses);
    const bad = Object.entries(over.statuses).filter(
      ([status]) => !/^(2\d\d|429|503)\b/.test(status) || fromDevProxy(status),
    );
    const proxyLost = bad.some(([status]) => status === "0" || fromDevProxy(status))
      ? " (connections lost between wrangler's proxy and the Worker's runtime, see the overload note below)"
      : "";
    push(
      `overload_p99_ms_${shape}`,
      `accepted command p99 at 2× capacity, ${where}`,
      percentile(over.latenciesMs, 99),
      "ms",
      percentile(half.latenciesMs, 99),
      "accepted p99 at half capacity",
      "lower",
      3,
    );
    // What admission can reach: the time from a request reaching the Worker to its answer. The rest
    // of the latency above is the wait before the Worker sees the request.
    push(
      `overload_worker_p99_ms_${shape}`,
      `accepted command p99 inside the Worker at 2× capacity, ${where}`,
      percentile(over.workerLatenciesMs, 99),
      "ms",
      percentile(half.workerLatenciesMs, 99),
      "the same at half capacity",
      "lower",
    );
    diagnostics.push(
      `overload, ${where}: capacity ${round(capacity)} cmd/s accepted from 64 closed-loop connections (${fmtStatuses(capacityRound.statuses)}). ` +
        `At 2× (open loop, ${round(capacity * 2)}/s offered for ${overloadMs / 1000} s, ${over.offered} offered, ${over.notSent} not sent for the client's cap of 1,024 outstanding): ${fmtStatuses(over.statuses)}; ` +
        `${round(over.ok / (over.elapsedMs / 1000))} accepted/s; ${over.withoutRetryAfter ?? 0} of ${shed} shed answers lacked Retry-After; ${bad.length === 0 ? "no other status" : `other statuses: ${bad.map(([st, n]) => `${n}× ${st}`).join(", ")}${proxyLost}`}; ` +
        `accepted p50/p99 ${round(percentile(over.latenciesMs, 50))}/${round(percentile(over.latenciesMs, 99))} ms (inside the Worker ${round(percentile(over.workerLatenciesMs, 50))}/${round(percentile(over.workerLatenciesMs, 99))} ms), shed answers p50/p99 ${round(percentile(over.shedLatenciesMs, 50))}/${round(percentile(over.shedLatenciesMs, 99))} ms; ` +
        `workerd CPU ${round(cpuOver / Math.max(1, over.ok + shed))} ms per answer, of which wrangler's proxy ${round(proxyOver / Math.max(1, over.ok + shed))} ms (it forwards every request before the Worker can shed it); ${fmtAdmission(admissionSamples, admissionLast)}; ` +
        `the load generator sent its requests ${round(percentile(over.sendLagsMs, 50))}/${round(percentile(over.sendLagsMs, 99))} ms (p50/p99) behind schedule (counted in the latencies). ` +
        `At C/2 (${round(capacity / 2)}/s for ${halfMs / 1000} s): ${fmtStatuses(half.statuses)}, accepted p50/p99 ${round(percentile(half.latenciesMs, 50))}/${round(percentile(half.latenciesMs, 99))} ms (inside the Worker ${round(percentile(half.workerLatenciesMs, 50))}/${round(percentile(half.workerLatenciesMs, 99))} ms), workerd CPU ${round(cpuHalf / Math.max(1, half.ok))} ms per command.`,
    );

    if (shape !== "one") continue;
    // A shed answer on its own: the entity's places held, so every command to it is shed at the door.
    // Shed and floor rounds alternate, and the figures are medians of per-round values: the shed
    // answer's share is a small difference of two large CPU figures, which one round of each left
    // to the machine's drift (0.16× and 0.63× in two runs of the same code).
    const held = { tenant, entityType: "inventory", entityId: "over-held", places: 100_000 };
    const shedRounds = quick ? 1 : 3;
    const roundMs = halfMs / 2;
    const perShedRounds: number[] = [];
    const perFloorRounds: number[] = [];
    const perHealthRounds: number[] = [];
    const runtimeShedRounds: number[] = [];
    const runtimeFloorRounds: number[] = [];
    const sheds: OpenLoadResult[] = [];
    const floors: OpenLoadResult[] = [];
    // The transport floor: a command's very request (method, headers, body) answered at the
    // Worker's entry before any code of Factline runs (the bench Worker's /bench-floor).
    const shedRequest = request(() => "over-held");
    const floorRequest = (i: number): LoadRequest => ({ ...shedRequest(i), path: FLOOR_PATH });
    /** workerd CPU per answer of an open loop at C/2 for `roundMs`, and its result. */
    const cpuRound = async (req: (i: number) => LoadRequest, answers: (r: OpenLoadResult) => number) => {
      const cpu0 = server.cpuMs();
      const proxy0 = server.proxyCpuMs();
      const r = await open(capacity / 2, roundMs, req);
      const cpu = server.cpuMs() - cpu0;
      const n = Math.max(1, answers(r));
      return { perAnswer: cpu / n, runtimePerAnswer: (cpu - (server.proxyCpuMs() - proxy0)) / n, r };
    };
    await holding(held, async () => {
      for (let r = 0; r < shedRounds; r++) {
        const shed = await cpuRound(shedRequest, (a) => shedCount(a.statuses));
        const floor = await cpuRound(floorRequest, (a) => a.ok);
        const health = await cpuRound(
          () => ({ method: "GET", path: "/healthz" }),
          (a) => a.ok,
        );
        perShedRounds.push(shed.perAnswer);
        perFloorRounds.push(floor.perAnswer);
        runtimeShedRounds.push(shed.runtimePerAnswer);
        runtimeFloorRounds.push(floor.runtimePerAnswer);
        perHealthRounds.push(health.perAnswer);
        sheds.push(shed.r);
        floors.push(floor.r, health.r);
      }
    });
    const perShed = median(perShedRounds);
    // Compared at one rate (C/2): workerd's CPU per request falls as the rate rises (fixed costs per
    // event-loop turn are shared by more requests), so answers at different rates do not compare.
    const perAccepted = cpuHalf / Math.max(1, half.ok);
    const perFloor = median(perFloorRounds);
    // Both workerd processes parse, route and answer every HTTP request (wrangler's proxy, then the
    // Worker's runtime) before and after any JavaScript runs: that floor, measured with the same
    // request answered at the Worker's entry, is most of a shed answer here (and in production is
    // not the Worker's CPU at all). What the Worker adds to the floor is what shedding controls.
    push(
      "overload_shed_cpu_over_floor",
      "workerd CPU per shed answer beyond the HTTP floor",
      perShed - perFloor,
      "ms",
      perAccepted - perFloor,
      "the same for an accepted command",
      "lower",
      0.2,
    );
    // The same with wrangler's proxy left out: what the Worker's runtime spends, HTTP parsing and
    // writing included, beyond the floor. A production Worker pays this share, not the proxy's.
    const runtimeAccepted = (cpuHalf - proxyHalf) / Math.max(1, half.ok);
    const runtimeFloor = median(runtimeFloorRounds);
    push(
      "overload_shed_runtime_cpu_over_floor",
      "Worker runtime CPU per shed answer beyond the HTTP floor, wrangler's proxy left out",
      median(runtimeShedRounds) - runtimeFloor,
      "ms",
      runtimeAccepted - runtimeFloor,
      "the same for an accepted command",
      "lower",
    );
    push(
      "overload_shed_cpu",
      "workerd CPU per shed answer, HTTP floor included",
      perShed,
      "ms",
      perAccepted,
      "CPU per accepted command at the same rate (C/2)",
      "lower",
    );
    diagnostics.push(
      `shed answers on their own (${round(capacity / 2)}/s, ${shedRounds} round${shedRounds === 1 ? "" : "s"} of ${roundMs / 1000} s at an entity whose in-flight places were held, each followed by two floor rounds): ${fmtStatuses(sumStatuses(sheds))}, ${sheds.reduce((n, r) => n + (r.withoutRetryAfter ?? 0), 0)} without Retry-After, ` +
        `workerd CPU ${perShedRounds.map((v) => round(v)).join(", ")} ms each by round (median ${round(perShed)}) against ${round(perAccepted)} ms per accepted command at the same rate (and ${round(cpuCapacity / Math.max(1, capacityRound.ok))} ms per command in the capacity round); ` +
        `the floor, the same POST (headers and body) answered 204 at the bench Worker's entry before any of Factline's code, at the same rate: ${perFloorRounds.map((v) => round(v)).join(", ")} ms each; GET /healthz (through the app's middleware, no key, no object) for comparison: ${perHealthRounds.map((v) => round(v)).join(", ")} ms each (${fmtStatuses(sumStatuses(floors))} in the floor rounds). ` +
        `workerd CPU sums both workerd processes wrangler runs (its HTTP proxy and the Worker), so every request pays the proxy's share too; ` +
        `the Worker's runtime alone (the proxy's CPU left out): shed ${runtimeShedRounds.map((v) => round(v)).join(", ")} ms, floor ${runtimeFloorRounds.map((v) => round(v)).join(", ")} ms, accepted ${round(runtimeAccepted)} ms per answer; ` +
        `workerd's idle CPU, measured before the phase, was ${round(idlePerS)} ms per second (not subtracted).`,
      // Whether any admission policy in the Worker could hold latency at 2×C here: capacity uses the
      // cores for C accepted commands, and 2×C asks for C accepted plus C shed answers on top.
      `At 2× capacity, answering every request (C accepted, C shed) needs about ${round(1 + perShed / perAccepted)}× the workerd CPU that capacity used, and shedding all 2×C ${round((2 * perShed) / perAccepted)}× (from the per-answer CPU above, at one rate); ` +
        `above 1×, whatever the policy, requests wait before the Worker sees them (in wrangler's proxy and the sockets), where no admission decision can reach them and their wait counts in the accepted p99.`,
    );
  }
}

/**
 * What each kind of answer costs the Worker itself, the HTTP transport left out: every arm's
 * requests are handed to the bench Worker's entry inside the isolate, one after another
 * (/bench/control/dispatch), and workerd's CPU is read around the one HTTP request that carries
 * them and the settle after it (DISPATCH_SETTLE_MS), less an idle window. Locally both workerd
 * processes parse and write every HTTP request and answer (wrangler's proxy, then the Worker's
 * runtime): about 1.4 ms of the 2.3 ms an accepted command costs the processes, so any figure
 * taken over HTTP is mostly that floor, and a 204 floor and a 429 with ten headers and a body
 * differ in it too. In production that work is Cloudflare's front line, not the Worker's CPU.
 * Arms interleave round by round; figures are medians of per-round values.
 * Accepted commands run edge alone (the consumer paused) on one entity, whose facts leave in
 * batches: the cheapest command, so the shed ratio is the least favourable.
 */
async function workerCpuFigures(apiKey: string): Promise<void> {
  const tenant = ISOLATE_TENANT;
  const command = (path: string, key: string | undefined): DispatchRequest => ({
    method: "POST",
    path,
    headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
    body: '{"quantity":1}',
  });
  // An arm, and (one copy) the idle window each round's arms are read against.
  const health: DispatchRequest = { method: "GET", path: "/healthz", headers: {} };
  const held = { tenant, entityType: "inventory", entityId: "held", places: 100_000 };
  const few = quick ? DISPATCHED_ANSWERS / 4 : DISPATCHED_ANSWERS;
  const many = quick ? DISPATCHED_COMMANDS / 4 : DISPATCHED_COMMANDS;
  const dispatchRounds = quick ? 1 : DISPATCH_ROUNDS;
  const arms: readonly { name: string; spec: DispatchRequest; count: number }[] = [
    { name: "floor", spec: command(FLOOR_PATH, apiKey), count: few },
    { name: "health", spec: health, count: few },
    { name: "unauthenticated", spec: command("/v1/entities/inventory/held/commands/restock", undefined), count: few },
    { name: "shed", spec: command("/v1/entities/inventory/held/commands/restock", apiKey), count: few },
    {
      name: "substrate",
      spec: command(`/substrate/${tenant}/inventory/bare/commands/restock`, undefined),
      count: many,
    },
    {
      name: "substrate-send",
      spec: command(`/substrate-send/${tenant}/inventory/sent/commands/restock`, undefined),
      count: many,
    },
    { name: "bare", spec: command("/v1/bench/bare/inventory/bare/commands/restock", apiKey), count: many },
    { name: "accepted", spec: command("/v1/entities/inventory/accepted/commands/restock", apiKey), count: many },
  ];
  const perAnswer = new Map<string, number[]>(arms.map((a) => [a.name, []]));
  const answers = new Map<string, { statuses: Record<string, number> }[]>(arms.map((a) => [a.name, []]));
  const idleRounds: number[] = [];
  let accepted = 0;
  await holding(held, async () => {
    await pauseConsumer(true);
    try {
      /** workerd CPU from before `count` copies of `spec` are dispatched until DISPATCH_SETTLE_MS after, and the answers. */
      const dispatched = async (spec: DispatchRequest, count: number) => {
        const cpu0 = server.cpuMs();
        const answered = await requestJson<{ statuses: Record<string, number> }>(
          port,
          "POST",
          DISPATCH_PATH,
          admin,
          { ...spec, count },
          120_000,
        );
        await sleep(DISPATCH_SETTLE_MS);
        return { cpu: server.cpuMs() - cpu0, answered };
      };
      for (let r = 0; r <= dispatchRounds; r++) {
        const idle = await dispatched(health, 1);
        for (const arm of arms) {
          const { cpu, answered } = await dispatched(arm.spec, arm.count);
          if (arm.name === "accepted") accepted += answered.statuses["200"] ?? 0;
          // Round 0 warms the isolate's code paths and the objects; it is not counted.
          if (r === 0) continue;
          perAnswer.get(arm.name)?.push((cpu - idle.cpu) / arm.count);
          answers.get(arm.name)?.push(answered);
        }
        if (r > 0) idleRounds.push(idle.cpu);
      }
    } finally {
      await pauseConsumer(false);
    }
  });
  await drain(tenant, accepted);
  const per = (name: string) => perAnswer.get(name) ?? [];
  pushRounds(
    "shed_cpu_in_isolate",
    "Worker CPU per shed answer, HTTP transport left out",
    per("shed"),
    "ms",
    per("accepted"),
    "Worker CPU per accepted command (edge alone, one entity), measured the same way",
    "lower",
    0.2,
  );
  pushRounds(
    "command_cpu_in_isolate",
    "Worker CPU per command, one entity, edge alone, HTTP transport left out",
    per("accepted"),
    "ms",
    per("substrate"),
    "true bare, measured the same way",
    "lower",
  );
  const med = (name: string) => round(median(per(name)));
  const all = (name: string) => fmtStatuses(sumStatuses(answers.get(name) ?? []));
  diagnostics.push(
    `Worker CPU per answer with the HTTP transport left out (requests handed to the bench Worker's entry inside the isolate, ${dispatchRounds} round${dispatchRounds === 1 ? "" : "s"} after an uncounted one, each arm's CPU read ${DISPATCH_SETTLE_MS / 1000} s after its last answer less an idle window of that length, ${idleRounds.map((v) => round(v)).join(", ")} ms by round; median ms): ` +
      `the dispatch itself (the command's request built and answered 204 at the entry) ${med("floor")}; GET /healthz through the app's middleware ${med("health")}; ` +
      `a command without a key (401) ${med("unauthenticated")}; a command shed at its entity's door (429) ${med("shed")}; ` +
      `true bare ${med("substrate")}; bare + queue send ${med("substrate-send")}; bare behind the middleware ${med("bare")}; an accepted command, edge alone ${med("accepted")}. ` +
      `So, per command: the middleware ${round(median(per("bare")) - median(per("substrate")))}, Factline's command path beyond it ${round(median(per("accepted")) - median(per("bare")))}, one queue send with its local broker ${round(median(per("substrate-send")) - median(per("substrate")))}. ` +
      `Answers: shed ${all("shed")}; accepted ${all("accepted")}; unauthenticated ${all("unauthenticated")}.`,
  );
}

/** How much of a request is the HTTP client, wrangler's proxy and workerd, before any object. */
async function floorDiagnostic(): Promise<void> {
  const r = await runLoad({
    port,
    concurrency: plan.concurrency,
    durationMs: plan.roundMs,
    maxRequests: 1_000_000,
    request: () => ({ method: "GET", path: "/healthz" }),
  });
  diagnostics.push(
    `HTTP floor (GET /healthz, no auth, no object): ${round(r.ok / (r.elapsedMs / 1000))} req/s, p50 ${round(percentile(r.latenciesMs, 50))} ms at concurrency ${plan.concurrency}. ` +
      `The load generator, wrangler's proxy and workerd share 2 cores, so every target is capped well below production.`,
  );
}

/**
 * An untimed pass over the 1,000 entities of the spread shape, so none of them is measured cold.
 * Bounded by its requests, not by the warm-up's time: cold objects start at a few hundred a
 * second here, and a pass cut short would leave the rest to start during the measured round.
 */
function wakeAll(request: (i: number) => LoadRequest): Promise<LoadResult> {
  return runLoad({ port, concurrency: plan.concurrency, durationMs: WAKE_ALL_BOUND_MS, maxRequests: SPREAD, request });
}

/**
 * Runs `work` while a bench control holds every in-flight place of one entity, so the production
 * path sheds each command to it at the door; the places are let go however `work` ends.
 */
async function holding(
  held: { tenant: string; entityType: string; entityId: string; places: number },
  work: () => Promise<void>,
): Promise<void> {
  await requestJson(port, "POST", "/bench/control/hold-entity", admin, { ...held, hold: true });
  try {
    await work();
  } finally {
    await requestJson(port, "POST", "/bench/control/hold-entity", admin, { ...held, hold: false });
  }
}

/** Holds (or lets go) the batches the facts consumer is handed: the "edge alone" rounds (bench control). */
async function pauseConsumer(pause: boolean): Promise<void> {
  await requestJson(port, "POST", "/bench/control/consumer", admin, { pause });
}

/** Objects of a target started so far (CRUD objects are not counted). */
async function wakes(target: Target): Promise<number> {
  if (target === "crud" || target === "substrate" || target === "substrate-send") return 0;
  const w = await requestJson<{ entity: number; bare: number }>(port, "GET", "/bench/control/wakes", admin);
  return target === "bare" ? w.bare : w.entity;
}

/** SQLite rows the target's objects have written so far (CRUD's key-value writes are not counted). */
async function rowsWrittenBy(target: Target): Promise<number> {
  if (target === "crud") return 0;
  const w = await requestJson<{ entity: number; bare: number }>(port, "GET", "/bench/control/rows-written", admin);
  return target === "factline" || target === "edge" ? w.entity : w.bare;
}

/** Waits (at most 3 s) until the target's objects have written no row for 300 ms. */
async function rowsSettled(target: Target): Promise<void> {
  const deadline = Date.now() + 3_000;
  let last = await rowsWrittenBy(target);
  let since = Date.now();
  while (Date.now() < deadline && Date.now() - since < 300) {
    await sleep(100);
    const now = await rowsWrittenBy(target);
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}

function rowsPer(r: Rounds): number {
  return round(r.rowsWritten / Math.max(1, r.cpu.commands));
}

function per100(r: Rounds): number {
  return round((100 * r.wakes) / Math.max(1, r.cpu.commands));
}

function cpuPer(r: Rounds, part: "round" | "after" | "proxy"): number {
  return round(r.cpu[part] / Math.max(1, r.cpu.commands));
}

/** workerd CPU per command during the rounds less wrangler's proxy's: the Worker's runtime alone. */
function runtimeCpuPer(r: Rounds): number {
  return round((r.cpu.round - r.cpu.proxy) / Math.max(1, r.cpu.commands));
}

function record(rounds: Rounds | undefined, r: LoadResult): void {
  if (!rounds) return;
  rounds.throughput.push(r.ok / (r.elapsedMs / 1000));
  rounds.p50.push(percentile(r.latenciesMs, 50));
  rounds.p99.push(percentile(r.latenciesMs, 99));
  for (const [status, n] of Object.entries(r.statuses)) rounds.statuses[status] = (rounds.statuses[status] ?? 0) + n;
  (rounds as { failed: number }).failed += r.failed;
}

/**
 * Waits (bounded) until the inventory view has applied `expected` facts of a tenant (or of several,
 * comma-separated); returns `expected`, the count the next drain of that tenant builds on. A drain
 * that runs out of time is listed in the report's diagnostics.
 */
async function drain(
  tenant: string,
  expected: number,
  consumer: "factline" | "naive" = "factline",
  timeoutMs = plan.drainMs,
): Promise<number> {
  await drained(tenant, expected, consumer, timeoutMs);
  return expected;
}

/**
 * `drain`, telling whether the view caught up in time: a round timed by its drain is void when it
 * did not, since the time measured is the bound, not the consumer's.
 */
async function drained(
  tenant: string,
  expected: number,
  consumer: "factline" | "naive",
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let applied = 0;
  while (Date.now() < deadline) {
    try {
      applied = (
        await requestJson<{ applied: number }>(
          port,
          "GET",
          `/bench/control/applied?tenant=${tenant}&consumer=${consumer}`,
          admin,
          undefined,
          Math.max(1_000, deadline - Date.now()),
        )
      ).applied;
    } catch (error) {
      log(`poll failed (${String(error)}); polling again`);
    }
    if (applied >= expected) return true;
    await sleep(50);
  }
  const warning = `${consumer === "naive" ? "the naive consumer" : "the facts consumer"} applied ${applied} of ${expected} facts of ${tenant} within ${timeoutMs / 1000} s`;
  log(`warning: ${warning}`);
  diagnostics.push(`Drain timed out: ${warning}; a round timed by it is left out of its figure.`);
  return false;
}

/** Facts/s from the first command sent to the last fact visible in the D1 view. */
async function endToEndFigure(apiKey: string): Promise<void> {
  const e2e: number[] = [];
  const accepted: number[] = [];
  let expected = 0;
  for (let round = 0; round < plan.e2eRounds; round++) {
    const t0 = performance.now();
    const r = await runLoad({
      port,
      concurrency: plan.concurrency,
      durationMs: 60_000,
      maxRequests: plan.e2eCommands,
      request: commandRequest("factline", apiKey, (i) => `r${round}-e${i % 100}`),
    });
    const tAccepted = performance.now();
    expected += r.ok;
    // A late round's facts reach the next round's drain, which then times more than its own.
    if (!(await drained("bench-e2e", expected, "factline", 120_000))) continue;
    const tApplied = performance.now();
    accepted.push(r.ok / ((tAccepted - t0) / 1000));
    e2e.push(r.ok / ((tApplied - t0) / 1000));
  }
  push(
    "facts_per_s_end_to_end",
    "facts/s, command → D1 view",
    median(e2e),
    "facts/s",
    median(accepted),
    "the same commands accepted at the edge (not waiting for the view)",
    "higher",
  );
}

/** The facts consumer against a naive one-statement-per-fact consumer, same synthetic facts. */
async function consumerFigure(): Promise<void> {
  const perEntity = Math.ceil(plan.consumerFacts / CONSUMER_ENTITIES);
  const total = perEntity * CONSUMER_ENTITIES;
  const rates: Record<"factline" | "naive", number[]> = { factline: [], naive: [] };
  for (let round = 0; round < plan.consumerRounds; round++) {
    for (const consumer of round % 2 === 0 ? (["factline", "naive"] as const) : (["naive", "factline"] as const)) {
      const tenant = `cons-${consumer}-${round}`;
      const t0 = performance.now();
      for (let from = 1; from <= perEntity; from += 20) {
        await requestJson(port, "POST", "/bench/control/facts", admin, {
          queue: consumer,
          tenant,
          entities: CONSUMER_ENTITIES,
          fromSeq: from,
          toSeq: Math.min(perEntity, from + 19),
        });
      }
      if (await drained(tenant, total, consumer, 120_000))
        rates[consumer].push(total / ((performance.now() - t0) / 1000));
    }
  }
  push(
    "consumer_facts_per_s",
    "consumer facts/s (queue → D1)",
    median(rates.factline),
    "facts/s",
    median(rates.naive),
    "naive consumer, one D1 statement per fact",
    "higher",
  );
}

/**
 * Rebuild of the inventory projection for one tenant from its entity logs, from the admin request
 * to the new generation being live, against a bulk copy of the same events into D1.
 */
async function rebuildFigures(tenant: string): Promise<void> {
  const ids = Array.from({ length: plan.rebuildEntities }, (_, i) => `rb-${i}`);
  const total = ids.length * REBUILD_EVENTS_PER_ENTITY;
  const t0 = performance.now();
  for (let i = 0; i < ids.length; i += 4) {
    await Promise.all(
      ids.slice(i, i + 4).map((id) =>
        requestJson(port, "POST", "/bench/control/seed", admin, {
          kind: "entity",
          tenant,
          id,
          count: REBUILD_EVENTS_PER_ENTITY,
          snapshots: true,
          heads: true,
        }),
      ),
    );
  }
  log(
    `rebuild: seeded ${total.toLocaleString("en-US")} events over ${ids.length} entities in ${round((performance.now() - t0) / 1000)} s`,
  );
  const rebuildS: number[] = [];
  const copyS: number[] = [];
  for (let r = 0; r < plan.rebuildRounds; r++) {
    for (const what of r % 2 === 0 ? (["copy", "rebuild"] as const) : (["rebuild", "copy"] as const)) {
      const t = performance.now();
      if (what === "copy") {
        const { copied } = await requestJson<{ copied: number }>(
          port,
          "POST",
          "/bench/control/copy",
          admin,
          { tenant, ids, round: r },
          600_000,
        );
        if (copied !== total) throw new Error(`the bulk copy copied ${copied} of ${total} events`);
        copyS.push((performance.now() - t) / 1000);
      } else {
        await rebuildOnce(tenant, total);
        rebuildS.push((performance.now() - t) / 1000);
      }
      log(
        `rebuild round ${r + 1}: ${what} of ${total.toLocaleString("en-US")} events took ${round((performance.now() - t) / 1000)} s`,
      );
    }
  }
  const events = `${total.toLocaleString("en-US")} events`;
  push(
    `rebuild_events_per_s_${total}`,
    `projection rebuild, ${events}`,
    total / median(rebuildS),
    "events/s",
    total / median(copyS),
    "bulk copy of the same events from the entity objects into a D1 table",
    "higher",
  );
  push(
    `rebuild_s_${total}`,
    `projection rebuild time, ${events}`,
    median(rebuildS),
    "s",
    median(copyS),
    "the same bulk copy's time",
    "lower",
  );
  const consumer = figures.find((f) => f.name === "consumer_facts_per_s");
  diagnostics.push(
    `Rebuild of ${events}: ${fmtSeconds(rebuildS)} s per round (bulk copy ${fmtSeconds(copyS)} s). The inventory projection folds each entity's run of events into one upsert, so a rebuild writes 2 statements per entity where the copy writes a row per event` +
      (consumer
        ? `; the incremental consumer, one fact per entity per queue batch, folded ${consumer.value} facts/s in this run.`
        : "."),
  );
}

/** Starts a rebuild and waits (bounded) until the new generation is live and holds every event. */
async function rebuildOnce(tenant: string, total: number): Promise<void> {
  interface Status {
    name: string;
    lag: { factsBehind: number }[];
    rebuild: { entitiesDone: number; entitiesTotal: number } | null;
  }
  const started = await requestJson<{ generation: number; entitiesTotal: number }>(
    port,
    "POST",
    `/admin/projections/inventory/rebuild?tenant=${tenant}`,
    admin,
  );
  const deadline = Date.now() + 300_000;
  for (;;) {
    await sleep(100);
    const { items } = await requestJson<{ items: Status[] }>(port, "GET", `/admin/projections?tenant=${tenant}`, admin);
    const inventory = items.find((p) => p.name === "inventory");
    if (inventory && inventory.rebuild === null) break;
    if (Date.now() > deadline)
      throw new Error(
        `rebuild of generation ${started.generation} not done in 300 s (${JSON.stringify(inventory?.rebuild)})`,
      );
  }
  const { applied } = await requestJson<{ applied: number }>(
    port,
    "GET",
    `/bench/control/applied?tenant=${tenant}&consumer=factline`,
    admin,
  );
  if (applied !== total)
    throw new Error(`rebuild of generation ${started.generation} left ${applied} of ${total} events applied`);
}

/** Cold wake-up (forced by aborting the object) and first read of a 10,000-event entity. */
async function wakeFigures(apiKey: string): Promise<void> {
  const auth = { authorization: `Bearer ${apiKey}` };
  await requestJson(port, "POST", "/bench/control/seed", admin, {
    kind: "entity",
    tenant: "bench-wake",
    id: "snap",
    count: WAKE_EVENTS,
    snapshots: true,
  });
  await requestJson(port, "POST", "/bench/control/seed", admin, {
    kind: "entity",
    tenant: "bench-wake",
    id: "nosnap",
    count: WAKE_EVENTS,
    snapshots: false,
  });
  await requestJson(port, "POST", "/bench/control/seed", admin, {
    kind: "bare",
    tenant: "bench-wake",
    id: "bare",
    count: WAKE_EVENTS,
    snapshots: false,
  });
  const cases = [
    { name: "snap", kind: "entity", path: "/v1/entities/inventory/snap" },
    { name: "nosnap", kind: "entity", path: "/v1/entities/inventory/nosnap" },
    { name: "bare", kind: "bare", path: "/v1/bench/bare/inventory/bare" },
  ] as const;
  const times: Record<string, number[]> = { snap: [], nosnap: [], bare: [], warm: [] };
  for (let round = 0; round < plan.wakeRounds; round++) {
    for (const c of rotate([...cases], round)) {
      await requestJson(port, "POST", "/bench/control/abort", admin, {
        kind: c.kind,
        tenant: "bench-wake",
        id: c.name,
      });
      const t0 = performance.now();
      const status = await send(undefined, port, { method: "GET", path: c.path, headers: auth });
      if (status !== 200) throw new Error(`cold read of ${c.path} answered ${status}`);
      times[c.name]?.push(performance.now() - t0);
    }
    const t0 = performance.now();
    await send(undefined, port, { method: "GET", path: "/v1/entities/inventory/snap", headers: auth });
    times.warm?.push(performance.now() - t0);
  }
  const snap = median(times.snap ?? []);
  const nosnap = median(times.nosnap ?? []);
  const bare = median(times.bare ?? []);
  push(
    "wake_ms_10k_events_with_snapshots",
    "cold wake + read, 10k events, snapshots",
    snap,
    "ms",
    nosnap,
    "the same entity without snapshots (full replay)",
    "lower",
  );
  push(
    "wake_ms_10k_events_without_snapshots",
    "cold wake + read, 10k events, no snapshots",
    nosnap,
    "ms",
    bare,
    "bare SQLite DO with 10k rows, cold count(*)",
    "lower",
  );
  diagnostics.push(
    `A warm read of the same 10k-event entity takes ${round(median(times.warm ?? []))} ms (median): wake-up cost is the difference.`,
  );
}

/** workerd RSS growth per entity woken by one command, against bare objects woken the same way. */
/**
 * workerd RSS growth per entity woken by one command, against bare objects woken the same way.
 * Each target gets a fresh wrangler dev of its own: in a server that has run other phases, new
 * objects reuse memory freed by evicted ones and the growth reads near zero or below.
 */
async function memoryFigure(): Promise<void> {
  const perEntity: Record<"factline" | "bare", number[]> = { factline: [], bare: [] };
  for (let round = 0; round < plan.memRounds; round++) {
    for (const target of rotate(["bare", "factline"] as const, round)) {
      await withFreshServer(`mem-${target}-${round}`, async (fresh) => {
        const { apiKey } = await requestJson<{ apiKey: string }>(fresh.port, "POST", "/admin/tenants", admin, {
          id: "bench-mem",
          name: "bench-mem",
        });
        // One command first, so the isolate, the tenant gate and the code paths exist before the baseline sample.
        await runLoad({
          port: fresh.port,
          concurrency: 1,
          durationMs: 10_000,
          maxRequests: 1,
          request: commandRequest(target, apiKey, () => "warm"),
        });
        await sleep(500);
        const before = fresh.rss();
        const r = await runLoad({
          port: fresh.port,
          concurrency: plan.concurrency,
          durationMs: 60_000,
          maxRequests: plan.memEntities,
          request: commandRequest(target, apiKey, (i) => `mem-${i}`),
        });
        // Sampled at once: workerd evicts idle objects within seconds and frees their memory.
        perEntity[target].push((fresh.rss() - before) / 1024 / Math.max(1, r.ok));
      });
    }
  }
  push(
    "memory_kib_per_idle_entity",
    "memory per idle entity (workerd RSS)",
    median(perEntity.factline),
    "KiB",
    median(perEntity.bare),
    "bare SQLite DO woken the same way",
    "lower",
  );
  diagnostics.push(
    `Memory per entity, per round (KiB): Factline ${perEntity.factline.map(round).join(", ")}; bare ${perEntity.bare.map(round).join(", ")}.`,
  );
}

/**
 * Durable Streams (edge/streams/), three figures each beside a baseline measured in the same run:
 * appends/s to one stream against the bare SQLite DO inserting one row behind the same middleware
 * (rounds interleaved); a catch-up read of STREAM_CATCHUP_MESSAGES messages in MB/s against the
 * same bytes paged out of the bare object by the same HTTP path; and workerd memory per idle SSE
 * follower of one stream against the same number of followers of one entity's own `/events` SSE.
 */
async function streamFigures(apiKey: string, tenant: string): Promise<void> {
  const auth = { authorization: `Bearer ${apiKey}` };
  const json = { ...auth, "content-type": "application/json" };
  await createStream(port, "/v1/stream/bench-append", json);
  // Appends: the same JSON body to one stream and to one bare object, rounds interleaved.
  const appendRounds: Record<"stream" | "bare", number[]> = { stream: [], bare: [] };
  for (let round = 0; round < plan.rounds; round++) {
    for (const target of rotate(["stream", "bare"] as const, round)) {
      const path =
        target === "stream" ? "/v1/stream/bench-append" : "/v1/bench/bare/inventory/stream-hot/commands/restock";
      const r = await runLoad({
        port,
        concurrency: plan.concurrency,
        durationMs: plan.roundMs,
        maxRequests: 1_000_000,
        request: () => ({ method: "POST", path, headers: auth, body: '{"quantity":1}' }),
      });
      appendRounds[target].push(r.ok / (r.elapsedMs / 1000));
      if (r.failed > 0) diagnostics.push(`stream appends, ${target}: ${fmtStatuses(r.statuses)}.`);
    }
  }
  pushRounds(
    "stream_appends_per_s_one_stream",
    "appends/s to one Durable Stream",
    appendRounds.stream,
    "appends/s",
    appendRounds.bare,
    "bare SQLite DO inserting one row, behind the same middleware",
    "higher",
    0.9,
  );

  // Catch-up: the stream and the bare object hold the same messages; both are paged out over HTTP, 1 MiB a page.
  await createStream(port, "/v1/stream/bench-catchup", { ...auth, "content-type": "text/plain" });
  await requestJson(port, "POST", "/bench/control/seed-stream", admin, {
    tenant,
    name: "bench-catchup",
    id: "bench-catchup",
    count: STREAM_CATCHUP_MESSAGES,
  });
  await requestJson(port, "POST", "/bench/control/seed", admin, {
    kind: "bare",
    tenant,
    id: "bench-catchup",
    count: STREAM_CATCHUP_MESSAGES,
    snapshots: false,
  });
  const catchup: Record<"stream" | "bare", number[]> = { stream: [], bare: [] };
  for (let round = 0; round < Math.max(2, Math.ceil(plan.rounds / 3)); round++) {
    for (const target of rotate(["stream", "bare"] as const, round)) {
      const t0 = performance.now();
      let bytes = 0;
      let after = target === "stream" ? "-1" : "0";
      for (let pages = 0; pages < 10_000; pages++) {
        const res = await fetch(
          `http://127.0.0.1:${port}${target === "stream" ? `/v1/stream/bench-catchup?offset=${after}` : `/v1/bench/bare/inventory/bench-catchup/read?after=${after}`}`,
          { headers: auth },
        );
        const body = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 200) throw new Error(`catch-up read answered ${res.status}`);
        bytes += body.byteLength;
        const next = target === "stream" ? res.headers.get("stream-next-offset") : res.headers.get("x-next");
        if (next === null || next === after || body.byteLength === 0) break;
        after = next;
        if (target === "stream" && res.headers.get("stream-up-to-date") === "true") break;
      }
      const seconds = (performance.now() - t0) / 1000;
      catchup[target].push(bytes / 1e6 / seconds);
      diagnostics.push(
        `catch-up read, ${target}, round ${round + 1}: ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s.`,
      );
    }
  }
  pushRounds(
    "stream_catchup_mb_per_s",
    `catch-up read of ${STREAM_CATCHUP_MESSAGES.toLocaleString("en-US")} messages`,
    catchup.stream,
    "MB/s",
    catchup.bare,
    "the same rows paged out of the bare SQLite DO, 1 MiB a page, same HTTP path",
    "higher",
  );

  // Idle SSE followers: memory per follower of one stream against followers of one entity's /events
  // feed, each round in a fresh wrangler dev of its own (as the memory phase): in this one, the
  // objects earlier phases left open are evicted while the followers open, and RSS fell under them.
  const perFollower: Record<"stream" | "entity", number[]> = { stream: [], entity: [] };
  for (let round = 0; round < plan.memRounds; round++) {
    for (const target of rotate(["stream", "entity"] as const, round)) {
      await withFreshServer(`followers-${target}-${round}`, async (fresh) => {
        const created = await requestJson<{ apiKey: string }>(fresh.port, "POST", "/admin/tenants", admin, {
          id: "bench-followers",
          name: "bench-followers",
        });
        const own = { authorization: `Bearer ${created.apiKey}` };
        if (target === "stream")
          await createStream(fresh.port, "/v1/stream/bench-followers", { ...own, "content-type": "application/json" });
        else
          await requestJson(fresh.port, "POST", "/v1/entities/inventory/bench-followed/commands/restock", own, {
            quantity: 1,
          });
        const path =
          target === "stream"
            ? "/v1/stream/bench-followers?offset=now&live=sse"
            : "/v1/entities/inventory/bench-followed/events?after=1";
        await sleep(1_000);
        const before = fresh.rss();
        const followers = await openFollowers(
          fresh.port,
          path,
          { ...own, accept: "text/event-stream" },
          STREAM_FOLLOWERS,
        );
        await sleep(1_000);
        perFollower[target].push((fresh.rss() - before) / 1024 / Math.max(1, followers.open));
        diagnostics.push(
          `SSE followers, ${target}, round ${round + 1}: ${followers.open} of ${STREAM_FOLLOWERS} open.`,
        );
        followers.close();
      });
    }
  }
  push(
    "stream_sse_follower_kib",
    `memory per idle SSE follower of one stream (${STREAM_FOLLOWERS.toLocaleString("en-US")} followers, workerd RSS)`,
    median(perFollower.stream),
    "KiB",
    median(perFollower.entity),
    "a follower of one entity's own /events SSE feed",
    "lower",
  );
}

/** Creates the Durable Stream at `path` (PUT, expecting 201) on the wrangler dev at `port`. */
async function createStream(port: number, path: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: "PUT", headers });
  if (res.status !== 201) throw new Error(`PUT ${path} answered ${res.status}`);
}

/**
 * Opens `count` SSE connections to `path`, FOLLOWER_WAVE at a time (a burst of all at once would
 * meet the tenant's in-flight cap, TENANT_MAX_IN_FLIGHT), each counted once its first bytes arrive.
 */
async function openFollowers(
  port: number,
  path: string,
  headers: Record<string, string>,
  count: number,
): Promise<{ open: number; close(): void }> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const requests: http.ClientRequest[] = [];
  const openOne = () =>
    new Promise<boolean>((resolve) => {
      const r = http.get({ host: "127.0.0.1", port, path, headers, agent }, (res) => {
        res.once("data", () => resolve(res.statusCode === 200));
        res.on("error", () => resolve(false));
      });
      r.on("error", () => resolve(false));
      r.setTimeout(30_000, () => resolve(false));
      requests.push(r);
    });
  let open = 0;
  for (let i = 0; i < count; i += FOLLOWER_WAVE) {
    const wave = await Promise.all(Array.from({ length: Math.min(FOLLOWER_WAVE, count - i) }, openOne));
    open += wave.filter(Boolean).length;
  }
  return {
    open,
    close() {
      for (const r of requests) r.destroy();
      agent.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------

async function newTenant(id: string): Promise<string> {
  const created = await requestJson<{ apiKey: string }>(port, "POST", "/admin/tenants", admin, { id, name: id });
  return created.apiKey;
}

function push(
  name: string,
  label: string,
  value: number,
  unit: string,
  baseline: number,
  baselineLabel: string,
  better: "higher" | "lower",
  target?: number,
  ratioOf = ratio(value, baseline),
): void {
  const f: Figure = {
    name,
    label,
    value: round(value),
    unit,
    baseline: round(baseline),
    baselineLabel,
    ratio: ratioOf,
    better,
    ...(target !== undefined ? { target } : {}),
  };
  figures.push(f);
  log(`${label}: ${f.value} ${unit} vs ${f.baseline} ${unit} → ${f.ratio}×`);
}

/** A figure measured in rounds that ran it and its baseline back to back: medians, and the median per-round ratio. */
function pushRounds(
  name: string,
  label: string,
  values: readonly number[],
  unit: string,
  baselines: readonly number[],
  baselineLabel: string,
  better: "higher" | "lower",
  target?: number,
): void {
  push(
    name,
    label,
    median(values),
    unit,
    median(baselines),
    baselineLabel,
    better,
    target,
    pairedRatio(values, baselines),
  );
}

/**
 * What the Worker logged as errors during the run, by message and by phase: every figure is
 * suspect while it logs errors at request rate (each line also costs wrangler's Node.js process
 * on the same cores).
 */
function loggedErrors(logFile: string): string {
  // wrangler colours its output; the escape codes are not part of the message.
  const colours = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
  const counts = new Map<string, number>();
  const byPhase = new Map<string, number>();
  let total = 0;
  let offset = 0;
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    const at = offset;
    offset += Buffer.byteLength(line) + 1;
    // wrangler's own "[ERROR]" lines, and "[wrangler:error]" for what miniflare's internal
    // workers (the queue broker, for one) throw.
    const text = /\[(?:ERROR|wrangler:error)\]\s*(.*)/.exec(line.replace(colours, ""))?.[1]?.trim();
    if (!text) continue;
    total++;
    const message = (structuredLogMessage(text) ?? text).slice(0, 160);
    counts.set(message, (counts.get(message) ?? 0) + 1);
    const during = phasesRun.findLast((p) => p.logBytesBefore <= at)?.name ?? "start-up";
    byPhase.set(during, (byPhase.get(during) ?? 0) + 1);
  }
  if (total === 0) return "wrangler's log of the run has no errors.";
  const top = [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([m, n]) => `${n}× "${m}"`);
  const phases = [...byPhase].map(([name, n]) => `${name} ${n}`);
  const known = [...counts.keys()].flatMap((m) => KNOWN_ERRORS.find((k) => k.message.test(m))?.cause ?? []);
  return `wrangler logged ${total} errors during the run (bench/tmp/wrangler.log), by phase: ${phases.join(", ")}; most often: ${top.join("; ")}.${[...new Set(known)].map((cause) => ` ${cause}`).join("")}`;
}

/** The isolate's command limit and the commands in flight in it, as the bench control reports them. */
interface AdmissionSample {
  readonly limit: number;
  readonly inFlight: number;
  /** Each entity's cap on commands in flight from one isolate (ENTITY_MAX_IN_FLIGHT). */
  readonly entityCap: number;
}

/**
 * Samples the isolate's admission every ADMISSION_SAMPLE_MS until `stop`, which answers the samples
 * and a last reading. Shows whether the door had anything to refuse during an overload round:
 * requests waiting in front of the Worker (wrangler's proxy, the sockets) are not in flight in it.
 */
function sampleAdmission() {
  const samples: AdmissionSample[] = [];
  const read = () => requestJson<AdmissionSample>(port, "GET", "/bench/control/command-limit", admin);
  let running = true;
  const loop = (async () => {
    while (running) {
      await sleep(ADMISSION_SAMPLE_MS);
      if (running) samples.push(await read());
    }
  })();
  return {
    async stop(): Promise<{ samples: AdmissionSample[]; last: AdmissionSample }> {
      running = false;
      await loop;
      return { samples, last: await read() };
    },
  };
}

function fmtAdmission(samples: readonly AdmissionSample[], last: AdmissionSample): string {
  const inFlight = samples.map((s) => s.inFlight);
  const limits = samples.map((s) => s.limit);
  return samples.length === 0
    ? `the isolate's command limit ended at ${last.limit}`
    : `commands in flight in the isolate, sampled every ${ADMISSION_SAMPLE_MS} ms: median ${median(inFlight)}, max ${Math.max(...inFlight)}, against its command limit (min ${Math.min(...limits)}, ended at ${last.limit}) and the entity's cap of ${last.entityCap} (ENTITY_MAX_IN_FLIGHT)`;
}

/** A structured log line (src/core/runtime/log.ts) by what it says, without its ids and time. */
function structuredLogMessage(text: string): string | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const line = JSON.parse(text) as { msg?: unknown; status?: unknown; error?: unknown };
    return [line.msg, line.status, line.error].filter((part) => part !== undefined).join(" ");
  } catch {
    return undefined;
  }
}

function fmtSeconds(values: readonly number[]): string {
  return values.map((v) => round(v)).join(", ");
}

/**
 * Runs `work` against a wrangler dev of its own, on a fresh state directory `name` under the run's
 * temporary directory (D1 migrated, logging only errors), and stops it afterwards.
 */
async function withFreshServer(name: string, work: (fresh: DevServer) => Promise<void>): Promise<void> {
  const state = join(tmp, name);
  applyMigrations(config, state);
  const fresh = await startDevServer({
    config,
    persistDir: state,
    adminToken,
    logFile: join(tmp, `${name}.log`),
    logLevel: "error",
  });
  try {
    await work(fresh);
  } finally {
    await fresh.stop();
  }
}

/**
 * Waits until workerd has evicted the objects a 1,000-entity phase left open (idle for 10 s), so
 * the next phase does not run beside them: they hold memory and share SQLite's heap, capped for
 * the whole process.
 */
async function letIdleObjectsGo(): Promise<void> {
  await sleep(12_000);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** The statuses of several load runs, added up. */
function sumStatuses(runs: readonly { readonly statuses: Readonly<Record<string, number>> }[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const run of runs) for (const [status, n] of Object.entries(run.statuses)) sum[status] = (sum[status] ?? 0) + n;
  return sum;
}

function fmtStatuses(statuses: Record<string, number>): string {
  return (
    Object.entries(statuses)
      .map(([s, n]) => `${n}× ${s === "0" ? "network error" : s}`)
      .join(", ") || "none"
  );
}

/** Refuses to run when wrangler.toml gained a binding the bench config does not have. */
function checkBindingsMirrored(): void {
  const names = (text: string) =>
    new Set([...text.matchAll(/^\s*(?:binding|name|class_name|queue)\s*=\s*"([^"]+)"/gm)].map((m) => m[1]));
  const prod = names(readFileSync(join(root, "wrangler.toml"), "utf8"));
  const bench = names(readFileSync(join(root, "bench", "wrangler.bench.toml"), "utf8"));
  const missing = [...prod].filter((n) => n !== undefined && n !== "factline" && !bench.has(n));
  if (missing.length > 0) {
    console.error(
      `bench/wrangler.bench.toml lacks what wrangler.toml declares: ${missing.join(", ")}. Mirror it there.`,
    );
    process.exit(2);
  }
}

function machine(): Machine {
  const version = (pkg: string) => {
    try {
      return (JSON.parse(readFileSync(join(root, "node_modules", pkg, "package.json"), "utf8")) as { version: string })
        .version;
    } catch {
      return "unknown";
    }
  };
  return {
    cpus: os.cpus()[0]?.model.trim() ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    workerd: version("workerd"),
    wrangler: version("wrangler"),
  };
}

function report(seconds: number): void {
  let commit = "unknown";
  try {
    commit = execSync("git rev-parse --short HEAD", { cwd: root, encoding: "utf8" }).trim();
  } catch {
    // not a git checkout
  }
  const notes = [
    `Everything runs on one local \`wrangler dev\` (workerd) started by the harness with bench/wrangler.bench.toml on a free 127.0.0.1 port, a fresh temporary --persist-to directory (${tmpfs ? "in /dev/shm, so SQLite commits do not wait for a disk fsync; `--disk` uses the OS temp directory instead" : "on disk (--disk)"}), and D1 migrations applied with \`wrangler d1 migrations apply DB --local\`. Requests go over real HTTP/1.1 keep-alive connections from a Node client (${plan.concurrency} concurrent), bounded in count and time.`,
    quietLogs
      ? "Logs: the Worker runs with LOG_LEVEL=warn (no line per request or per fact applied) and wrangler with --log-level error. Locally every console line crosses the DevTools protocol into wrangler's Node.js process on the same 2 cores: a line per request alone cut the HTTP floor from about 950 to 250 req/s on this machine, a cost production (where logs leave the isolate for Workers Logs) does not have. `--log-lines` measures with both at their defaults."
      : "Logs: measured with --log-lines, so the Worker writes a line per request and per fact applied (LOG_LEVEL=info) and wrangler prints them; locally each line crosses the DevTools protocol into wrangler's Node.js process on the same 2 cores.",
    `Rounds: a warm-up per target (up to ${plan.warmupMs / 1000} s or every object woken once; over 1,000 entities every object woken again before each round, untimed, since workerd evicts objects idle for about 10 s and the other targets' rounds take longer than that), then ${plan.rounds} rounds of ${plan.roundMs / 1000} s per target, targets interleaved and rotated per round; figures are medians of per-round values (p50/p99 per round, then the median), and a command figure's ratio is the median of its per-round ratios: both sides of a pair ran back to back, so a slowdown of the shared machine that outlasts a round moves both alike, where it would skew a ratio of two medians taken from different rounds.`,
    "True bare baseline (the headline): a Worker whose fetch handler hands the body to a SQLite Durable Object inserting one row per request (in a transactionSync, which on one object here ran about 1.6× faster than the same insert left to the implicit transaction, into an INTEGER PRIMARY KEY table without AUTOINCREMENT, which would rewrite sqlite_sequence and so write a second row per insert), reached at /substrate/{tenant}/{type}/{id}/commands/{command} with no router, middleware, authentication or validation beyond 'is it JSON': the substrate itself, what a user would write without Factline. Its object for a tenant, type and id is the one the bare route behind the middleware (next) uses, so the two baselines share their objects.",
    "Outbox floor: the same Worker and objects at /substrate-send/…, where the object, after its insert commits, also puts the row on a queue (one send per row, in the background as Factline's relay sends; a consumer with the facts consumer's batch settings acknowledges each batch at once). No outbox row, cursor or retry: what any design that ships every fact through a queue pays on this substrate. Locally the queue's broker runs inside the same workerd as the objects, so its work takes turns with theirs; in production it runs elsewhere. Factline's commands hand their facts to the API's Worker, which puts the facts of every command it answered within 10 ms into one sendBatch (edge/entity/fact-handoff.ts): over 1,000 entities a send carries facts of many entities, where the floor sends one message per row; on one entity the entity's batches already held many facts before (its relay sends what was committed while a send was in flight).",
    "Bare baseline behind the middleware (second row): the same object reached at /v1/bench/bare/{type}/{id}/commands/{command}, mounted on production's app so that it runs every middleware a command runs (security headers, request id and trace context, metrics, CORS, tenant admission from the isolate's cache); its ratio to the true bare object is the middleware's cost. Neither baseline validates, decides, or writes outbox, idempotency or snapshots.",
    "Tenants: the same commands over 1,000 entities (edge alone: the consumer paused for each round and caught up after it; every round preceded by an untimed pass waking its arm's objects, which are not the other arm's since a tenant is part of an entity's address) sent with one tenant's key, or with ten tenants' keys (each entity belonging to one of them), rounds interleaved; the ratio shows whether anything per tenant caps a tenant.",
    `Overload (whole platform, consumer live): on one entity and over 200, a warm-up, then capacity C measured as the commands accepted per second from 64 closed-loop connections, then an open loop (requests leave on a fixed schedule whatever the answers, latency counted from each request's scheduled time, at most 1,024 outstanding) at C/2 for ${OVERLOAD_HALF_MS / 1000} s and at 2×C for ${OVERLOAD_MS / 1000} s; the figure is accepted commands' p99 at 2×C against their p99 at C/2, and the line under 'Where the time goes' lists every status and whether every 429/503 carried Retry-After. A shed answer's CPU: the same open loop at C/2 against an entity whose in-flight places a bench control holds (so the production path sheds every command to it at the door), workerd CPU per answer against workerd CPU per accepted command in the C/2 round (one rate for both: workerd's CPU per request falls as the rate rises); the floor is the same request (method, headers, body) offered at C/2 to /bench-floor, which the bench Worker answers 204 at its entry before any of Factline's code runs (GET /healthz, through the app's middleware, is measured beside it); shed and floor rounds alternate (3 of each, half the C/2 round's length), medians of the per-round figures. The time inside the Worker is each answer's Server-Timing 'worker' entry, which the bench Worker adds to requests that ask for it (every request of this phase): from the request reaching the Worker's JavaScript to its answer's headers, which is where admission can act; the rest of an answer's latency is the wait before the Worker saw it (the load generator's sockets, wrangler's proxy, workerd's HTTP parsing). wrangler's proxy answers 503 "Your worker restarted mid-request" to any POST it failed to forward to the Worker's runtime (its restart check compares the request's whole URL with the runtime's base URL, so it reads every lost connection as a restart); the statuses name those 'wrangler-proxy-lost-connection' and list them with the network errors, not as shed answers.`,
    `Worker CPU with the HTTP transport left out (after the overload rounds): a bench control (/bench/control/dispatch) hands copies of one request, with its headers, Content-Length and body, to the bench Worker's entry inside the isolate one after another, and workerd's CPU is read from before the one HTTP request that carries them until ${DISPATCH_SETTLE_MS / 1000} s after its answer, so what an arm sets going (queue sends, the broker's turns) is charged to it and not to the next, less an idle window of the same length measured each round (${DISPATCHED_ANSWERS.toLocaleString("en-US")} copies of a cheap answer, ${DISPATCHED_COMMANDS.toLocaleString("en-US")} of a command, per arm and round; quick mode fewer). Arms, interleaved, a first round uncounted, then ${DISPATCH_ROUNDS} rounds, medians: the command's request answered 204 at the entry (the dispatch's own cost), GET /healthz, a command without a key (401), a command shed at the door of an entity whose places a bench control holds (429), true bare, bare + queue send, bare behind the middleware, and an accepted command edge alone (consumer paused) on one entity. The figure is the shed answer against the accepted command.`,
    "Admission on the command path (issue #19): no per-request call to any per-tenant object (the key's standing comes from the isolate's cache, see README 'Admission'); a command is shed at the door, after the key check and before its body is read, by the entity's in-flight cap and by the isolate's command limit that follows queueing delay (AIMD on the shortest round trip to the object per 100 ms, target 25 ms). What a shed answer costs is therefore the HTTP floor plus the key check: locally the floor (both workerd processes parsing and answering the request, measured with the same request answered at the bench Worker's entry) is most of any request's workerd CPU, so the shed figure is given beyond the floor (what the Worker adds, which is what shedding controls and what Workers bill as CPU time) and with the floor included. At 2× capacity the local machine is saturated as a whole (the load generator, wrangler's proxy and workerd share 2 cores), so requests queue in front of the Worker, in wrangler's proxy and the sockets, where no admission inside the Worker can see or refuse them; accepted p99 at 2× measures that queue. The time inside the Worker shows it: at 2× an accepted command's median there stays near 10 ms while its median in all is over a second. So do the commands in flight in the isolate during the 2× round (sampled, under 'Where the time goes'): when they stay below the entity's cap and the isolate's limit, the door had nothing to refuse, and the Worker's own p99 there is the wait for CPU in a workerd that runs the Worker, the objects, the queue broker and D1 on a saturated machine, not a queue of commands that admission could shorten.",
    "Where a command's CPU goes in JavaScript (a one-off V8 CPU profile through wrangler's inspector, 16 connections on one entity, whole platform, 2026-12-01; not part of this harness because it needs the inspector's WebSocket client): JavaScript, garbage collection included, is about 0.3-0.4 ms of the 2-2.4 ms of workerd CPU per command; the rest is the runtime (HTTP in wrangler's proxy and in the Worker's workerd, the call into the object, SQLite, the local queue broker and D1). Of the JavaScript samples: the command route (body read 5 %, zod validation 4 %, the call and the answer) 19 %; the entity object's command 16 % (its storage transaction 9 %, of which the event row's JSON 5 %; the fact's queue message, built once, 1.4 %); Hono's middleware chain (security headers, request id and trace, metrics, tenant admission 1.2 %) about 10 %; the relay's sends 6 %; the facts consumer 3 %. Reading request variables with c.get instead of Hono's c.var (which copies them all into a new object per access) removed 2.6 %. A second one-off profile (2026-12-06, edge alone, one entity, 4,000 commands handed to the Worker's entry inside the isolate through /bench/control/dispatch, so no HTTP; taken beside other work, so shares, not times): the entity object's command 29 % of the samples (its SQLite transaction 22 %, the statements' own time 13 %); Hono's dispatch through the middleware 14 %; the command route's handler 10 %, of which 5.3 % at its resumption after the object's answer, where deserializing the RPC result is charged (the outcome carries each fact twice, as the answer's events and as the hand-off's queue messages); the hand-off's sendBatch 2.6 %; garbage collection 2.5 %; idle 10 % and native code outside JavaScript 16 %. No single JavaScript hot spot.",
    `Machine load: 1/5/15-minute load averages ${loadAtStart.map((l) => l.toFixed(2)).join("/")} at the start and ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(
        "/",
      )} at the end of the run on ${os.cpus().length} cores; anything above about 1 means other work (other test suites or benches on a shared machine) took turns with this run, which widens every figure's spread.`,
    "CRUD baseline: a Durable Object that reads its state, applies the restock and overwrites it (storage.get/put) per request, with zod validation: what a team would write by hand without event sourcing. Measured on one entity only (see the note on SQLITE_NOMEM below).",
    "Factline's commands are measured two ways, in interleaved rounds against the same entities. Whole platform: each recorded fact is relayed to the queue, applied to D1 and acknowledged back into its entity while the round runs, all on the same local workerd. Edge alone: the same command path and relay (facts are recorded, sent to the queue and their sends marked), with the facts consumer paused for the round by a bench-only control that holds the batch it was handed; the consumer then catches up before the next round, so the consumer's acknowledgements (one call into the entity per entity per consumer batch) also land after the round: on one entity that is one call per up to 100 facts, over 1,000 entities about one per command, which the edge-alone figure leaves out and the whole-platform figure includes. workerd runs every isolate and object on one thread, so in the whole-platform rounds the cloud tier (queue broker, consumer, D1, acknowledgements) takes turns with the commands on that thread; in production it runs on other machines. The 0.9× target of issue 3 is held by the edge-alone figures, which measure the entity runtime against the bare object on equal terms; the whole-platform figures add the cloud tier's work for every fact on the same 2 cores (the CPU lines below show how much) and are reported beside them, without a target. ENTITY_MAX_BACKLOG is 20,000 in the bench config so that the edge-alone rounds are not shed (backpressure is covered by the test suite). After each Factline round the harness waits until the view has caught up, so baselines never share the machine with Factline's consumer.",
    `Client sync (issue #18): ${CLIENT_COMMANDS.toLocaleString("en-US")} restocks to ${CLIENT_ENTITIES} entities, queued in a factline/client memory outbox and synced by a client created on it (${CLIENT_CONCURRENCY} entities at once, each in order, every command with its client-session headers), timed from the client's creation until every command is answered; baselines in the same rounds, arms rotated: the same commands posted by a plain loop awaiting each answer, and by ${CLIENT_CONCURRENCY} plain loops each owning a share of the entities (the client's own schedule, written by hand). All arms use Node's fetch against the same wrangler dev, and the harness waits for the consumer to catch up between arms; an untimed client sync and concurrent-loops pass on entities of their own comes first (the phase's first timed arm ran up to 1.75× slower than later rounds). Size: client/index.ts bundled by esbuild for browsers (ES modules, minified) and gzipped at level 9; the domain (and the zod its schemas use) is the application's and is not counted; the client's own checks of what the view feed sends use zod/mini, which is.`,
    `End-to-end: ${plan.e2eCommands} restock commands over 100 entities; time from the first command to the moment projection checkpoints in D1 account for every accepted fact.`,
    `Consumer: ${plan.consumerFacts.toLocaleString("en-US")} synthetic Restocked facts over ${CONSUMER_ENTITIES} entities sent seq-major (each queue batch mixes entities) to the real facts queue and consumer, and the same to a bench-only queue drained by a naive consumer (one awaited D1 upsert per fact). Both include queue delivery (local batches of up to 100, 1 s timeout). Emmett was not compared: \`@event-driven-io/emmett-sqlite\` needs the native \`sqlite3\` Node module and there is no Durable Object/D1 event store in the Emmett family on npm, so it cannot run inside workerd.`,
    `Wake-up: entities seeded with ${WAKE_EVENTS.toLocaleString("en-US")} Restocked events by a bench-only method of the entity object (the same EventLog appends, snapshots every 100 events or none), then forced cold by a bench-only route that calls ctx.abort() on the object; the figure is the latency of the first GET /v1/entities/inventory/{id} after it (median of ${plan.wakeRounds}).`,
    `Memory: workerd resident set (both workerd processes wrangler starts) just before and just after waking ${plan.memEntities.toLocaleString("en-US")} new entities with one command each, divided by the count, each target in a fresh wrangler dev of its own (one command first, so the isolate exists before the first sample); ${plan.memRounds} rounds, median per target. Sampled at once, because workerd evicts idle objects within seconds and frees their memory. RSS includes allocator and V8 heap noise: treat it as an order of magnitude.`,
    "SQLite rows written: the bench's entity and bare objects wrap their storage's sql.exec and add up each statement's cursor.rowsWritten (the count SQLite-backed Durable Objects are billed by, developers.cloudflare.com/durable-objects/platform/pricing), from before a target's round to the end of the catch-up after it (until the target's objects have written no row for 300 ms, at most 3 s, since the acknowledgements reach the entities after the view), per accepted command: Factline's event rows and the relay's cursor row, written with each acknowledgement (one per consumer batch and entity), or on its own when a send finds everything it sent acknowledged already, when more than 100 sent facts would stay unwritten, or when the commit's alarm (the safety net after a send of the entity's own, the acknowledgement deadline after a batch handed to the command's caller) fires before the acknowledgement came, against the bare object's one row. The alarm and the key-value API (the schema migrations' tracking key) are not SQL statements and are not counted. Factline's log is its outbox (a cursor, pending_from, marks the oldest fact not yet accepted by the queue), so a fact costs no outbox row inserted and deleted.",
    "Reading the CPU lines under 'Where the time goes': CPU time of the workerd processes (read from /proc) per successful command, during a target's rounds and, for Factline, while its relay and consumer catch up afterwards. Every target but the true bare one runs the same middleware (its share is the difference between the two bare rows); what Factline adds is its command path (validation, decision, one transaction appending the event (the log is the outbox) and the idempotency record, the relay's send and its cursor) and, in the whole-platform rounds, the cloud tier.",
    "Failed responses are counted (the response lines above) and excluded from throughput and latency. wrangler's output of the last run is kept in bench/tmp/wrangler.log (git-ignored). Earlier runs had 500s in the 1,000-entity rounds: workerd answering SQLITE_NOMEM ('out of memory') for Factline and the baselines alike. workerd caps SQLite's heap for the whole process (sqlite3_hard_heap_limit64, 512 MiB in this version; workerd PR 6570 raises it behind an autogate), shared by every open object's page cache and prepared statements: with about 4,000 objects open (1,000 per target, CRUD's included) it was reached. The 1,000-entity rounds therefore leave the CRUD target out, and the two bare baselines share their objects, so about 2,000 objects are open at once.",
    `Rebuild: ${(plan.rebuildEntities * REBUILD_EVENTS_PER_ENTITY).toLocaleString("en-US")} Restocked events over ${plan.rebuildEntities} inventory entities of one tenant, seeded by the bench-only method of the entity object (marked relayed and acknowledged, so no relay work follows) while a bench-only route records each entity's head in D1's entity_heads with the consumer's own statement (cloud/consumer/entity-heads.ts), as if its facts had reached the cloud tier; generation 0 stays empty. The figure is the time from POST /admin/projections/inventory/rebuild to GET /admin/projections showing no rebuild running (polled every 100 ms), after which the harness checks that the new generation's checkpoints account for every event. Baseline, in the same run, rounds interleaved: a bench-only route that reads the same events from the same entity objects (pages of 1,000) and inserts one row per event into a plain D1 table, one D1 batch per entity, 20 entities at a time as a rebuild step reads them: the cost of moving the logs into D1 without projection logic, checkpoints or guards. Median of ${plan.rebuildRounds} round${plan.rebuildRounds === 1 ? "" : "s"}; every round rebuilds the same tenant into a new generation and drops the previous one.`,
    ...(runNote ? [`Note for this run: ${runNote}`] : []),
    `Durable Streams (edge/streams/; \`--only streams\` runs just this phase): appends — ${plan.rounds} rounds of ${plan.roundMs / 1000} s, interleaved, of POST /v1/stream/bench-append (an application/json stream, body {"quantity":1}) against POST /v1/bench/bare/…/commands/restock (the bare SQLite DO inserting one row, behind the same middleware, the same body); catch-up — a text/plain stream and a bare object seeded by bench-only methods with the same ${STREAM_CATCHUP_MESSAGES.toLocaleString("en-US")} messages (the bare seed's fact JSON, ~400 bytes each), both paged out over HTTP 1 MiB a page (the stream by Stream-Next-Offset, the bare object by a bench-only GET …/read?after=), MB/s of bodies received; followers — in a fresh wrangler dev per round and target (as the memory phase), workerd RSS before and 1 s after ${STREAM_FOLLOWERS.toLocaleString("en-US")} SSE connections (opened ${FOLLOWER_WAVE} at a time) to one stream at offset=now, against as many to one entity's /events SSE feed, ${plan.memRounds} rounds, median.`,
  ];
  mkdirSync(join(root, "docs"), { recursive: true });
  const m = machine();
  writeFileSync(
    join(root, "docs", "performance.md"),
    performanceMarkdown(figures, m, {
      mode: quick ? "quick" : "full",
      startedAt: new Date(started).toISOString(),
      durationS: seconds,
      commit,
      notes,
      diagnostics,
    }),
  );
  writeFileSync(
    join(root, "docs", "performance.svg"),
    ratioChartSvg(
      figures,
      `Factline vs baselines (${m.cores} cores, workerd ${m.workerd}, ${quick ? "quick" : "full"} run)`,
    ),
  );
  if (writeJson) writeFileSync(join(root, "bench", "results.json"), resultsJson(figures));
  log(`wrangler's output: bench/tmp/wrangler.log`);
  log(`wrote docs/performance.md, docs/performance.svg${writeJson ? ", bench/results.json" : ""} in ${seconds} s`);
}

function log(message: string): void {
  console.log(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
}
