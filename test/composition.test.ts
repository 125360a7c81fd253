/// <reference types="vite/client" />
// The composition point: the platform takes an app as input (platform.ts `defineApp`), and no
// platform module names an app. What it refuses, and how an app's services are looked up.
import { describe, expect, it } from "vitest";
import { serviceNamed, type CloudApp, type Service, type Services } from "../cloud/app.js";
import { defineProjection } from "../src/core/model/projection.js";
import { EntityRegistry } from "../src/core/model/entity.js";
import { defineApp } from "../platform.js";
import { call, newTenant } from "./support/api.js";
import { noopView } from "./support/views.js";
import { notifier } from "../examples/todo/notifier.js";
import { notifyOnClose } from "../examples/todo/notify-on-close.js";
import { todoLists } from "../examples/todo/todo-list.js";
import { todoListsProjection } from "../examples/todo/todo-lists-view.js";

// Every platform source file, as text (Vite's glob import, resolved when the suite is built).
const platformSources = import.meta.glob<string>(["../src/core/**/*.ts", "../edge/**/*.ts", "../cloud/**/*.{ts,tsx}"], {
  query: "?raw",
  import: "default",
  eager: true,
});

// The example app's own modules, as text; its simulator model (simulation.ts) is the simulator's.
const exampleSources = import.meta.glob<string>(["../examples/todo/*.ts", "!../examples/todo/simulation.ts"], {
  query: "?raw",
  import: "default",
  eager: true,
});

const emptyProjection = (name: string) => defineProjection()({ ...noopView, name, on: {} });

const done: Service = { call: async () => ({ kind: "done", result: null }) };
const appWith = (services: CloudApp["services"]): CloudApp => ({
  entities: new EntityRegistry([]),
  projections: [],
  sagas: [],
  services,
});

describe("the composition point", () => {
  it("no platform module imports the reference app, its integrations or the example app", () => {
    const files = Object.entries(platformSources);
    expect(files.length).toBeGreaterThan(40);
    // The app's projections live under src/domain/, so "domain" covers them; cloud/projections/ is the platform's own runtime.
    const offenders = files.filter(
      ([, text]) =>
        /from\s+"[^"]*\/(domain|reference|examples)\//.test(text) || /from\s+"[^"]*\/worker\.js"/.test(text),
    );
    expect(offenders.map(([path]) => path)).toEqual([]);
  });

  it("lets the example app reach the platform only through its app-facing entries, factline.ts and src/app-api.ts", () => {
    const entries = ["../../factline.js", "../../src/app-api.js"];
    const files = Object.entries(exampleSources);
    expect(files.length).toBeGreaterThan(4);
    const outside = files.flatMap(([path, text]) =>
      [...text.matchAll(/from\s+"(\.\.\/[^"]*)"/g)]
        .map((m) => m[1] ?? "")
        .filter((target) => !entries.includes(target))
        .map((target) => `${path} imports ${target}`),
    );
    expect(outside).toEqual([]);
  });

  it("finds a service by the app's own names only, never a member of Object.prototype", () => {
    const app = appWith({ notifier: done });
    expect(serviceNamed(app, "notifier")).toBe(done);
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty", "payment-gateway"])
      expect(serviceNamed(app, name)).toBeUndefined();
  });

  it("takes an app with entities alone: projections, sagas and services default to none", () => {
    expect(() => defineApp({ entities: [todoLists] })).not.toThrow();
  });

  it("refuses two projections with one name", () => {
    expect(() =>
      defineApp({ entities: [], projections: [emptyProjection("things"), emptyProjection("things")] }),
    ).toThrow(/projection defined twice: things/);
  });

  it("refuses a projection following an entity type the app does not define", () => {
    expect(() => defineApp({ entities: [], projections: [todoListsProjection] })).toThrow(
      /projection todo-lists follows todo-lists, an entity type the app does not define/,
    );
  });

  it("refuses a saga over an entity type the app does not define", () => {
    const services = { notifier: done };
    expect(() => defineApp({ entities: [], projections: [], sagas: [notifyOnClose], services })).toThrow(
      /saga notify-on-close uses todo-lists, an entity type the app does not define/,
    );
    expect(() => defineApp({ entities: [todoLists], projections: [], sagas: [notifyOnClose], services })).not.toThrow();
  });

  it("refuses a saga declaring a service the app does not provide", () => {
    // Services known by name only, as a JavaScript app's are: the compiler cannot see the gap
    // (test/types/references.ts shows it refused at compile time otherwise).
    const services: Services = { mailer: done };
    expect(() => defineApp({ entities: [todoLists], projections: [], sagas: [notifyOnClose], services })).toThrow(
      /saga notify-on-close calls service notifier, which the app does not provide/,
    );
  });

  it("refuses a service built from a contract when it is provided under another name", () => {
    // Provided as "mailer", the notifier's calls (which name "notifier") would reach another service.
    const services: Services = { notifier: done, mailer: notifier };
    expect(() => defineApp({ entities: [todoLists], projections: [], sagas: [notifyOnClose], services })).toThrow(
      /service mailer implements the contract of notifier: provide it as notifier/,
    );
    expect(() =>
      defineApp({ entities: [todoLists], projections: [], sagas: [notifyOnClose], services: { notifier } }),
    ).not.toThrow();
  });

  it("refuses app routes on a path the platform serves, or on a malformed segment", () => {
    const routes = defineApp({ entities: [], projections: [] }).http;
    for (const segment of ["entities", "views", "Payments", "a/b", ""]) {
      expect(() => defineApp({ entities: [], projections: [], tenantRoutes: { [segment]: routes } })).toThrow(
        /cannot be mounted/,
      );
    }
  });

  it("serves an app's own tenant routes behind the tenant API's authentication", async () => {
    const res = await call("/v1/payments/p-1/settle", { method: "POST" });
    expect(res.status).toBe(401);
    const { apiKey } = await newTenant("cmp");
    const known = await call("/v1/payments/p-1/settle", {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}` },
    });
    expect(known.status).toBe(404);
  });
});

describe("the platform's layout", () => {
  // A newcomer finds a concern by its folder's name; a file dropped loose at a tier's top level
  // would start the flat list again. The few top-level files are the tier's own plumbing.
  const loose = (root: string, allowed: readonly string[]) =>
    Object.keys(platformSources)
      .filter((path) => path.startsWith(root) && !path.slice(root.length).includes("/"))
      .map((path) => path.slice(root.length))
      .filter((name) => !allowed.includes(name));

  it("keeps every pure core module in a capability folder", () => {
    expect(loose("../src/core/", [])).toEqual([]);
  });

  it("keeps only the cloud tier's plumbing at its top level", () => {
    expect(loose("../cloud/", ["app.ts", "schema.ts", "storage-schema.ts", "stubs.ts"])).toEqual([]);
  });

  it("keeps only the edge's stub lookup at its top level", () => {
    expect(loose("../edge/", ["stubs.ts"])).toEqual([]);
  });
});
