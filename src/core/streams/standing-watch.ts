// The periodic check that ends a live read of a Durable Stream (a tenant stream, an entity's log,
// a view's change feed) once the key that opened it is revoked or its tenant suspended, as the
// entity's own live feeds end (src/core/live/live-feed-host.ts). An SSE loop asks `lapsed` after
// each write and waits for new messages no longer than `msUntilDue`; the client sees the stream
// end, as at its 60 s reconnect, and its reconnect meets 401 or 403.
import type { Standing } from "../live/live-feed-host.js";
import type { TenantGateRpc } from "../security/tenant-policy.js";

/** How a live read asks after the key that opened it (production: the tenant's gate). */
export interface StandingCheck {
  /** The key's standing now; rejects when it cannot be told (the gate unreachable). */
  readonly check: () => Promise<Standing>;
  /** How often to ask, ms (LIVE_REVALIDATE_MS). */
  readonly everyMs: number;
}

/**
 * The check of a read opened with `keyId` of `tenant`, asked of the tenant's `gate` every
 * `everyMs` (LIVE_REVALIDATE_MS); undefined when no key opened it (nothing to ask).
 */
export function keyStandingCheck(
  gate: TenantGateRpc,
  tenant: string,
  keyId: string | null | undefined,
  everyMs: number,
): StandingCheck | undefined {
  if (keyId === null || keyId === undefined) return undefined;
  return { check: () => gate.standing(tenant, keyId), everyMs };
}

/** One live read's standing checks: due every `everyMs` from when the read began. */
export class StandingWatch {
  readonly #standing: StandingCheck;
  #dueAt: number;

  /** `now`: epoch ms when the read began. */
  constructor(standing: StandingCheck, now: number) {
    this.#standing = standing;
    this.#dueAt = now + standing.everyMs;
  }

  /** ms until the next check is due (at least 1): a wait for new messages should end by then. */
  msUntilDue(now: number): number {
    return Math.max(1, this.#dueAt - now);
  }

  /**
   * Whether the key has lapsed (revoked, or its tenant suspended), asking only once a check is
   * due. A check that fails says nothing: the read goes on to the next one.
   */
  async lapsed(now: number): Promise<boolean> {
    if (now < this.#dueAt) return false;
    this.#dueAt = now + this.#standing.everyMs;
    const answer = await this.#standing.check().catch(() => undefined);
    return answer !== undefined && answer !== "ok";
  }
}
