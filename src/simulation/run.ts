// One simulation run: a seed, an app and a workload of client operations, run over the simulated
// platform with faults until every operation has had its answer; then the faults stop (the
// network heals), the operator retries what needs attention, and once the system is quiet every
// invariant is checked. A run is a pure function of (seed, app, options): `--replay <seed>`
// reproduces it exactly, and `shrink` finds a shorter trace of operations that still fails.
import { muteLogs } from "../core/runtime/log.js";
import type { BreakerCounts } from "./breaker.js";
import type { Operation, SimApp } from "./app.js";
import { DEFAULT_FAULTS, Faults, scaleFaults, type FaultRates } from "./faults.js";
import { Prng } from "./prng.js";
import { Scheduler } from "./scheduler.js";
import { queueLimitsFor, type Mutations, type QueueLimits } from "./config.js";
import { SimClients, type HeaderCounts } from "./client.js";
import type { SessionCounts } from "./session-ledger.js";
import { World } from "./world.js";
import type { AdmissionCounts } from "./admission.js";

/** 2026-01-01T00:00:00Z: the simulated clock's start (any fixed instant would do). */
const EPOCH = 1_767_225_600_000;
/** How long the healed system may take to become quiet before the run counts as stuck. */
const QUIET_DEADLINE_MS = 12 * 60 * 60_000;
const OPERATOR_EVERY_MS = 10_000;

export interface RunOptions {
  readonly seed: number;
  readonly app: () => SimApp;
  /** Client operations to generate (ignored when `ops` is given). */
  readonly operations: number;
  /** The operations to run instead of generating them (a replayed or shrunk trace). */
  readonly ops?: readonly Operation[];
  readonly faults?: FaultRates;
  readonly mutations?: Mutations;
  readonly tenants?: readonly string[];
  /** The facts queue's message limit (default: drawn from the seed, see `queueLimitsFor`). */
  readonly queueLimits?: QueueLimits;
}

export interface RunResult {
  readonly seed: number;
  readonly app: string;
  /** Entity commands executed (clients' and sagas'). */
  readonly commands: number;
  readonly accepted: number;
  readonly faults: number;
  readonly faultsByKind: Readonly<Record<string, number>>;
  readonly anomalies: readonly string[];
  readonly ops: readonly Operation[];
  readonly simulatedMs: number;
  readonly sagas: number;
  readonly rebuilds: number;
  /** Deliveries of a message the consumer put back on the queue (failures, lost races, parked facts not yet readable). */
  readonly consumerRetries: number;
  /** Facts parked by their relay (only runs with a tight queue message limit park any). */
  readonly parked: number;
  /** Parked facts' notices the consumer recorded in D1 for operators (each once). */
  readonly parkedRecorded: number;
  /** Messages that are no fact put on the queue by a stray producer (each dead-lettered once). */
  readonly strays: number;
  /** What client-session commands met (decided, answered again, refused). */
  readonly sessions: SessionCounts;
  /** Commands with recorded headers at and over their bounds. */
  readonly headers: HeaderCounts;
  /** What tenant admission admitted and refused (by problem type), stray bad keys included. */
  readonly admission: AdmissionCounts;
  /** What the circuit breakers did: transitions, refused calls, dependency outages. */
  readonly breakers: BreakerCounts;
}

/** Generates the workload of a run from its seed alone (never from the world's state), so a trace replays. */
export function generateOps(seed: number, app: SimApp, count: number, tenants: readonly string[]): Operation[] {
  const prng = new Prng(seed).fork();
  const workload = app.workload(tenants);
  const ops: Operation[] = [];
  for (let i = 0; i < count; i++) ops.push(workload.next(prng));
  return ops;
}

