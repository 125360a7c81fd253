// A simulated external payment gateway, one Durable Object per merchant account (tenant), so its
// ledger survives restarts. It behaves like a real gateway where it matters to Factline: a charge
// or refund without an Idempotency-Key of 1-255 visible ASCII is refused (400), the key of a
// charge is honoured (a repeated key answers the stored outcome and never charges twice), a
// refund of a charge it has not seen voids the key so a late charge is refused, and it can be
// made slow, flaky (503s, sometimes after acting, so the answer is lost) or declining. By
// default it approves everything at once. Reached only through its binding.
import { DurableObject } from "cloudflare:workers";
import { SQLSchemaMigrations } from "durable-utils/sql-migrations";
import { fieldErrors } from "../src/core/model/entity.js";
import { canonicalJson } from "../src/core/protocol/fingerprint.js";
import {
  chargeRequestSchema,
  gatewayControlsSchema,
  refundRequestSchema,
  type GatewayControls,
  type LedgerEntry,
} from "./payment-gateway-protocol.js";

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

interface LedgerRow extends Record<string, SqlStorageValue> {
  key: string;
  request: string;
  reference: string;
  amount: number;
  currency: string;
  status: string;
  gateway_ref: string | null;
  refunded_at: number | null;
  created_at: number;
}

