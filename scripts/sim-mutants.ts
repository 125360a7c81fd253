// `npm run sim:mutants`: the mutation check. Re-introduces F1, F2, F3, F5, L1 and T09 (FINDINGS.md; L1 in docs/reliability.md)
// one at a time and shows the simulator finds each within the CI budget (100,000 commands).
// Flags: --seed N (default: random, printed), --commands K, --ops N. Exits 1 if a mutant survives.
import { parseArgs } from "node:util";
import { runMutants } from "../reference/simulation-mutants.js";
import { appsFor } from "./sim-apps.js";

const { values } = parseArgs({
  options: { seed: { type: "string" }, commands: { type: "string" }, ops: { type: "string" } },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(values.seed) >>> 0;
console.log(`mutation check, seed ${seed}`);
const results = await runMutants(
  seed,
  Number(values.commands ?? 100_000),
  Number(values.ops ?? 2500),
  appsFor,
  (line) => console.log(line),
);
const survivors = results.filter((r) => !r.killed).map((r) => r.mutant.id);
console.log(
  JSON.stringify({
    seed,
    mutants: results.length,
    killed: results.length - survivors.length,
    survivors,
    results: results.map((r) => ({
      id: r.mutant.id,
      killed: r.killed,
      commands: r.campaign.commands,
      runs: r.campaign.runs,
      seconds: r.campaign.seconds,
    })),
  }),
);
process.exit(survivors.length > 0 ? 1 : 0);
