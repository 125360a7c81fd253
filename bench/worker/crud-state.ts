// Baseline (b): what a team would write by hand without event sourcing. One Durable Object per
// item that reads its current state, applies the change and overwrites the state per request
// (the key-value API on the SQLite backend). No history, no outbox. Bench-only.
import { DurableObject } from "cloudflare:workers";

export interface CrudItem {
  readonly version: number;
  readonly onHand: number;
  readonly available: number;
}

export class CrudState extends DurableObject {
  async restock(quantity: number): Promise<CrudItem> {
    const current = (await this.ctx.storage.get<CrudItem>("item")) ?? { version: 0, onHand: 0, available: 0 };
    const next: CrudItem = {
      version: current.version + 1,
      onHand: current.onHand + quantity,
      available: current.available + quantity,
    };
    await this.ctx.storage.put("item", next);
    return next;
  }
}
