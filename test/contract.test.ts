// The public HTTP contract: the OpenAPI document is well formed, describes every route the app
// serves (and nothing it does not), carries the domain's own command schemas; every problem type
// in the catalogue is answered with its status; the README's table of problem types is true.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import readme from "../README.md?raw";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { Validator } from "@seriousme/openapi-schema-validator";
import openApi31Schema from "@seriousme/openapi-schema-validator/schemas/v3.1/schema.json";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { jsonBody } from "../src/core/http/openapi.js";
import { problemCatalogue } from "../src/core/http/problem.js";
import { domain } from "../src/domain/index.js";
import { app } from "../worker.js";
import { admin } from "./support/admin.js";
import { ADMIN_TOKEN, call, newTenant, tenantClient } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";
const METHODS = ["get", "post", "put", "patch", "delete", "options", "head"] as const;

type Doc = {
  paths: Record<
    string,
    Record<string, { operationId: string; requestBody?: { content: Record<string, { schema: unknown }> } }>
  >;
};

async function openApi(): Promise<Doc & Record<string, unknown>> {
  const res = await call("/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as Doc & Record<string, unknown>;
}

const responseShape = z.object({ description: z.string().min(1) }).passthrough();
const parameterShape = z
  .object({
    name: z.string().min(1),
    in: z.enum(["path", "query", "header", "cookie"]),
    required: z.boolean().optional(),
    schema: z.record(z.string(), z.unknown()),
  })
  .passthrough();
const operationShape = z
  .object({
    operationId: z.string().min(1),
    summary: z.string().min(1),
    parameters: z.array(parameterShape).optional(),
    responses: z
      .record(z.string().regex(/^[1-5]\d\d$/), responseShape)
      .refine((r) => Object.keys(r).length > 0, "no responses"),
  })
  .passthrough();
const documentShape = z
  .object({
    openapi: z.string().regex(/^3\.1\.\d+$/),
    info: z.object({ title: z.string().min(1), version: z.string().min(1) }).passthrough(),
    paths: z.record(
      z.string().regex(/^\//),
      z
        .record(z.string(), z.unknown())
        .refine((item) => Object.keys(item).every((m) => (METHODS as readonly string[]).includes(m)), "unknown method"),
    ),
    components: z
      .object({ schemas: z.record(z.string(), z.unknown()), securitySchemes: z.record(z.string(), z.unknown()) })
      .passthrough(),
  })
  .passthrough();

/** Hono's path pattern (`/v1/entities/:type/:id`) as segments. */
function segments(path: string): string[] {
  return path.split("/").filter(Boolean);
}

/** Whether a served route and a documented path can name the same URL. */
function sameRoute(served: string, documented: string): boolean {
  const a = segments(served);
  const b = segments(documented);
  return a.length === b.length && a.every((s, i) => s.startsWith(":") || /^\{.+\}$/.test(b[i] ?? "") || s === b[i]);
}

function servedRoutes(): { method: string; path: string }[] {
  // Middleware is registered as method ALL; handlers have their own method.
  const routes = app.routes
    .filter((r) => r.method !== "ALL")
    .map((r) => ({ method: r.method.toLowerCase(), path: r.path }));
  return [...new Map(routes.map((r) => [`${r.method} ${r.path}`, r])).values()];
}

/**
 * The library's Validator, with its OpenAPI 3.1 meta-schema bundled by the test build: the
 * library reads it from node_modules with `readFileSync`, which workerd has no files for. The
 * compile step is the library's own (index.js `getAjvValidator`), the validation all its.
 */
class BundledValidator extends Validator {
  getAjvValidator(): unknown {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addFormat("media-range", true);
    return ajv.compile(openApi31Schema);
  }
}

/** How the document generator renders `schema` as a request body, on a route of its own. */
function documentedBody(schema: z.ZodType): unknown {
  const probe = new OpenAPIHono();
  probe.openapi(
    createRoute({
      method: "post",
      path: "/probe",
      request: { body: jsonBody(schema) },
      responses: { 204: { description: "done" } },
    }),
    (c) => c.body(null, 204),
  );
  const doc = probe.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "probe", version: "1" } });
  const body = doc.paths?.["/probe"]?.post?.requestBody;
  return body && "content" in body ? body.content["application/json"]?.schema : undefined;
}

