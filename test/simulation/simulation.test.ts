// The deterministic simulation in CI (src/simulation/): a campaign of at least 100,000 simulated
// commands and 10,000 injected faults on a seed that changes per run (printed), with no anomaly;
// exact replay from a seed; shrinking; and the mutation check, which shows that the simulator
// finds each of six fixed defects re-introduced one at a time.
import { describe, expect, it } from "vitest";
import { MUTANTS, runMutants } from "../../reference/simulation-mutants.js";
import { referenceApp } from "../../reference/simulation.js";
import { appsFor } from "../../scripts/sim-apps.js";
import { runCampaign, summaryLine } from "../../src/simulation/campaign.js";
import { runSimulation, shrink } from "../../src/simulation/run.js";

const OPS_PER_RUN = 2500;

describe("deterministic simulation", () => {
  it("simulates 100,000 commands under 10,000 injected faults with no anomaly", async () => {
    const seed = Math.floor(Math.random() * 2 ** 32);
    console.log(`simulation seed ${seed} (reproduce: npm run sim -- --seed ${seed})`);
    const result = await runCampaign({
      seed,
      commands: 100_000,
      wallMs: Number.POSITIVE_INFINITY,
      operationsPerRun: OPS_PER_RUN,
      appForRun: appsFor(),
      shrinkRuns: 20,
    });
    console.log(summaryLine(result));
    const failure = result.failures[0];
    expect(
      failure && {
        seed: failure.seed,
        app: failure.app,
        replay: `npm run sim -- --replay ${failure.seed} --app ${failure.app} --ops ${OPS_PER_RUN}`,
        anomalies: failure.anomalies.slice(0, 5),
        trace: failure.trace.slice(0, 50),
      },
    ).toBeUndefined();
    expect(result.commands).toBeGreaterThanOrEqual(100_000);
    expect(result.faults).toBeGreaterThanOrEqual(10_000);
  });

  it("replays a run exactly from its seed", async () => {
    const once = await runSimulation({ seed: 4242, app: () => referenceApp(), operations: 400 });
    const again = await runSimulation({ seed: 4242, app: () => referenceApp(), operations: 400 });
    expect(again.commands).toBe(once.commands);
    expect(again.faultsByKind).toEqual(once.faultsByKind);
    expect(again.simulatedMs).toBe(once.simulatedMs);
    expect(again.ops).toEqual(once.ops);
  });

  it("shrinks a failing run to a short trace that still fails", async () => {
    const mutations = MUTANTS.find((m) => m.id === "T09")?.mutations ?? {};
    // 150 operations: seed 11 fails within them, and every candidate the shrinker tries stays a
    // short run (at 300 the run simulates 46 s of platform time, and shrinking it took 30 s).
    const options = { seed: 11, app: () => referenceApp(mutations), operations: 150, mutations };
    const failing = await runSimulation(options);
    expect(failing.anomalies.length).toBeGreaterThan(0);
    const trace = await shrink(options, failing.ops, 30);
    expect(trace.length).toBeLessThanOrEqual(3);
    expect((await runSimulation({ ...options, ops: trace })).anomalies.length).toBeGreaterThan(0);
  });

  it("finds each re-introduced defect (F1, F2, F3, F5, L1, T09) within the CI budget", async () => {
    const results = await runMutants(11, 100_000, OPS_PER_RUN, appsFor, (line) => console.log(line));
    expect(results.map((r) => [r.mutant.id, r.killed])).toEqual(MUTANTS.map((m) => [m.id, true]));
  });
});
