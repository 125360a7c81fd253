// The reference domain in the simulator: orders, inventory and payments, the order-fulfillment
// saga, the orders and inventory views, a model of the payment gateway (idempotency keys, voids,
// declines, failures before and after acting, outages) reached through guarded calls and the
// tenant's gateway breaker, the settle route that races the saga, a workload
// with adversarial ids, and the domain's invariants: never oversold, stock conserved, every order
// shipped or cancelled, nothing shipped for a cancelled order, one unrefunded charge per shipped
// order and none for a cancelled one. The one place besides worker.ts that composes the domain.
import type { EntityType } from "../src/core/model/entity.js";
import type { SagaDefinition, TaskOutcome } from "../src/core/model/saga.js";
import { implementContract } from "../src/core/model/service-contract.js";
import type { Guarded } from "../src/core/resilience/guarded-call.js";
import { inventory, type InventoryState } from "../src/domain/inventory.js";
import { orderFulfillment } from "../src/domain/order-fulfillment.js";
import { orders, type OrderState } from "../src/domain/orders.js";
import { paymentGateway } from "../src/domain/payment-gateway.js";
import { paymentChargeKey, payments, type PaymentState } from "../src/domain/payments.js";
import { projections } from "../src/domain/projections/index.js";
import type { Operation, SimApp, SimService, Workload } from "../src/simulation/app.js";
import type { Prng } from "../src/simulation/prng.js";
import type { World } from "../src/simulation/world.js";
import { KEY_IDS } from "../src/simulation/admission.js";
import { fitIdempotencyKey, METADATA_BOUNDS } from "../src/core/protocol/command-metadata.js";

/** SKUs, some named like Object.prototype members (FINDINGS T09). */
const SKUS = ["s1", "s2", "s3", "__proto__", "constructor", "toString"] as const;
/** Order ids clients use for stock they move themselves: never an order the saga fulfils. */
const LOOSE_ORDER_IDS = ["hasOwnProperty", "valueOf", "isPrototypeOf", "x-1", "propertyIsEnumerable"] as const;
/** Order ids named like Object.prototype members, each created once per tenant. */
const ADVERSARIAL_ORDER_IDS = ["__proto__", "constructor", "toLocaleString"] as const;

interface LedgerEntry {
  readonly reference: string;
  readonly amount: number;
  readonly status: "approved" | "declined" | "voided";
  readonly gatewayRef: string | null;
  refunded: boolean;
}

/** The gateway's ledgers, one merchant account per tenant, by idempotency key. */
export class GatewayModel {
  readonly ledgers = new Map<string, Map<string, LedgerEntry>>();

  ledger(tenant: string): Map<string, LedgerEntry> {
    let l = this.ledgers.get(tenant);
    if (!l) {
      l = new Map();
      this.ledgers.set(tenant, l);
    }
    return l;
  }

  /** A charge under `key`: the stored outcome for a key seen before (declined when voided), else a new one. */
  charge(world: World, tenant: string, key: string, reference: string, amount: number): LedgerEntry {
    const ledger = this.ledger(tenant);
    const seen = ledger.get(key);
    if (seen) return seen.status === "voided" ? { ...seen, status: "declined" } : seen;
    const declined = world.faults.strike("decline");
    const entry: LedgerEntry = {
      reference,
      amount,
      status: declined ? "declined" : "approved",
      gatewayRef: declined ? null : world.newId("gw"),
      refunded: false,
    };
    ledger.set(key, entry);
    return entry;
  }

  /** A refund of `key`: refunds an approved charge, voids a key never charged. */
  refund(
    tenant: string,
    key: string,
  ): { status: "refunded" | "voided" | "nothing-to-refund"; gatewayRef: string | null } {
    const ledger = this.ledger(tenant);
    const seen = ledger.get(key);
    if (!seen) {
      ledger.set(key, { reference: "", amount: 0, status: "voided", gatewayRef: null, refunded: false });
      return { status: "voided", gatewayRef: null };
    }
    if (seen.status !== "approved")
      return { status: seen.status === "voided" ? "voided" : "nothing-to-refund", gatewayRef: null };
    seen.refunded = true;
    return { status: "refunded", gatewayRef: seen.gatewayRef };
  }
}

/** Test-only switches re-introducing the reference domain's fixed defects. */
export interface ReferenceMutations {
  /** FINDINGS F1: the settle route charges under a key of its own, without claiming the payment. */
  readonly settleChargesUnderOwnKey?: boolean;
  /** FINDINGS F2: the saga has no pivot (it compensates after confirming). */
  readonly noPivot?: boolean;
  /** FINDINGS T09: inventory looks reservations up on plain objects (`record[orderId]`). */
  readonly prototypeLookups?: boolean;
  /** The inventory entity to use instead of the real one (the T09 mutant's). */
  readonly inventoryOverride?: EntityType;
  /** The orders entity to use instead of the real one (the F2 mutant's). */
  readonly ordersOverride?: EntityType;
}