describe("the OpenAPI document", () => {
  it("validates as OpenAPI 3.1 (@seriousme/openapi-schema-validator)", async () => {
    const result = await new BundledValidator().validate(await openApi());
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("is checked by a validator that refuses a parameter no OpenAPI 3.1 location has", async () => {
    const doc = structuredClone(await openApi());
    const op = Object.values(Object.values(doc.paths)[0] ?? {})[0] as { parameters?: unknown[] };
    op.parameters = [...(op.parameters ?? []), { name: "x", in: "body", schema: { type: "string" } }];
    expect((await new BundledValidator().validate(doc)).valid).toBe(false);
  });

  it("is a well-formed OpenAPI 3.1 document whose every operation has responses", async () => {
    const doc = await openApi();
    documentShape.parse(doc);
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const op = operationShape.parse(operation);
        expect(ids.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
        ids.add(op.operationId);
        const declared = (op.parameters ?? [])
          .filter((p) => p.in === "path")
          .map((p) => p.name)
          .sort();
        const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
        expect(declared, `${method} ${path} path parameters`).toEqual(templated);
      }
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1] ?? "");
    for (const ref of refs)
      expect((doc.components as { schemas: Record<string, unknown> }).schemas).toHaveProperty(ref);
  });

  it("documents every route the app serves", async () => {
    const doc = await openApi();
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => ({ method, path })),
    );
    const undocumented = servedRoutes().filter(
      (r) => !documented.some((d) => d.method === r.method && sameRoute(r.path, d.path)),
    );
    expect(undocumented).toEqual([]);
  });

  it("documents nothing the app does not serve", async () => {
    const doc = await openApi();
    const served = servedRoutes();
    const phantom = Object.entries(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => ({ method, path })))
      .filter((d) => !served.some((r) => r.method === d.method && sameRoute(r.path, d.path)));
    expect(phantom).toEqual([]);
  });

  it("carries each public entity command with the very schema that validates it", async () => {
    const doc = await openApi();
    for (const entity of domain.all()) {
      for (const command of entity.publicCommandNames) {
        const op = doc.paths[`/v1/entities/${entity.type}/{id}/commands/${command}`]?.post;
        expect(op, `${entity.type}.${command}`).toBeDefined();
        const schema = entity.commandSchema(command);
        if (!schema) throw new Error(`no schema for ${command}`);
        expect(op?.requestBody?.content["application/json"]?.schema).toEqual(documentedBody(schema));
      }
    }
  });

  it("documents the {type} of an entity read as the app's entity types", async () => {
    const doc = (await openApi()) as unknown as {
      paths: Record<string, { get?: { parameters: { name: string; schema: { enum?: string[] } }[] } }>;
    };
    const type = doc.paths["/v1/entities/{type}/{id}"]?.get?.parameters.find((p) => p.name === "type");
    expect(type?.schema.enum?.sort()).toEqual(
      domain
        .all()
        .map((e) => e.type)
        .sort(),
    );
  });

  it("lists every problem type of the catalogue", async () => {
    const doc = (await openApi()) as unknown as {
      components: { schemas: { Problem: { properties: { type: { enum: string[] } } } } };
    };
    expect(doc.components.schemas.Problem.properties.type.enum.sort()).toEqual(
      problemCatalogue()
        .map((p) => p.type)
        .sort(),
    );
  });
});

describe("the messages of the router's validation", () => {
  // How zod 4's English messages open ("Too big: expected string to have <=16 characters",
  // "Invalid option: expected one of …"): they name neither the header nor the rule a client must follow.
  const ZOD_DEFAULT = /^(Invalid |Too (big|small)|Unrecognized key)/;
  // Values outside most bounds: empty, a space, a control character, too long, unlisted, signed.
  const OUTSIDE = ["", " ", "\u0000", "x".repeat(5_000), "zz-not-listed", "-1"];

  it("answer every header, query or path parameter outside its rule with a message of its own, not zod's", () => {
    const leaks: string[] = [];
    for (const definition of app.openAPIRegistry.definitions) {
      if (definition.type !== "route") continue;
      const { method, path, request } = definition.route;
      for (const [where, schema] of [
        ["header", request?.headers],
        ["query", request?.query],
        ["path", request?.params],
      ] as const) {
        if (!(schema instanceof z.ZodObject)) continue;
        for (const [name, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
          // A path parameter is always there; a required header or query parameter may be missing.
          const values = where !== "path" && !field.safeParse(undefined).success ? [...OUTSIDE, undefined] : OUTSIDE;
          const leak = values
            .flatMap((value) =>
              (field.safeParse(value).error?.issues ?? []).map((i) => ({ value, message: i.message })),
            )
            .find((i) => ZOD_DEFAULT.test(i.message));
          if (leak)
            leaks.push(
              `${method} ${path} ${where} ${name}=${JSON.stringify(leak.value)?.slice(0, 20)}: ${leak.message}`,
            );
        }
      }
    }
    expect(leaks).toEqual([]);
  });
});

describe("the API reference page", () => {
  it("renders every operation on one self-contained page", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).not.toMatch(/<script|<link|https?:\/\/(?!factline\.dev)[^"'<\s]*\.(js|css)/i);
    const doc = await openApi();
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) expect(html).toContain(`id="${op.operationId}"`);
    }
  });
});

