// The mutation check: six fixed defects from ../shared/FINDINGS.md re-introduced one at a time
// behind test-only switches that production never sets, each run through a campaign within the
// CI budget to show the simulator finds it. A mutant the simulator does not kill means the
// simulator cannot see that kind of defect. `npm run sim:mutants` prints the table that
// docs/reliability.md records.
import { defineEntity, reject } from "../src/core/model/entity.js";
import { inventory, type InventoryState } from "../src/domain/inventory.js";
import { orders, type OrderState } from "../src/domain/orders.js";
import type { ReferenceMutations } from "./simulation.js";
import { runCampaign, type CampaignResult } from "../src/simulation/campaign.js";
import type { SimApp } from "../src/simulation/app.js";
import type { Mutations } from "../src/simulation/config.js";

/** A plain-object lookup: answers Object.prototype members for `toString`, `constructor`… (the T09 bug). */
function inherited<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return (record as Record<string, V | undefined>)[key];
}

/** The inventory entity as it was before T09's fix: reservations looked up on plain objects. */
export const prototypeLookupInventory = defineEntity({
  ...inventory.definition,
  decide(state: InventoryState, command) {
    switch (command.type) {
      case "restock":
        return [{ type: "Restocked", data: command.data }];
      case "reserve": {
        const { orderId, quantity } = command.data;
        const ended = inherited(state.closed, orderId);
        if (ended === "released") return reject("order-released", "released");
        if (ended !== undefined || orderId in state.reservations) return [];
        if (quantity > state.available) return reject("insufficient-stock", "insufficient");
        return [{ type: "Reserved", data: { orderId, quantity } }];
      }
      case "release": {
        const { orderId } = command.data;
        if (inherited(state.closed, orderId) !== undefined) return [];
        return [{ type: "Released", data: { orderId, quantity: inherited(state.reservations, orderId) ?? 0 } }];
      }
      case "ship": {
        const { orderId } = command.data;
        if (inherited(state.closed, orderId) === "shipped") return [];
        const held = inherited(state.reservations, orderId);
        if (held === undefined) return reject("no-reservation", "nothing reserved");
        return [{ type: "Shipped", data: { orderId, quantity: held } }];
      }
    }
  },
});

/** The orders entity as it was before F2's fix: a confirmed order still accepts a cancel. */
export const cancelAfterConfirmOrders = defineEntity({
  ...orders.definition,
  decide(state: OrderState, command) {
    if (command.type === "cancel" && state.status === "confirmed")
      return [{ type: "OrderCancelled", data: command.data }];
    return orders.definition.decide(state, command);
  },
});

export interface Mutant {
  readonly id: string;
  readonly finding: string;
  readonly mutations: Mutations & ReferenceMutations;
}

export const MUTANTS: readonly Mutant[] = [
  {
    id: "F1",
    finding: "the settle route charges under its own key, beside the saga's",
    mutations: { settleChargesUnderOwnKey: true },
  },
  {
    id: "F2",
    finding: "no pivot, and a confirmed order accepts a cancel: the saga compensates after confirming",
    mutations: { noPivot: true, ordersOverride: cancelAfterConfirmOrders },
  },
  {
    id: "F3",
    finding: "a repeated rebuild switch clears the generation it activated",
    mutations: { rebuildSwitchReadsActive: true },
  },
  {
    id: "F5",
    finding: "facts recovered by gap repair do not reach the sagas",
    mutations: { sagasSkipGapRepair: true },
  },
  {
    id: "L1",
    finding: "a live push does not check the subscriber's cursor",
    mutations: { livePushIgnoresCursor: true },
  },
  {
    id: "T09",
    finding: "ids named like Object.prototype members corrupt inventory state",
    mutations: { prototypeLookups: true, inventoryOverride: prototypeLookupInventory },
  },
];

export interface MutantResult {
  readonly mutant: Mutant;
  readonly killed: boolean;
  readonly campaign: CampaignResult;
}

/** Which app run `i` simulates, given a mutant's switches (scripts/sim-apps.ts). */
export type AppsFor = (mutations: Mutations & ReferenceMutations) => (run: number) => () => SimApp;

/** Runs each mutant's campaign (stopping at its first failing run) within `commands` simulated commands. */
export async function runMutants(
  seed: number,
  commands: number,
  operationsPerRun: number,
  appsFor: AppsFor,
  log?: (line: string) => void,
): Promise<MutantResult[]> {
  const results: MutantResult[] = [];
  for (const mutant of MUTANTS) {
    const campaign = await runCampaign({
      seed,
      commands,
      wallMs: Number.POSITIVE_INFINITY,
      operationsPerRun,
      appForRun: appsFor(mutant.mutations),
      mutations: mutant.mutations,
      stopAtFirstFailure: true,
    });
    const killed = campaign.anomalies > 0;
    log?.(
      `${mutant.id} (${mutant.finding}): ${killed ? `found after ${campaign.commands} commands in ${campaign.runs} runs, ${campaign.seconds.toFixed(1)} s: ${campaign.failures[0]?.anomalies[0] ?? ""}` : `NOT found in ${campaign.commands} commands`}`,
    );
    results.push({ mutant, killed, campaign });
  }
  return results;
}