async function command(
  world: World,
  tenant: string,
  entityType: string,
  entityId: string,
  name: string,
  data: Record<string, unknown>,
  key: string | null,
) {
  return world.rpcCommand({
    tenant,
    entityType,
    entityId,
    command: name,
    data,
    idempotencyKey: key,
    fingerprint: key === null ? null : `${name}:${JSON.stringify(data)}`,
    expectedVersion: null,
    causeHlc: null,
    correlationId: world.newId("req"),
    causationId: null,
    traceparent: null,
  });
}

/** The breaker in front of a tenant's gateway, as reference/payment-gateway-client.ts names it (`gatewayBreakerName`). */
function gatewayBreaker(tenant: string): string {
  return `payment-gateway:${tenant}`;
}

/**
 * One call reaching the tenant's gateway: it fails before acting while the gateway is down or
 * when the call fails, and loses its answer after acting when it times out.
 */
async function reachGateway<T>(world: World, tenant: string, act: () => T): Promise<T> {
  await world.clock.sleep(5);
  if (world.breakers.down(gatewayBreaker(tenant)) || world.faults.strike("outboundFailBefore"))
    throw new Error("gateway unavailable");
  const answer = act();
  if (world.faults.strike("outboundTimeoutAfter")) throw new Error("gateway timed out");
  return answer;
}

/** What a guarded call that got no answer means to the saga: deferred while the breaker is open, else failed. */
function unanswered(answer: Exclude<Guarded<unknown>, { ok: true }>): TaskOutcome {
  return answer.kind === "open"
    ? { kind: "deferred", reason: "the payment gateway's circuit is open", retryAfterMs: answer.retryAfterMs }
    : { kind: "failed", error: answer.error };
}

/**
 * The payment gateway service as reference/payment-service.ts adapts it, over the gateway model:
 * each call one guarded attempt through the tenant's gateway breaker (production's sequence).
 */
function gatewayService(gateway: GatewayModel): SimService {
  return implementContract(paymentGateway, {
    async charge({ reference, amount }, { tenant, idempotencyKey, world }) {
      const answer = await world.breakers.guarded(gatewayBreaker(tenant), () =>
        reachGateway(world, tenant, () => gateway.charge(world, tenant, idempotencyKey, reference, amount)),
      );
      if (!answer.ok) return unanswered(answer);
      return answer.value.status === "approved"
        ? { kind: "done", result: { gatewayRef: answer.value.gatewayRef } }
        : { kind: "rejected", reason: "payment declined" };
    },
    async refund({ chargeKey, paymentId, reason }, { tenant, idempotencyKey, world }) {
      const guarded = await world.breakers.guarded(gatewayBreaker(tenant), () =>
        reachGateway(world, tenant, () => gateway.refund(tenant, chargeKey)),
      );
      if (!guarded.ok) return unanswered(guarded);
      const answer = guarded.value;
      if (paymentId !== undefined) {
        const said = reason ?? "the charge was refunded";
        const body =
          answer.status === "refunded" && answer.gatewayRef !== null
            ? { reason: said, gatewayRef: answer.gatewayRef }
            : { reason: said };
        const recorded = await command(
          world,
          tenant,
          "payments",
          paymentId,
          "refund",
          body,
          await fitIdempotencyKey(`${idempotencyKey}/record`),
        );
        if (recorded === "failed" || !recorded.ok) return { kind: "failed", error: "recording the refund failed" };
      }
      return { kind: "done", result: answer };
    },
  });
}