describe("the README", () => {
  /** The rows of the README's route table: `METHOD /path` (a `{name}` segment stands for any). */
  function readmeRoutes(): { method: string; path: string }[] {
    const table = /<!-- routes:start[^>]*-->([\s\S]*?)<!-- routes:end -->/.exec(readme)?.[1] ?? "";
    return [...table.matchAll(/^\| `([A-Z]+) (\/[^`]*)` \|/gm)].map((m) => ({
      method: (m[1] ?? "").toLowerCase(),
      path: m[2] ?? "",
    }));
  }
  const matches = (a: string, b: string) => {
    const x = segments(a);
    const y = segments(b);
    return x.length === y.length && x.every((s, i) => s === y[i] || /^\{.+\}$/.test(s) || /^\{.+\}$/.test(y[i] ?? ""));
  };

  it("has a route table that names only documented routes, and every documented route", async () => {
    const doc = await openApi();
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => ({ method, path })),
    );
    const rows = readmeRoutes();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((r) => !documented.some((d) => d.method === r.method && matches(r.path, d.path)))).toEqual([]);
    expect(documented.filter((d) => !rows.some((r) => r.method === d.method && matches(r.path, d.path)))).toEqual([]);
  });

  it("lists exactly the problem types of the catalogue, with their statuses and titles", () => {
    const table = /<!-- problem-types:start[^>]*-->([\s\S]*?)<!-- problem-types:end -->/.exec(readme)?.[1] ?? "";
    const rows = [...table.matchAll(/^\| `([^`]+)` \| (\d{3}) \| ([^|]+?) \|/gm)].map((m) => ({
      type: m[1],
      status: Number(m[2]),
      title: m[3],
    }));
    expect(rows).toEqual(problemCatalogue().map((p) => ({ type: p.type, status: p.status, title: p.title })));
  });
});

