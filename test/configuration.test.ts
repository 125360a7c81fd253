// One typed configuration (src/core/runtime/config.ts): the `[vars]` parsed once with zod, defaults for
// what is unset, and a malformed value refused at the Worker's door with a clear problem
// instead of surfacing as NaN or a JSON error inside every alarm.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, hostConfig, readConfig } from "../src/core/runtime/config.js";
import worker from "../worker.js";

describe("the configuration", () => {
  it("takes the documented defaults for settings that are unset or empty", () => {
    const { config, errors } = readConfig({ SAGA_MAX_ATTEMPTS: "" });
    expect(errors).toEqual([]);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config).toMatchObject({
      entityMaxBacklog: 1000,
      sagaMaxAttempts: 8,
      sagaRetryBaseMs: 500,
      gatewayTimeoutMs: 5000,
      breakerOpenMs: 30_000,
      tenantPolicyMaxAgeMs: 15_000,
    });
  });

  it("reads numbers written as strings or unquoted, and stage timeouts as JSON", () => {
    const { config, errors } = readConfig({
      ENTITY_MAX_BACKLOG: "250",
      BREAKER_OPEN_MS: 400,
      SAGA_STAGE_TIMEOUTS: '{"charge": 20000}',
    });
    expect(errors).toEqual([]);
    expect(config.entityMaxBacklog).toBe(250);
    expect(config.breakerOpenMs).toBe(400);
    expect(config.sagaStageTimeouts.charge).toBe(20_000);
  });

  it("names each malformed setting, and keeps the default in its place and the well-formed ones as given", () => {
    for (const bad of ["abc", "0", "-5", "1e3", "2.5", "NaN", " "]) {
      const { config, errors } = readConfig({ SAGA_RETRY_BASE_MS: bad, SAGA_MAX_ATTEMPTS: "3" });
      expect(errors.map((e) => e.path)).toEqual(["SAGA_RETRY_BASE_MS"]);
      expect(config.sagaRetryBaseMs).toBe(DEFAULT_CONFIG.sagaRetryBaseMs);
      expect(config.sagaMaxAttempts).toBe(3);
    }
  });

  it("refuses stage timeouts that are not a JSON object of positive whole milliseconds", () => {
    for (const bad of ["{", "[1]", '{"charge": -1}', '{"charge": "soon"}', "null"]) {
      const { config, errors } = readConfig({ SAGA_STAGE_TIMEOUTS: bad });
      expect(errors.map((e) => e.path)).toEqual(["SAGA_STAGE_TIMEOUTS"]);
      expect(config.sagaStageTimeouts).toEqual({});
    }
  });

  it("lets a host keep running on the defaults when a setting is malformed", () => {
    expect(hostConfig({ SAGA_STAGE_TIMEOUTS: "{oops" }, "saga").sagaStageTimeouts).toEqual({});
  });

  it("refuses every request with 500 config-invalid naming the malformed setting", async () => {
    // Env types each var as its wrangler.toml literal; an operator can deploy any string.
    const broken: Env = Object.assign(Object.create(null) as Env, env, {
      SAGA_STAGE_TIMEOUTS: "{not json",
      ENTITY_MAX_BACKLOG: "lots",
    });
    const res = await worker.fetch(new Request("https://factline.test/healthz"), broken, createExecutionContext());
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    const body = (await res.json()) as { type: string; errors: { path: string }[] };
    expect(body.type).toBe("https://factline.dev/problems/config-invalid");
    expect(body.errors.map((e) => e.path).sort()).toEqual(["ENTITY_MAX_BACKLOG", "SAGA_STAGE_TIMEOUTS"]);
  });

  it("answers config-invalid with the security headers, request id and trace every answer carries", async () => {
    const broken: Env = Object.assign(Object.create(null) as Env, env, { ENTITY_MAX_BACKLOG: "lots" });
    for (const path of ["/healthz", "/v1/entities/inventory/x", "/admin/tenants"]) {
      const res = await worker.fetch(
        new Request(`https://factline.test${path}`, { headers: { "x-request-id": "broken-config-1" } }),
        broken,
        createExecutionContext(),
      );
      expect(res.status).toBe(500);
      expect(res.headers.get("x-request-id")).toBe("broken-config-1");
      expect(res.headers.get("traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("strict-transport-security")).toContain("max-age=");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
    }
  });

  it("closes the admin API and the dashboard's sign-in while ADMIN_TOKEN is too short, even to that token", async () => {
    const weak: Env = Object.assign(Object.create(null) as Env, env, { ADMIN_TOKEN: "admin" });
    const ask = (path: string, init: RequestInit) =>
      worker.fetch(new Request(`https://factline.test${path}`, init), weak, createExecutionContext());
    const res = await ask("/admin/tenants", { headers: { authorization: "Bearer admin" } });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({
      type: "https://factline.dev/problems/config-invalid",
      detail: expect.stringContaining("ADMIN_TOKEN is shorter than 16 characters"),
    });
    const signIn = await ask("/dashboard/sign-in", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://factline.test" },
      body: "secret=admin",
    });
    expect(signIn.status).toBe(500);
    expect(await signIn.text()).toContain("ADMIN_TOKEN is shorter than 16 characters");
    expect(signIn.headers.get("set-cookie")).toBeNull();
  });

  it("serves requests when the settings are well formed", async () => {
    const res = await worker.fetch(new Request("https://factline.test/healthz"), env, createExecutionContext());
    expect(res.status).toBe(200);
  });
});
