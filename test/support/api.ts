// A small client for the tenant and admin APIs as a test sees them: real HTTP requests into the
// Worker under test (SELF), so routing, auth and validation are exercised as in production.
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { entityStub } from "../../edge/stubs.js";
import type { AnyEntity, CommandBody, PublicCommandNameOf } from "../../src/core/model/entity.js";
import type { CommandOutcome } from "../../src/core/protocol/entity-protocol.js";

export const ADMIN_TOKEN = "test-admin-token";

/**
 * This test file's client address (IPv6 documentation range), for requests that name none: every
 * wrong key, sign-in or admin token counts against its client in the AUTH_FAILURES limit, which
 * all files share, so one file's deliberate failures must not block another's requests.
 */
const FILE_CLIENT = `2001:db8::${crypto.randomUUID().slice(0, 4)}`;

export function call(path: string, init: RequestInit = {}): Promise<Response> {
  const request = new Request(`https://factline.test${path}`, init);
  if (!request.headers.has("cf-connecting-ip")) request.headers.set("cf-connecting-ip", FILE_CLIENT);
  return exports.default.fetch(request);
}

let tenantCounter = 0;

/** Creates a fresh tenant (unique per call) and returns its id and API key. */
export async function newTenant(prefix = "t"): Promise<{ id: string; apiKey: string }> {
  const id = `${prefix}-${Date.now().toString(36)}-${(tenantCounter++).toString(36)}`;
  const res = await call("/admin/tenants", {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ id, name: `Tenant ${id}` }),
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { apiKey: string };
  return { id, apiKey: body.apiKey };
}

export function tenantClient(apiKey: string) {
  const auth = { authorization: `Bearer ${apiKey}` };
  return {
    command(type: string, id: string, command: string, body: unknown, headers: Record<string, string> = {}) {
      return call(`/v1/entities/${type}/${id}/commands/${command}`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    },
    get(path: string, headers: Record<string, string> = {}) {
      return call(path, { headers: { ...auth, ...headers } });
    },
  };
}

/**
 * Sends a command as a saga does, over the entity object's RPC: the way to an internal command
 * (one the tenant API answers 404, such as inventory's `release` and `ship`). `data` must already
 * be valid for the command's schema; answers the object's `CommandOutcome`.
 */
export function internalCommand(
  tenant: string,
  entityType: string,
  entityId: string,
  command: string,
  data: unknown,
): Promise<CommandOutcome> {
  return entityStub(env, { tenant, entityType, entityId }).command({
    tenant,
    entityType,
    entityId,
    command,
    data,
    idempotencyKey: null,
    fingerprint: null,
    expectedVersion: null,
    causeHlc: null,
    correlationId: `test-${crypto.randomUUID()}`,
    causationId: null,
    traceparent: null,
  });
}

/**
 * A tenant's client of one entity type over HTTP, typed by the entity's definition: a command's
 * name and body are checked at compile time against the entity's commands and their schemas'
 * input (the server still validates them). `get` reads the entity (`GET /v1/entities/{type}/{id}`).
 */
export function entityHttpClient<X extends AnyEntity>(apiKey: string, entity: X) {
  const api = tenantClient(apiKey);
  return {
    command<K extends PublicCommandNameOf<X>>(
      id: string,
      command: K,
      body: CommandBody<X, K>,
      headers: Record<string, string> = {},
    ): Promise<Response> {
      return api.command(entity.type, id, command, body, headers);
    },
    get(id: string): Promise<Response> {
      return api.get(`/v1/entities/${entity.type}/${id}`);
    },
  };
}

/** Polls until `probe` returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Expects `res` to refuse a read after a position past an entity's latest event, `latest` (400 `cursor-past-end`). */
export async function expectPastEnd(res: Response, latest: number): Promise<void> {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect([res.status, await res.json()]).toEqual([
    400,
    expect.objectContaining({
      type: "https://factline.dev/problems/cursor-past-end",
      detail: expect.stringContaining(`its latest is ${latest};`),
    }),
  ]);
}