describe("errors thrown by Hono's own middleware", () => {
  it("answer a missing, malformed or wrong admin token with 401 problem+json and a bearer challenge", async () => {
    for (const authorization of [undefined, "Basic dGVzdDp0ZXN0", "Bearer not-the-token", "Bearer two words"]) {
      const res = await call("/admin/tenants", { headers: authorization === undefined ? {} : { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
      expect(await res.json()).toMatchObject({
        type: `${PROBLEMS}unauthorized`,
        status: 401,
        detail: expect.stringContaining("ADMIN_TOKEN"),
      });
    }
  });

  it("leave a refusal from behind the admin check as it was (a malformed body is 400, not 401)", async () => {
    const res = await call("/admin/tenants", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: '{"id":"x",',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: `${PROBLEMS}malformed-request` });
  });
});

describe("every problem type", () => {
  // Kinds no request can provoke in this suite, each with where it is answered.
  const notDrivenHere: Record<string, string> = {
    "idempotency-key-in-flight":
      "reserved: an entity decides a command in one synchronous step, so no key is ever in flight",
    "auth-failures-limited":
      "a client over the AUTH_FAILURES limit (test/auth-failures.test.ts drives it with its own client IP)",
    "backlog-full": "the entity sheds load past ENTITY_MAX_BACKLOG unsent facts (outbox relay)",
    overloaded: "in-flight caps and the queueing-delay target (test/shedding.test.ts drives each)",
    "dependency-unavailable": "an overloaded entity object or a guarded dependency (platform.ts onError)",
    "fact-too-large":
      "a fact over the queue's message limit; the 64 KiB body bounds HTTP commands, so only an RPC caller (a saga) can ask for one (test/bounds.test.ts)",
    internal: "a bug; the fuzz suite checks that no client input provokes it",
    "event-data-not-json":
      "a domain deciding event data that is not plain JSON; the reference domain never does (test/entity-domain-mistakes.test.ts drives it)",
    "state-unfoldable":
      "a stored log the definition cannot fold (test/entity-runtime.test.ts drives it over HTTP, test/entity-domain-mistakes.test.ts each cause)",
    "config-invalid":
      "a malformed [vars] setting; this suite's Worker is configured well (test/configuration.test.ts drives it)",
    // Durable Streams: the official conformance suite (test/conformance/) and test/streams.test.ts drive each.
    "stream-gone": "a deleted stream read by its forks (test/streams.test.ts)",
    "offset-gone": "an offset before a view change feed's retained window (test/streams.test.ts)",
    "stream-closed": "an append to a closed stream (test/streams.test.ts)",
    "stream-exists": "a PUT with another configuration (test/streams.test.ts)",
    "content-type-mismatch": "an append of another content type (test/streams.test.ts)",
    "stream-seq-regression": "a Stream-Seq not above the last (test/conformance/)",
    "producer-sequence-gap": "a Producer-Seq gap (test/streams.test.ts)",
    "stale-producer-epoch": "a fenced producer epoch (test/streams.test.ts)",
  };

  async function expectProblem(res: Response, kind: string, status: number): Promise<Record<string, unknown>> {
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ type: PROBLEMS + kind, status });
    expect(body.title).toEqual(expect.any(String));
    expect(body.detail).toEqual(expect.any(String));
    return body;
  }

  const driven: Record<string, () => Promise<void>> = {
    "malformed-request": async () => {
      const t = await newTenant();
      const res = await call("/v1/entities/inventory/s/commands/restock", {
        method: "POST",
        headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
        body: "{",
      });
      await expectProblem(res, "malformed-request", 400);
    },
    "digest-mismatch": async () => {
      const t = await newTenant();
      const res = await call("/v1/entities/inventory/s/commands/restock", {
        method: "POST",
        headers: {
          authorization: `Bearer ${t.apiKey}`,
          "content-type": "application/json",
          "content-digest": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
        },
        body: '{"quantity": 1}',
      });
      await expectProblem(res, "digest-mismatch", 400);
    },
    "validation-failed": async () => {
      const t = await newTenant();
      const body = await expectProblem(
        await tenantClient(t.apiKey).command("inventory", "s", "restock", { quantity: -2 }),
        "validation-failed",
        400,
      );
      expect(body.errors).toEqual([expect.objectContaining({ path: "quantity" })]);
    },
    unauthorized: async () => {
      await expectProblem(await call("/v1/views/inventory"), "unauthorized", 401);
      await expectProblem(await call("/admin/tenants"), "unauthorized", 401);
    },
    "tenant-suspended": async () => {
      const t = await newTenant();
      await admin("POST", `/tenants/${t.id}/suspend`);
      await expectProblem(await tenantClient(t.apiKey).get("/v1/views/inventory"), "tenant-suspended", 403);
    },
    forbidden: async () => {
      const res = await call("/dashboard/sign-out", {
        method: "POST",
        headers: { origin: "https://evil.example.net" },
      });
      await expectProblem(res, "forbidden", 403);
    },
    "not-found": async () => {
      const t = await newTenant();
      const api = tenantClient(t.apiKey);
      await expectProblem(await api.get("/v1/entities/inventory/nothing-here"), "not-found", 404);
      await expectProblem(await api.get("/v1/entities/no-such-type/x"), "not-found", 404);
      await expectProblem(await api.command("inventory", "x", "no-such-command", {}), "not-found", 404);
      await expectProblem(await api.get("/v1/views/no-such-view"), "not-found", 404);
      await expectProblem(await call("/no/such/route"), "not-found", 404);
    },
    "method-not-allowed": async () => {
      const res = await call("/healthz", { method: "POST" });
      await expectProblem(res, "method-not-allowed", 405);
      expect(res.headers.get("allow")).toContain("GET");
    },
    conflict: async () => {
      const t = await newTenant();
      await expectProblem(await admin("POST", "/tenants", { id: t.id, name: "again" }), "conflict", 409);
    },
    "rebuild-in-progress": async () => {
      const t = await newTenant();
      const start = () => admin("POST", `/projections/inventory/rebuild?tenant=${t.id}`);
      const answers = await Promise.all([start(), start()]);
      expect(answers.map((r) => r.status).sort()).toEqual([202, 409]);
      await expectProblem(answers.find((r) => r.status === 409)!, "rebuild-in-progress", 409);
    },
    "cursor-past-end": async () => {
      const t = await newTenant();
      const api = tenantClient(t.apiKey);
      await api.command("inventory", "s", "restock", { quantity: 1 });
      const body = await expectProblem(
        await api.get("/v1/entities/inventory/s/events?after=50"),
        "cursor-past-end",
        400,
      );
      expect(body.detail).toContain("its latest is 1");
    },
    "version-mismatch": async () => {
      const t = await newTenant();
      const api = tenantClient(t.apiKey);
      await api.command("inventory", "s", "restock", { quantity: 1 });
      await expectProblem(
        await api.command("inventory", "s", "restock", { quantity: 1 }, { "if-match": '"7"' }),
        "version-mismatch",
        412,
      );
    },
    "payload-too-large": async () => {
      const t = await newTenant();
      const res = await tenantClient(t.apiKey).command("inventory", "s", "restock", {
        quantity: 1,
        source: "x".repeat(70_000),
      });
      await expectProblem(res, "payload-too-large", 413);
    },
    "unsupported-media-type": async () => {
      const t = await newTenant();
      const res = await call("/v1/entities/inventory/s/commands/restock", {
        method: "POST",
        headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "text/csv" },
        body: "quantity\n1",
      });
      await expectProblem(res, "unsupported-media-type", 415);
    },
    "idempotency-key-reused": async () => {
      const t = await newTenant();
      const api = tenantClient(t.apiKey);
      await api.command("inventory", "s", "restock", { quantity: 1 }, { "idempotency-key": "k1" });
      await expectProblem(
        await api.command("inventory", "s", "restock", { quantity: 2 }, { "idempotency-key": "k1" }),
        "idempotency-key-reused",
        422,
      );
    },
    "client-command-answered": async () => {
      const t = await newTenant();
      const api = tenantClient(t.apiKey);
      const as = (seq: number) => ({
        "factline-client-session": "contract-session-0001",
        "factline-client-seq": String(seq),
      });
      await api.command("inventory", "s", "restock", { quantity: 1 }, as(1));
      await api.command("inventory", "s", "restock", { quantity: 1 }, as(2));
      await expectProblem(
        await api.command("inventory", "s", "restock", { quantity: 1 }, as(1)),
        "client-command-answered",
        409,
      );
    },
    "client-sequence-reused": async () => {
      const t = await newTenant();
      const api = tenantClient(t.apiKey);
      const as = { "factline-client-session": "contract-session-0002", "factline-client-seq": "1" };
      await api.command("inventory", "s", "restock", { quantity: 1 }, as);
      await expectProblem(
        await api.command("inventory", "s", "restock", { quantity: 2 }, as),
        "client-sequence-reused",
        422,
      );
    },
    "business-rule": async () => {
      const t = await newTenant();
      const body = await expectProblem(
        await tenantClient(t.apiKey).command("inventory", "s", "reserve", { orderId: "o", quantity: 1 }),
        "business-rule",
        422,
      );
      expect(body.code).toBe("insufficient-stock");
    },
    "rate-limited": async () => {
      const t = await newTenant();
      await admin("PUT", `/tenants/${t.id}/rate-limit`, { requestsPerSecond: 0.01, burst: 1 });
      const api = tenantClient(t.apiKey);
      await api.get("/v1/views/inventory");
      const res = await api.get("/v1/views/inventory");
      await expectProblem(res, "rate-limited", 429);
      expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    },
  };

  it("is either driven by this suite or accounted for", () => {
    const kinds = problemCatalogue()
      .map((p) => p.type.slice(PROBLEMS.length))
      .sort();
    expect([...Object.keys(driven), ...Object.keys(notDrivenHere)].sort()).toEqual(kinds);
  });

  for (const [kind, drive] of Object.entries(driven)) {
    it(`answers ${kind} with its status and type`, drive);
  }
});
