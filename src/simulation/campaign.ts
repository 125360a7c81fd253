// A campaign: many simulation runs, one seed each (the campaign's seed plus the run's index), the
// reference domain and the example app in turn, until a budget of simulated commands or of wall
// time is spent. A failing run is shrunk to a short trace that replays it. Used by `npm run sim`
// (scripts/sim.ts), the CI test (test/simulation/) and the mutation check.
import type { SimApp } from "./app.js";
import type { FaultRates } from "./faults.js";
import { runSimulation, shrink, type RunResult } from "./run.js";
import type { Mutations } from "./config.js";
import type { Operation } from "./app.js";

export interface CampaignOptions {
  readonly seed: number;
  /** Stop once this many entity commands were simulated … */
  readonly commands: number;
  /** … or this much wall time passed (ms), whichever first. */
  readonly wallMs: number;
  /** Client operations per run. */
  readonly operationsPerRun: number;
  readonly faults?: FaultRates;
  /** The app run `i` simulates (its composition: reference/simulation.ts, examples/todo/simulation.ts). */
  readonly appForRun: (run: number) => () => SimApp;
  /** Platform-level defect switches (the mutation check); an app's own are baked into its `appForRun`. */
  readonly mutations?: Mutations;
  /** Stop at the first failing run (the mutation check). */
  readonly stopAtFirstFailure?: boolean;
  /** Shrink a failing run's trace (costs up to `shrinkRuns` more runs). */
  readonly shrinkRuns?: number;
  readonly log?: (line: string) => void;
}

export interface Failure {
  readonly seed: number;
  readonly app: string;
  readonly anomalies: readonly string[];
  readonly trace: readonly Operation[];
}

export interface CampaignResult {
  readonly seed: number;
  readonly runs: number;
  readonly commands: number;
  readonly faults: number;
  readonly anomalies: number;
  readonly seconds: number;
  readonly failures: readonly Failure[];
  readonly faultsByKind: Readonly<Record<string, number>>;
}

/**
 * The campaign's figures as the one JSON line `npm run sim` ends with (issue #15):
 * `{"seed","runs","commands","faults","anomalies","seconds"}`.
 */
export function summaryLine(result: CampaignResult): string {
  const { seed, runs, commands, faults, anomalies, seconds } = result;
  return JSON.stringify({ seed, runs, commands, faults, anomalies, seconds });
}

/** The seed of run `i` of a campaign. */
export function runSeed(campaignSeed: number, i: number): number {
  return (campaignSeed + i * 0x9e3779b1) >>> 0;
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const started = Date.now();
  const failures: Failure[] = [];
  const byKind: Record<string, number> = {};
  let runs = 0;
  let commands = 0;
  let faults = 0;
  let anomalies = 0;
  while (commands < options.commands && Date.now() - started < options.wallMs) {
    const seed = runSeed(options.seed, runs);
    const app = options.appForRun(runs);
    const run: RunResult = await runSimulation({
      seed,
      app,
      operations: options.operationsPerRun,
      ...(options.faults ? { faults: options.faults } : {}),
      ...(options.mutations ? { mutations: options.mutations } : {}),
    });
    runs++;
    commands += run.commands;
    faults += run.faults;
    for (const [k, n] of Object.entries(run.faultsByKind)) byKind[k] = (byKind[k] ?? 0) + n;
    if (run.anomalies.length > 0) {
      anomalies += run.anomalies.length;
      let trace = run.ops;
      if ((options.shrinkRuns ?? 0) > 0) {
        trace = await shrink(
          {
            seed,
            app,
            operations: options.operationsPerRun,
            ...(options.faults ? { faults: options.faults } : {}),
            ...(options.mutations ? { mutations: options.mutations } : {}),
          },
          run.ops,
          options.shrinkRuns,
        );
      }
      failures.push({ seed, app: run.app, anomalies: run.anomalies, trace });
      options.log?.(
        `run ${runs} (seed ${seed}, ${run.app}): ${run.anomalies.length} anomalies; first: ${run.anomalies[0]}`,
      );
      if (options.stopAtFirstFailure) break;
    }
  }
  return {
    seed: options.seed,
    runs,
    commands,
    faults,
    anomalies,
    seconds: (Date.now() - started) / 1000,
    failures,
    faultsByKind: byKind,
  };
}