export class PaymentGatewaySim extends DurableObject<Env> {
  #controls: GatewayControls = gatewayControlsSchema.parse({});

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      await new SQLSchemaMigrations({
        doStorage: ctx.storage,
        migrations: [
          {
            idMonotonicInc: 1,
            description: "ledger and controls",
            sql: `
              CREATE TABLE IF NOT EXISTS ledger (
                key TEXT PRIMARY KEY, request TEXT NOT NULL, reference TEXT NOT NULL, amount REAL NOT NULL,
                currency TEXT NOT NULL, status TEXT NOT NULL, gateway_ref TEXT, refunded_at INTEGER,
                created_at INTEGER NOT NULL
              );
              CREATE TABLE IF NOT EXISTS controls (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), body TEXT NOT NULL);
            `,
          },
          {
            idMonotonicInc: 2,
            description: "call counter",
            sql: "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);",
          },
        ],
      }).runAll();
      const saved = ctx.storage.sql.exec<{ body: string }>("SELECT body FROM controls").toArray()[0];
      if (saved) this.#controls = gatewayControlsSchema.parse(JSON.parse(saved.body));
    });
  }

  override async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    const route = `${request.method} ${pathname}`;
    if (route === "GET /controls") return Response.json(this.#controls);
    if (route === "PUT /controls") return this.#setControls(request);
    if (route === "GET /ledger") return Response.json({ items: this.#ledger(), calls: this.#calls() });
    if (route === "POST /charges") return this.#faulty(() => this.#charge(request));
    if (route === "POST /refunds") return this.#faulty(() => this.#refund(request));
    return Response.json({ error: "no such route" }, { status: 404 });
  }

  /** Latency and injected failures around an operation, as a flaky remote service shows them. */
  async #faulty(operation: () => Promise<Response>): Promise<Response> {
    this.ctx.storage.sql.exec(
      "INSERT INTO counters (name, n) VALUES ('calls', 1) ON CONFLICT (name) DO UPDATE SET n = n + 1",
    );
    const c = this.#controls;
    const delay = c.latencyMs + Math.floor(Math.random() * (c.latencyJitterMs + 1));
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const fails = Math.random() < c.errorRate;
    const afterActing = Math.random() < 0.5;
    if (fails && !afterActing) return unavailable();
    const response = await operation();
    if (fails && response.status < 500) return unavailable();
    return response;
  }

  async #charge(request: Request): Promise<Response> {
    const key = request.headers.get("idempotency-key");
    if (!key || !IDEMPOTENCY_KEY.test(key))
      return Response.json({ error: "Idempotency-Key is required" }, { status: 400 });
    const parsed = chargeRequestSchema.safeParse(await request.json().catch(() => undefined));
    if (!parsed.success)
      return Response.json({ error: "invalid charge", errors: fieldErrors(parsed.error) }, { status: 400 });
    const body = canonicalJson(parsed.data);
    // No await from here on: the look-up and the insert are one atomic step of this object.
    const seen = this.#row(key);
    if (seen) {
      if (seen.status === "voided")
        return Response.json({ status: "declined", reason: "the charge was voided", key }, { status: 402 });
      if (seen.request !== body)
        return Response.json({ error: "Idempotency-Key reused with another charge" }, { status: 422 });
      return answer(seen);
    }
    const c = this.#controls;
    const declined = c.declineAbove !== null && parsed.data.amount > c.declineAbove;
    const row: LedgerRow = {
      key,
      request: body,
      reference: parsed.data.reference,
      amount: parsed.data.amount,
      currency: parsed.data.currency,
      status: declined ? "declined" : "approved",
      gateway_ref: declined ? null : `gw_${crypto.randomUUID()}`,
      refunded_at: null,
      created_at: Date.now(),
    };
    this.ctx.storage.sql.exec(
      "INSERT INTO ledger (key, request, reference, amount, currency, status, gateway_ref, refunded_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ...Object.values(row),
    );
    return answer(row);
  }

  async #refund(request: Request): Promise<Response> {
    const key = request.headers.get("idempotency-key");
    if (!key || !IDEMPOTENCY_KEY.test(key))
      return Response.json({ error: "Idempotency-Key is required" }, { status: 400 });
    const parsed = refundRequestSchema.safeParse(await request.json().catch(() => undefined));
    if (!parsed.success)
      return Response.json({ error: "invalid refund", errors: fieldErrors(parsed.error) }, { status: 400 });
    const { chargeKey } = parsed.data;
    const seen = this.#row(chargeKey);
    if (!seen) {
      this.ctx.storage.sql.exec(
        "INSERT INTO ledger (key, request, reference, amount, currency, status, gateway_ref, refunded_at, created_at) VALUES (?, '', '', 0, '', 'voided', NULL, NULL, ?)",
        chargeKey,
        Date.now(),
      );
      return Response.json({ status: "voided", chargeKey });
    }
    if (seen.status !== "approved")
      return Response.json({ status: seen.status === "voided" ? "voided" : "nothing-to-refund", chargeKey });
    if (seen.refunded_at === null)
      this.ctx.storage.sql.exec("UPDATE ledger SET refunded_at = ? WHERE key = ?", Date.now(), chargeKey);
    return Response.json({ status: "refunded", chargeKey, gatewayRef: seen.gateway_ref });
  }

  async #setControls(request: Request): Promise<Response> {
    const parsed = gatewayControlsSchema.safeParse(await request.json().catch(() => undefined));
    if (!parsed.success)
      return Response.json({ error: "invalid controls", errors: fieldErrors(parsed.error) }, { status: 400 });
    this.#controls = parsed.data;
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO controls (singleton, body) VALUES (1, ?)",
      JSON.stringify(parsed.data),
    );
    return Response.json(parsed.data);
  }

  /** Charge and refund requests received, answered or not. */
  #calls(): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT n FROM counters WHERE name = 'calls'").toArray()[0]?.n ?? 0;
  }

  #row(key: string): LedgerRow | undefined {
    return this.ctx.storage.sql.exec<LedgerRow>("SELECT * FROM ledger WHERE key = ?", key).toArray()[0];
  }

  #ledger(): LedgerEntry[] {
    return this.ctx.storage.sql
      .exec<LedgerRow>("SELECT * FROM ledger ORDER BY created_at, key")
      .toArray()
      .map((r) => ({
        key: r.key,
        reference: r.reference,
        amount: r.amount,
        currency: r.currency,
        status: r.status as LedgerEntry["status"],
        gatewayRef: r.gateway_ref,
        refunded: r.refunded_at !== null,
        createdAt: r.created_at,
      }));
  }
}

function answer(row: LedgerRow): Response {
  return row.status === "approved"
    ? Response.json({ status: "approved", gatewayRef: row.gateway_ref, key: row.key })
    : Response.json({ status: "declined", reason: "amount above the merchant's limit", key: row.key }, { status: 402 });
}

function unavailable(): Response {
  return Response.json({ error: "gateway temporarily unavailable" }, { status: 503 });
}
