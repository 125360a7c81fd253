// Fuzzing the public surface with thousands of generated malformed requests: broken and
// mistyped JSON, huge strings, odd Unicode and invalid UTF-8, path tricks (`..`, `%2F`, encoded
// tenant separators), missing, junk and duplicated headers. Whatever arrives: never a 5xx,
// every error is problem+json with a catalogue type and its own status, and nothing is recorded.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { domain } from "../src/domain/index.js";
import worker from "../worker.js";
import { call, newTenant } from "./support/api.js";

// Per property: 5,000 requests in all, a few seconds on this machine.
const RUNS = 2500;
const PROBLEMS = "https://factline.dev/problems/";
/** The fuzzer's client address (documentation range), over the failure limit soon and alone there. */
const FUZZ_CLIENT = "203.0.113.99";
const IDS = ["sku-1", "o-1", "p-1"];
const TYPES = domain.all().map((t) => t.type);
const COMMANDS = domain.all().flatMap((t) => t.commandNames.map((c) => [t.type, c] as const));

let tenant: { id: string; apiKey: string };
const seen = new Set<number>();
const contexts: ExecutionContext[] = [];

async function settle(): Promise<void> {
  await Promise.all(contexts.splice(0).map((ctx) => waitOnExecutionContext(ctx)));
}
beforeAll(async () => {
  tenant = await newTenant("fuzz");
});

interface FuzzRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body: string | Uint8Array | null;
}

/** A JSON value that no command of any entity type accepts (the empty body counts as {}). */
function acceptedBySomeCommand(value: unknown): boolean {
  return domain.all().some((t) => t.commandNames.some((c) => t.parseCommand(c, value)?.ok === true));
}

// Header values as HTTP carries them (visible ASCII; anything else a Request refuses or re-encodes).
const headerValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((n) => String.fromCharCode(n)), maxLength: 80 }),
  fc.constantFrom("", " ", '"1"', 'W/"1"', '"-1"', '"99999999999999999999"', "*", "null", "Bearer", "Bearer ", "\t"),
);

const oddText = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 60 }), // lone surrogates included
  fc.constantFrom("\u0000", "\u202e", "\ufeff", "𝕏".repeat(40), "é".normalize("NFD"), "\ud800"),
);

const segment = fc.oneof(
  fc.constantFrom(
    "..",
    ".",
    "%2e%2e",
    "%2F",
    "..%2F..%2F",
    "%3A",
    ":",
    "a:b:c",
    `%00`,
    "%",
    "%zz",
    "%E0%A4%A",
    "~",
    "-",
    "",
    " ",
    "%20",
  ),
  fc.constantFrom(...IDS, ...TYPES, "commands", "events", "views", "admin", "v1", "tenants"),
  fc.string({
    unit: fc.constantFrom("a", "Z", "0", ".", "_", "~", "-", ":", "%", "/", "?", "#", "é", "\u202e"),
    maxLength: 20,
  }),
  fc.constant("x".repeat(300)),
);

const body = fc.oneof(
  // Not JSON at all.
  fc.string({ maxLength: 200 }).filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return s.length > 0;
    }
  }),
  // JSON that no command accepts: wrong types, extra fields, odd Unicode.
  fc
    .oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.dictionary(
        fc.constantFrom(
          "quantity",
          "orderId",
          "customerId",
          "items",
          "amount",
          "currency",
          "source",
          "reason",
          "sku",
          "__proto__",
          "constructor",
        ),
        fc.oneof(fc.jsonValue({ maxDepth: 2 }), oddText),
      ),
      fc.record({
        quantity: fc.oneof(fc.double(), fc.string(), fc.constant(null), fc.integer({ max: 0 }), fc.constant(1e300)),
      }),
    )
    .map((v) => JSON.stringify(v) ?? "null")
    .filter((text) => !acceptedBySomeCommand(JSON.parse(text) as unknown)),
  // Huge strings.
  fc.constantFrom(JSON.stringify({ quantity: 1, source: "x".repeat(70_000) }), `"${"é".repeat(40_000)}"`),
  // Invalid UTF-8.
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Uint8Array.from([0xff, 0xfe, ...bytes])),
);

