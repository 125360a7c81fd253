// `npm run sim:mutants`: the mutation check. Re-introduces fixed defects (F1, F2, F3, F5, T09 of
// the findings, L1 of the live feed; the table in docs/reliability.md "Mutation check") one at a
// time and shows the simulator finds each within the CI budget (100,000 commands).
// Flags: --seed N (default: random, printed), --commands K, --ops N (a flag it does not accept is
// an error, exit 2). Exits 1 if a mutant survives. The last line is JSON:
// {"seed","mutants","killed","survivors","results":[{"id","killed","commands","runs","seconds"}]}.
import { runMutants } from "../reference/simulation-mutants.js";
import { appsFor } from "./sim-apps.js";
import { orExit, parseMutantArgs } from "./sim-args.js";

const values = orExit(parseMutantArgs(process.argv.slice(2)));
const seed = values.seed ?? Math.floor(Math.random() * 2 ** 32);
console.log(`mutation check, seed ${seed}`);
const results = await runMutants(seed, values.commands ?? 100_000, values.ops ?? 2500, appsFor, (line) =>
  console.log(line),
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