/** The settle route (reference/payment-routes.ts): claim through the payment, charge under its key, record the answer. */
async function settle(
  world: World,
  gateway: GatewayModel,
  tenant: string,
  paymentId: string,
  mutations: ReferenceMutations,
): Promise<void> {
  const entity = world.entity({ tenant, entityType: "payments", entityId: paymentId });
  await world.clock.sleep(2);
  const payment = entity.image.state as PaymentState;
  if (payment.status !== "submitted" || payment.orderId === null) return;
  let chargeKey = paymentChargeKey(paymentId);
  if (mutations.settleChargesUnderOwnKey) {
    chargeKey = `${tenant}:payments:${paymentId}/charge`;
  } else {
    const claim = await command(world, tenant, "payments", paymentId, "settle", { chargeKey }, null);
    if (claim === "failed" || !claim.ok) return;
  }
  const orderId = payment.orderId;
  // The route's guarded call: three attempts through the tenant's gateway breaker (ATTEMPTS).
  const answer = await world.breakers.guarded(
    gatewayBreaker(tenant),
    () => reachGateway(world, tenant, () => gateway.charge(world, tenant, chargeKey, orderId, payment.amount)),
    3,
  );
  if (!answer.ok) return;
  const verdict = answer.value;
  if (verdict.status === "approved")
    await command(
      world,
      tenant,
      "payments",
      paymentId,
      "approve",
      { gatewayRef: verdict.gatewayRef ?? "" },
      `${chargeKey}/approve`,
    );
  else await command(world, tenant, "payments", paymentId, "decline", { reason: "declined" }, `${chargeKey}/decline`);
}

