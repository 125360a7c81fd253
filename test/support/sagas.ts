// Helpers for saga tests: the admin side of sagas and the simulated payment gateway, reached
// over the real admin API, and a way to wait until every order has ended.
import { ADMIN_TOKEN, call, eventually, newTenant, tenantClient } from "./api.js";

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

export interface LedgerEntry {
  key: string;
  reference: string;
  amount: number;
  status: "approved" | "declined" | "voided";
  refunded: boolean;
}

export async function setGateway(merchant: string, controls: Record<string, unknown>): Promise<void> {
  const res = await call(`/admin/gateway/${merchant}/controls`, {
    method: "PUT",
    headers: { ...admin, "content-type": "application/json" },
    body: JSON.stringify(controls),
  });
  if (res.status !== 200) throw new Error(`gateway controls refused: ${res.status} ${await res.text()}`);
}

export async function gatewayLedger(merchant: string): Promise<LedgerEntry[]> {
  const res = await call(`/admin/gateway/${merchant}/ledger`, { headers: admin });
  return ((await res.json()) as { items: LedgerEntry[] }).items;
}

export function adminCall(path: string, init: RequestInit = {}): Promise<Response> {
  return call(path, { ...init, headers: { ...admin, ...(init.headers as Record<string, string> | undefined) } });
}

export function sagaId(tenant: string, orderId: string): string {
  return `${tenant}:order-fulfillment:${orderId}`;
}

/**
 * A new tenant (id starting `prefix`) whose order `o-1`, of one `tv` in stock at 300, meets a
 * gateway that fails every call: its saga's charge fails, and so does every attempt of each
 * compensation that calls the gateway, until the saga stops for attention.
 */
export async function orderAgainstFailingGateway(prefix: string) {
  const tenant = await newTenant(prefix);
  const api = tenantClient(tenant.apiKey);
  await api.command("inventory", "tv", "restock", { quantity: 2 });
  await setGateway(tenant.id, { errorRate: 1 });
  await api.command("orders", "o-1", "create", {
    customerId: "c",
    items: [{ sku: "tv", quantity: 1, unitPrice: 300 }],
  });
  return { tenant, api, id: sagaId(tenant.id, "o-1") };
}

interface EntityRead {
  state: Record<string, unknown>;
}

/** Reads an entity through the tenant API (strongly consistent). */
export async function readEntity(
  api: { get(path: string): Promise<Response> },
  type: string,
  id: string,
): Promise<EntityRead> {
  const res = await api.get(`/v1/entities/${type}/${id}`);
  if (res.status !== 200) throw new Error(`${type}/${id}: ${res.status}`);
  return (await res.json()) as EntityRead;
}

/** Waits until the order's status is one of `statuses`, and returns it. */
export function orderEnds(
  api: { get(path: string): Promise<Response> },
  orderId: string,
  statuses = ["shipped", "cancelled"],
  timeoutMs = 20_000,
): Promise<string> {
  return eventually(async () => {
    const { state } = await readEntity(api, "orders", orderId);
    return statuses.includes(String(state["status"])) ? String(state["status"]) : undefined;
  }, timeoutMs);
}

/** Charge and refund requests the gateway has received. */
export async function gatewayCalls(merchant: string): Promise<number> {
  const res = await call(`/admin/gateway/${merchant}/ledger`, { headers: admin });
  return ((await res.json()) as { calls: number }).calls;
}
