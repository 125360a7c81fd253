// `npm run sim`: the deterministic simulation (src/simulation/). Flags:
//   --seed N        the campaign's seed (default: random, printed)
//   --commands K    stop after K simulated entity commands (default 100000)
//   --minutes M     stop after M minutes instead (the night soak: --minutes 30)
//   --ops N         client operations per run (default 2500)
//   --replay S      replay the one run of seed S exactly (with --app reference|todo, --ops N)
//   --no-shrink     print a failing run's whole trace instead of shrinking it
//   --app A         with --replay: the app the run simulated (reference, the default, or todo)
// A failing run prints its seed, its anomalies and a shrunk trace of operations. The last line is
// JSON: {"seed","runs","commands","faults","anomalies","seconds"}. A flag it does not accept is an
// error (exit 2, see sim-args.ts).
import { appNamed, appsFor } from "./sim-apps.js";
import { orExit, parseSimArgs } from "./sim-args.js";
import { runCampaign, summaryLine } from "../src/simulation/campaign.js";
import { runSimulation, shrink } from "../src/simulation/run.js";

const values = orExit(parseSimArgs(process.argv.slice(2)));
const ops = values.ops ?? 2500;

if (values.replay !== undefined) {
  const seed = values.replay;
  const app = appNamed(values.app ?? "reference");
  const started = Date.now();
  const run = await runSimulation({ seed, app, operations: ops });
  for (const a of run.anomalies) console.log(`anomaly: ${a}`);
  if (run.anomalies.length > 0 && !values["no-shrink"]) {
    const trace = await shrink({ seed, app, operations: ops }, run.ops);
    console.log(`shrunk trace (${trace.length} of ${run.ops.length} operations):`);
    for (const op of trace) console.log(`  ${JSON.stringify(op)}`);
  }
  console.log(
    JSON.stringify({
      seed,
      runs: 1,
      commands: run.commands,
      faults: run.faults,
      anomalies: run.anomalies.length,
      seconds: (Date.now() - started) / 1000,
    }),
  );
  process.exit(run.anomalies.length > 0 ? 1 : 0);
}

const seed = values.seed ?? Math.floor(Math.random() * 2 ** 32);
const minutes = values.minutes ?? null;
console.log(`simulation seed ${seed}`);
const result = await runCampaign({
  seed,
  commands: minutes === null ? (values.commands ?? 100_000) : Number.POSITIVE_INFINITY,
  wallMs: minutes === null ? Number.POSITIVE_INFINITY : minutes * 60_000,
  operationsPerRun: ops,
  appForRun: appsFor(),
  shrinkRuns: values["no-shrink"] ? 0 : 40,
  log: (line) => console.log(line),
});
for (const f of result.failures) {
  console.log(
    `\nFAILED seed ${f.seed} (${f.app}); replay: npm run sim -- --replay ${f.seed} --app ${f.app} --ops ${ops}`,
  );
  for (const a of f.anomalies.slice(0, 10)) console.log(`  anomaly: ${a}`);
  console.log(`  trace (${f.trace.length} operations):`);
  for (const op of f.trace.slice(0, 200)) console.log(`    ${JSON.stringify(op)}`);
}
console.log(`faults injected by kind: ${JSON.stringify(result.faultsByKind)}`);
console.log(summaryLine(result));
process.exit(result.anomalies > 0 ? 1 : 0);