/** Runs one simulation. Math.random (used by backoff jitter) draws from the seed while it runs. */
export async function runSimulation(options: RunOptions): Promise<RunResult> {
  const app = options.app();
  const tenants = options.tenants ?? ["t1", "t2"];
  const root = new Prng(options.seed);
  root.fork(); // the workload's stream (generateOps)
  const faultStream = root.fork();
  const jitter = root.fork();
  const timing = root.fork();
  const ops = options.ops ?? generateOps(options.seed, app, options.operations, tenants);
  const clock = new Scheduler(EPOCH);
  const faults = new Faults(faultStream, options.faults ?? DEFAULT_FAULTS);
  const world = new World(
    app,
    clock,
    faults,
    root.fork(),
    options.mutations ?? {},
    options.queueLimits ?? queueLimitsFor(options.seed),
  );
  const clients = new SimClients(world);
  const random = Math.random;
  Math.random = () => jitter.next();
  // What goes wrong is reported as anomalies; the hosts' own log lines would only bury them.
  muteLogs(true);
  try {
    let outstanding = 0;
    let issued = 0;
    let at = 0;
    for (const op of ops) {
      at += op.kind === "wait" ? op.ms : timing.int(6);
      clock.at(at, () => {
        issued++;
        outstanding++;
        void perform(world, clients, op)
          .catch((error: unknown) =>
            world.anomaly(
              `operation ${JSON.stringify(op)} threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
            ),
          )
          .finally(() => outstanding--);
      });
    }
    await clock.run(() => issued === ops.length && outstanding === 0, Number.POSITIVE_INFINITY);
    // A run that already broke a rule has its answer. Healing it would not end sooner than the
    // quiet deadline when the rule it broke is the domain's own bug: the operator's retries would
    // meet the same refusal for hours of simulated time.
    if (world.anomalies.length === 0) {
      // Heal: no more faults; an operator retries whatever needs attention until all is quiet.
      faults.rates = scaleFaults(faults.rates, 0);
      const operator = (): void => {
        for (const saga of world.sagas.values()) if (saga.state.status === "attention") saga.operatorRetry();
        if (!world.quiet()) clock.at(OPERATOR_EVERY_MS, operator);
      };
      clock.at(0, operator);
      const quiet = await clock.run(() => world.quiet(), clock.now + QUIET_DEADLINE_MS);
      if (!quiet)
        world.anomaly(`not quiet ${QUIET_DEADLINE_MS / 3_600_000} h after the faults stopped: ${unquiet(world)}`);
      world.checkQuiet();
    }
    return {
      seed: options.seed,
      app: app.name,
      commands: world.stats.commands,
      accepted: world.stats.accepted,
      faults: faults.total,
      faultsByKind: Object.fromEntries(faults.injected),
      anomalies: [...world.anomalies],
      ops,
      simulatedMs: clock.now - EPOCH,
      sagas: world.sagas.size,
      rebuilds: world.stats.rebuilds,
      consumerRetries: world.stats.consumerRetries,
      parked: world.stats.parked,
      parkedRecorded: world.d1.parkedFacts.size,
      strays: world.queue.strays,
      sessions: { ...world.sessions.counts },
      headers: { ...clients.headers },
      admission: { ...world.admission.counts, refused: { ...world.admission.counts.refused } },
      breakers: { ...world.breakers.counts },
    };
  } finally {
    Math.random = random;
    muteLogs(false);
  }
}

function unquiet(world: World): string {
  const parts: string[] = [];
  if (world.queue.messages.size > 0) parts.push(`${world.queue.messages.size} queued messages`);
  const behind = [...world.entities.values()].filter(
    (e) => e.cursors.pendingFrom <= e.log.length || e.cursors.ackedUpTo < e.log.length,
  );
  if (behind.length > 0)
    parts.push(
      `${behind.length} entities unacknowledged (e.g. ${behind[0]?.address.entityId} acked ${behind[0]?.cursors.ackedUpTo}/${behind[0]?.log.length})`,
    );
  const active = [...world.sagas.values()].filter((s) => s.unfinished);
  if (active.length > 0) parts.push(`${active.length} sagas active (e.g. ${active[0]?.id})`);
  const stale = [...world.sagas.values()].filter(
    (s) => s.log.length > 0 && world.d1.sagaInstances.get(s.id)?.status !== s.state.status,
  );
  if (stale.length > 0) parts.push(`${stale.length} saga status rows stale (e.g. ${stale[0]?.id})`);
  const rebuilding = [...world.rebuilders.values()].filter((r) => r.job);
  if (rebuilding.length > 0) parts.push(`${rebuilding.length} rebuilds running`);
  return parts.join(", ");
}

/** Performs one client operation against the world, as the tenant API would. */
async function perform(world: World, clients: SimClients, op: Operation): Promise<void> {
  switch (op.kind) {
    case "wait":
      return;
    case "rebuild":
      world.startRebuild(op.projection, op.tenant);
      return;
    case "subscribe":
      await world.subscribe(
        op.tenant,
        op.key,
        { tenant: op.tenant, entityType: op.entityType, entityId: op.entityId },
        op.after,
      );
      return;
    case "suspend":
      world.admission.setSuspended(op.tenant, op.suspended);
      return;
    case "revoke":
      world.admission.revoke(op.tenant, op.key);
      return;
    case "operator-retry":
      for (const saga of world.sagas.values())
        if (saga.tenant === op.tenant && saga.state.status === "attention") saga.operatorRetry();
      return;
    case "app":
      await world.app.runOperation?.(world, op);
      return;
    case "command":
      await clients.command(op);
      return;
  }
}

/**
 * Shrinks a failing trace: removes ever smaller chunks of operations while the run still finds an
 * anomaly (delta debugging, Zeller 2002), within `budget` runs. The fault stream stays the seed's.
 */
export async function shrink(
  options: RunOptions,
  failing: readonly Operation[],
  budget = 60,
): Promise<readonly Operation[]> {
  let ops = [...failing];
  let runs = 0;
  for (let chunk = Math.ceil(ops.length / 2); chunk >= 1 && runs < budget; chunk = Math.floor(chunk / 2)) {
    for (let start = 0; start < ops.length && runs < budget; ) {
      const candidate = [...ops.slice(0, start), ...ops.slice(start + chunk)];
      runs++;
      const result = await runSimulation({ ...options, ops: candidate });
      if (result.anomalies.length > 0) ops = candidate;
      else start += chunk;
    }
  }
  return ops;
}