/** A copy of `items` in a random order (Fisher-Yates). */
function shuffled<T>(prng: Prng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Per tenant, what the workload has created so far (its own view: never the world's). */
interface TenantPlan {
  nextOrder: number;
  readonly orders: string[];
  readonly adversarialLeft: string[];
  /** Offline clients' sessions: each id, the last number it gave a command, and its latest commands. */
  readonly sessions: { readonly id: string; last: number; readonly sent: CommandOp[] }[];
}

/** Offline clients per tenant, each with its own client session (README "Client sessions"). */
const SESSIONS_PER_TENANT = 3;

type CommandOp = Extract<Operation, { kind: "command" }>;
type CommandExtras = Partial<CommandOp>;

/**
 * Sometimes, `op` as a command of one of the tenant's offline clients: under the session's next
 * number, sent again after its answer now and then; or, instead, one of the session's latest
 * commands sent again as it was (a client restored from a backup), which its entity answers from
 * its record or refuses as answered before, never deciding it again; a restock sent again
 * sometimes has another quantity (a client bug: the number reused for another body, refused).
 */
function sessioned(prng: Prng, plan: TenantPlan, op: Operation): Operation {
  if (op.kind !== "command" || op.idempotencyKey !== undefined || !prng.chance(0.3)) return op;
  const session = prng.pick(plan.sessions);
  const old = prng.chance(0.1) ? session.sent[prng.int(session.sent.length)] : undefined;
  if (old) {
    const quantity = (old.data as { quantity?: unknown }).quantity;
    const reused = old.command === "restock" && typeof quantity === "number" && prng.chance(0.3);
    return { ...old, repeats: 0, ...(reused ? { data: { quantity: quantity + 1 } } : {}) };
  }
  session.last++;
  const sent: CommandOp = { ...op, session: { id: session.id, seq: session.last }, repeats: prng.chance(0.1) ? 1 : 0 };
  session.sent.push(sent);
  if (session.sent.length > 8) session.sent.shift();
  return sent;
}

/**
 * Recorded headers at their bounds (METADATA_BOUNDS: recorded whole) and just over them, or
 * sent twice (refused with 400, recording nothing).
 */
function boundedHeaders(prng: Prng): CommandExtras {
  const r = prng.next();
  const { correlationId, causationId, requestId } = METADATA_BOUNDS;
  if (r < 0.03) return { correlationId: "c".repeat(correlationId) };
  if (r < 0.05) return { causationId: "k".repeat(causationId) };
  if (r < 0.06) return { requestId: "r".repeat(requestId) };
  if (r < 0.07) return { correlationId: "c".repeat(correlationId + 1) };
  if (r < 0.08) return { causationId: "k".repeat(causationId + 1) };
  if (r < 0.085) return { requestId: "r".repeat(requestId + 1) };
  if (r < 0.09) return { correlationId: "c-1, c-2" };
  return {};
}

function workload(tenants: readonly string[]): Workload {
  const plans = new Map<string, TenantPlan>(
    tenants.map((t) => [
      t,
      {
        nextOrder: 1,
        orders: [],
        adversarialLeft: [...ADVERSARIAL_ORDER_IDS],
        sessions: Array.from({ length: SESSIONS_PER_TENANT }, (_, i) => ({
          id: `${t}-offline-client-${i}`,
          last: 0,
          sent: [],
        })),
      },
    ]),
  );
  const cmd = (
    tenant: string,
    entityType: string,
    entityId: string,
    name: string,
    data: unknown,
    extra: CommandExtras = {},
  ): Operation => ({
    kind: "command",
    tenant,
    entityType,
    entityId,
    command: name,
    data,
    key: KEY_IDS[keyDraws++ % KEY_IDS.length] ?? "k1",
    ...extra,
  });
  let keyDraws = 0;
  return {
    next(prng: Prng): Operation {
      const tenant = prng.pick(tenants);
      const plan = plans.get(tenant);
      if (!plan) throw new Error("unknown tenant");
      const r = prng.next();
      const sku = prng.pick(SKUS);
      const someOrder = (): string | undefined =>
        plan.orders.length === 0
          ? undefined
          : plan.orders[plan.orders.length - 1 - prng.int(Math.min(plan.orders.length, 40))];
      if (r < 0.27) {
        const id =
          plan.adversarialLeft.length > 0 && prng.chance(0.02)
            ? (plan.adversarialLeft.shift() ?? "o-x")
            : `o-${plan.nextOrder++}`;
        plan.orders.push(id);
        const lines = 1 + prng.int(3);
        const skus = shuffled(prng, SKUS).slice(0, lines);
        const items = skus.map((s) => ({
          sku: s,
          quantity: prng.chance(0.03) ? 1_000_000 : 1 + prng.int(4),
          unitPrice: (1 + prng.int(10_000)) / 100,
        }));
        return cmd(
          tenant,
          "orders",
          id,
          "create",
          { customerId: prng.pick(["c1", "c2", "constructor"]), items },
          prng.chance(0.3) ? { idempotencyKey: `create-${id}`, repeats: prng.int(2) } : {},
        );
      }
      if (r < 0.47) {
        const quantity = 1 + prng.int(10);
        if (prng.chance(0.15)) {
          // A retried request under an Idempotency-Key, sometimes reused with another body (422).
          return cmd(
            tenant,
            "inventory",
            sku,
            "restock",
            { quantity: prng.chance(0.2) ? quantity + 1 : quantity },
            { idempotencyKey: `k-${prng.int(30)}`, repeats: 1 + prng.int(2) },
          );
        }
        return sessioned(prng, plan, cmd(tenant, "inventory", sku, "restock", { quantity }, boundedHeaders(prng)));
      }
      if (r < 0.55) {
        const id = someOrder();
        return id === undefined
          ? { kind: "wait", ms: 5 }
          : sessioned(prng, plan, cmd(tenant, "orders", id, "cancel", {}));
      }
      if (r < 0.61) {
        const id = someOrder();
        return id === undefined
          ? { kind: "wait", ms: 5 }
          : { kind: "app", tenant, name: "settle", args: { paymentId: id } };
      }
      if (r < 0.7) {
        const orderId = prng.pick(LOOSE_ORDER_IDS);
        const name = prng.pick(["reserve", "release", "ship", "reserve"]);
        if (name !== "reserve")
          // Internal commands (a saga's alone): sent as a caller inside the platform, with no key,
          // as a stale or racing saga step would, on orders no saga runs.
          return { kind: "command", tenant, entityType: "inventory", entityId: sku, command: name, data: { orderId } };
        const quantity = prng.chance(0.1) ? 1_000_000 : 1 + prng.int(3);
        return sessioned(prng, plan, cmd(tenant, "inventory", sku, name, { orderId, quantity }, boundedHeaders(prng)));
      }
      if (r < 0.74) {
        const id = prng.pick(LOOSE_ORDER_IDS);
        return cmd(tenant, "payments", id, "submit", { orderId: id, amount: 1 + prng.int(100), currency: "EUR" });
      }
      if (r < 0.76) {
        // Invalid bodies and unknown commands: refused at the boundary, nothing recorded.
        return prng.chance(0.5)
          ? cmd(tenant, "inventory", sku, "restock", { quantity: -1 })
          : cmd(tenant, "orders", "o-1", "create", { customerId: "c1", items: [] });
      }
      if (r < 0.765) return { kind: "operator-retry", tenant };
      if (r < 0.775) return { kind: "rebuild", tenant, projection: prng.pick(["orders", "inventory"]) };
      if (r < 0.78) {
        const id = someOrder();
        const key = prng.pick(KEY_IDS);
        return prng.chance(0.5) || id === undefined
          ? { kind: "subscribe", tenant, key, entityType: "inventory", entityId: sku, after: prng.int(3) }
          : { kind: "subscribe", tenant, key, entityType: "orders", entityId: id, after: 0 };
      }
      // Operators: suspend a tenant for a while, resume it, revoke a key for good.
      if (r < 0.7815) return { kind: "suspend", tenant, suspended: true };
      if (r < 0.7845) return { kind: "suspend", tenant, suspended: false };
      if (r < 0.7848) return { kind: "revoke", tenant, key: prng.pick(KEY_IDS) };
      return { kind: "wait", ms: prng.int(20) };
    },
  };
}

function checkState(entityType: string, state: unknown): string | null {
  if (entityType !== "inventory") return null;
  const s = state as InventoryState;
  if (!(s.onHand >= 0 && s.reserved >= 0 && s.available >= 0))
    return `negative stock ${JSON.stringify({ onHand: s.onHand, reserved: s.reserved, available: s.available })}`;
  if (s.available !== s.onHand - s.reserved)
    return `available ${s.available} is not on hand ${s.onHand} less reserved ${s.reserved}`;
  const held = Object.values(s.reservations).reduce((a, b) => a + b, 0);
  if (held !== s.reserved) return `reservations sum to ${held}, reserved is ${s.reserved}`;
  return null;
}

function checkQuiet(world: World, gateway: GatewayModel): string[] {
  const anomalies: string[] = [];
  const shippedFor = new Map<string, Set<string>>();
  for (const e of world.logsOf("inventory")) {
    let restocked = 0;
    let shipped = 0;
    for (const f of e.log) {
      const data = f.data as { quantity: number; orderId?: string };
      if (f.type === "Restocked") restocked += data.quantity;
      if (f.type === "Shipped") {
        shipped += data.quantity;
        const k = `${e.address.tenant}|${data.orderId}`;
        shippedFor.set(k, (shippedFor.get(k) ?? new Set()).add(e.address.entityId));
      }
    }
    const s = e.image.state as InventoryState;
    if (s.onHand !== restocked - shipped)
      anomalies.push(
        `inventory ${e.address.tenant}/${e.address.entityId}: on hand ${s.onHand}, restocked ${restocked} less shipped ${shipped}`,
      );
    const broken = checkState("inventory", s);
    if (broken) anomalies.push(`inventory ${e.address.tenant}/${e.address.entityId}: ${broken}`);
  }
  for (const e of world.logsOf("orders")) {
    const o = e.image.state as OrderState;
    const { tenant, entityId: id } = e.address;
    if (o.status !== "shipped" && o.status !== "cancelled")
      anomalies.push(`order ${tenant}/${id} is ${o.status} once quiet`);
    const saga = world.sagas.get(`${tenant}:${orderFulfillment.name}:${id}`);
    if (!saga || saga.log.length === 0) anomalies.push(`order ${tenant}/${id} never reached its saga`);
    const shippedSkus = shippedFor.get(`${tenant}|${id}`) ?? new Set();
    if (o.status === "cancelled" && shippedSkus.size > 0)
      anomalies.push(`order ${tenant}/${id} is cancelled but stock was shipped for it`);
    if (o.status === "shipped" && o.items.some((i) => !shippedSkus.has(i.sku)))
      anomalies.push(`order ${tenant}/${id} is shipped but not every line was`);
    const live = [...gateway.ledger(tenant).values()].filter(
      (c) => c.reference === id && c.status === "approved" && !c.refunded,
    ).length;
    if (o.status === "shipped" && live !== 1)
      anomalies.push(`order ${tenant}/${id} is shipped with ${live} unrefunded charges`);
    if (o.status === "cancelled" && live !== 0)
      anomalies.push(`order ${tenant}/${id} is cancelled with ${live} unrefunded charges`);
    const payment = world.entities.get(`${tenant}|payments|${id}`)?.image.state as PaymentState | undefined;
    if (o.status === "shipped" && payment?.status !== "approved")
      anomalies.push(`order ${tenant}/${id} is shipped, its payment ${payment?.status ?? "missing"}`);
  }
  return anomalies;
}

/** The reference app for the simulator; `mutations` re-introduce fixed defects (tests only). */
export function referenceApp(mutations: ReferenceMutations = {}): SimApp {
  const gateway = new GatewayModel();
  const saga: SagaDefinition<unknown> = mutations.noPivot
    ? { ...orderFulfillment, stages: orderFulfillment.stages.map((s) => ({ ...s, pivot: false })) }
    : (orderFulfillment as SagaDefinition<unknown>);
  return {
    name: "reference",
    entities: [mutations.ordersOverride ?? orders, mutations.inventoryOverride ?? inventory, payments],
    sagas: [saga],
    projections: projections.map((p) => ({ name: p.name, follows: p.follows })),
    services: { "payment-gateway": gatewayService(gateway) },
    workload,
    runOperation: async (world, op) => {
      const paymentId = op.args["paymentId"];
      if (op.name === "settle" && paymentId !== undefined)
        await settle(world, gateway, op.tenant, paymentId, mutations);
    },
    checkState,
    checkQuiet: (world) => checkQuiet(world, gateway),
  };
}
