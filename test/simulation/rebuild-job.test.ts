// The shared rebuild job (src/core/projection/rebuild-job.ts) run by the simulator's rebuilder:
// a finish step that runs again after its switch committed keeps the generation it activated,
// and the F3 mutant — the same job with the pre-fix finish switched on — clears it.
import { afterEach, describe, expect, it } from "vitest";
import { referenceApp } from "../../reference/simulation.js";
import { armFault, InjectedFault } from "../../src/core/resilience/fault-injection.js";
import type { Operation } from "../../src/simulation/app.js";
import type { Mutations } from "../../src/simulation/config.js";
import { DEFAULT_FAULTS, scaleFaults } from "../../src/simulation/faults.js";
import { runSimulation } from "../../src/simulation/run.js";

const disarm: (() => void)[] = [];
afterEach(() => {
  while (disarm.length) disarm.pop()?.();
});

const restock = (quantity: number): Operation => ({
  kind: "command",
  tenant: "t1",
  entityType: "inventory",
  entityId: "s1",
  command: "restock",
  data: { quantity },
});

/** A rebuild of t1's inventory view between restocks, with no random faults; its first finish fails after the switch. */
async function rebuildWhoseFinishRunsTwice(mutations: Mutations) {
  let crashes = 0;
  disarm.push(
    armFault("rebuild.afterSwitch", () => {
      // D1 committed the switch, then the step failed: the alarm runs the finish again.
      if (crashes++ === 0) throw new InjectedFault("rebuild.afterSwitch");
    }),
  );
  const ops: Operation[] = [
    restock(6),
    restock(1),
    { kind: "wait", ms: 5_000 },
    { kind: "rebuild", tenant: "t1", projection: "inventory" },
    { kind: "wait", ms: 60_000 },
    restock(2),
  ];
  const result = await runSimulation({
    seed: 1,
    app: () => referenceApp(),
    operations: ops.length,
    ops,
    faults: scaleFaults(DEFAULT_FAULTS, 0),
    mutations,
  });
  return { crashes, anomalies: result.anomalies };
}

describe("the shared rebuild job in the simulator", () => {
  it("keeps the generation it activated when its finish runs again after the switch committed", async () => {
    const { crashes, anomalies } = await rebuildWhoseFinishRunsTwice({});
    expect(crashes).toBeGreaterThanOrEqual(2);
    expect(anomalies).toEqual([]);
  });

  it("clears the generation it activated when the F3 mutant's finish runs again", async () => {
    const { crashes, anomalies } = await rebuildWhoseFinishRunsTwice({ rebuildSwitchReadsActive: true });
    expect(crashes).toBeGreaterThanOrEqual(2);
    expect(anomalies.join("\n")).toMatch(/view inventory: (no row for t1\|inventory\|s1|row for t1\|inventory\|s1)/);
  });
});