const auth = (): fc.Arbitrary<[string, string][]> =>
  fc.oneof(
    fc.constant([["authorization", `Bearer ${tenant.apiKey}`]] as [string, string][]),
    fc.constant([] as [string, string][]),
    fc.constant([
      ["authorization", `Bearer ${tenant.apiKey}`],
      ["authorization", `Bearer ${tenant.apiKey}`],
    ] as [string, string][]),
    fc.constant([
      ["authorization", `Bearer ${tenant.apiKey}`],
      ["authorization", "Bearer fl_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
    ] as [string, string][]),
    headerValue.map((v) => [["authorization", v]] as [string, string][]),
    fc.constant([["authorization", `bearer   ${tenant.apiKey}   `]] as [string, string][]),
    fc.constant([["authorization", `Basic ${btoa(tenant.apiKey)}`]] as [string, string][]),
  );

const extraHeaders = fc.array(
  fc.tuple(
    fc.constantFrom(
      "content-type",
      "idempotency-key",
      "if-match",
      "last-event-id",
      "accept",
      "factline-consistency",
      "factline-cause-clock",
      "factline-correlation-id",
      "traceparent",
      "x-request-id",
      "origin",
    ),
    fc.oneof(
      headerValue,
      fc.constantFrom(
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/problem+json",
        "text/event-stream",
        "*/*",
      ),
    ),
  ),
  { maxLength: 5 },
);

const commandRequest = (): fc.Arbitrary<FuzzRequest> =>
  fc
    .tuple(fc.constantFrom(...COMMANDS), fc.constantFrom(...IDS), body, fc.boolean(), extraHeaders, auth())
    .map(([[type, command], id, b, json, extra, a]) => ({
      method: "POST",
      path: `/v1/entities/${type}/${id}/commands/${command}`,
      headers: [...a, ...(json ? [["content-type", "application/json"] as [string, string]] : []), ...extra],
      body: b,
    }));

const pathRequest = (): fc.Arbitrary<FuzzRequest> =>
  fc
    .tuple(
      fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
      fc.constantFrom(
        "/v1/entities",
        "/v1/views",
        "/admin/tenants",
        "/admin/dead-letters",
        "/v1",
        "",
        "/healthz",
        "/openapi.json",
        "//v1//entities",
      ),
      fc.array(segment, { minLength: 0, maxLength: 6 }),
      fc.oneof(
        fc.constant(""),
        fc.constantFrom(
          "?after=-1",
          "?limit=0",
          "?limit=99999",
          "?at=x",
          "?after=1e3",
          "?status=%00",
          "?limit=1&limit=2",
          "?tenant=..%2F",
          "?a[b]=c",
        ),
      ),
      fc.oneof(fc.constant(null), body),
      extraHeaders,
      auth(),
    )
    .map(([method, prefix, segs, query, b, extra, a]) => ({
      method,
      path: `${prefix}/${segs.join("/")}${query}`,
      headers: [...a, ["content-type", "application/json"] as [string, string], ...extra],
      body: method === "GET" || method === "HEAD" ? null : b,
    }));

async function send(r: FuzzRequest): Promise<Response | undefined> {
  const headers = new Headers();
  for (const [k, v] of r.headers) headers.append(k, v);
  // Its own client: the tenant key sent to /admin/* is a wrong admin token, and the failures it
  // counts must not block the file's own calls through `call` (auth-failures.ts).
  headers.set("cf-connecting-ip", FUZZ_CLIENT);
  let request: Request;
  try {
    request = new Request(`https://factline.test${r.path}`, { method: r.method, headers, body: r.body });
  } catch {
    return undefined; // the client itself refuses to build it; nothing reaches the server
  }
  // Straight into the worker's fetch handler with the real bindings: thousands of requests
  // through the pool's loopback (SELF) slow down request by request in this pool version.
  // Work a response leaves behind (metrics flushed after a delay) is awaited once per property.
  const ctx = createExecutionContext();
  contexts.push(ctx);
  return worker.fetch(request, env, ctx);
}

async function checkAnswer(r: FuzzRequest): Promise<void> {
  const res = await send(r);
  if (!res) return;
  const where = `${r.method} ${r.path}`;
  seen.add(res.status);
  expect(res.status, where).toBeLessThan(500);
  if (res.status >= 400) {
    expect(res.headers.get("content-type"), where).toBe("application/problem+json");
    if (r.method === "HEAD") return; // a HEAD answer has no body
    const problem = (await res.json()) as { type: string; status: number };
    expect(problem.type.startsWith(PROBLEMS), where).toBe(true);
    expect(problem.status, where).toBe(res.status);
  } else {
    await res.body?.cancel();
  }
}

describe("malformed requests", () => {
  it("to the command routes are refused as problems, never a 5xx", async () => {
    await fc.assert(fc.asyncProperty(commandRequest(), checkAnswer), { numRuns: RUNS });
    await settle();
  }, 60_000);

  it("with path tricks, odd methods and junk headers are refused as problems, never a 5xx", async () => {
    await fc.assert(fc.asyncProperty(pathRequest(), checkAnswer), { numRuns: RUNS });
    await settle();
  }, 60_000);

  it("reached every layer: auth, routing, headers, body limits, parsing and validation", () => {
    // Guards the fuzzer itself: generated requests that all bounced off one check would prove little.
    expect([...seen].sort()).toEqual(expect.arrayContaining([400, 401, 404, 405, 413, 415]));
  });

  it("have recorded nothing: no entity, no view row, no checkpoint, no dead letter", async () => {
    const auth = { authorization: `Bearer ${tenant.apiKey}` };
    for (const type of TYPES) {
      for (const id of IDS) {
        const res = await call(`/v1/entities/${type}/${id}`, { headers: auth });
        expect(res.status, `${type}/${id}`).toBe(404);
      }
    }
    for (const table of ["inventory_view", "orders_view", "projection_checkpoints", "dead_letters"]) {
      const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`)
        .bind(tenant.id)
        .first<{ n: number }>();
      expect(row?.n, table).toBe(0);
    }
    const shown = await call(`/admin/tenants/${tenant.id}`, { headers: { authorization: "Bearer test-admin-token" } });
    expect(await shown.json()).toMatchObject({ status: "active", rateLimit: null });
  });
});
