// Live streams answer to the standing of whoever opened them: a stream ends soon after its key is
// revoked or its tenant suspended (README: within 60 s; LIVE_REVALIDATE_MS is 200 ms in tests),
// and a reconnect with the old key is refused. Streams of the tenant's other keys go on.
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../src/core/model/envelope.js";
import { admin } from "./support/admin.js";
import { call, newTenant, tenantClient } from "./support/api.js";

const sse = { accept: "text/event-stream" };

/** Resolves with the close code once the socket is closed by the server. */
function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
}

async function openSocket(apiKey: string, path: string): Promise<{ socket: WebSocket; received: RecordedEvent[] }> {
  const res = await tenantClient(apiKey).get(path, { upgrade: "websocket" });
  expect(res.status).toBe(101);
  const socket = res.webSocket!;
  const received: RecordedEvent[] = [];
  socket.addEventListener("message", (m) => {
    received.push(JSON.parse(m.data as string) as RecordedEvent);
  });
  socket.accept();
  return { socket, received };
}

describe("live streams and key revocation", () => {
  it("ends an SSE stream once its key is revoked, and the old key cannot reopen it", async () => {
    const tenant = await newTenant();
    const second = (await (await admin("POST", `/tenants/${tenant.id}/keys`)).json()) as {
      keyId: string;
      apiKey: string;
    };
    const api = tenantClient(second.apiKey);
    await api.command("inventory", "rv", "restock", { quantity: 1 });
    const stream = await api.get("/v1/entities/inventory/rv/events", sse);
    expect(stream.status).toBe(200);

    expect((await admin("DELETE", `/tenants/${tenant.id}/keys/${second.keyId}`)).status).toBe(204);
    // The body ends (the test would time out if the stream went on).
    expect(await stream.text()).toContain("id: 1\n");
    expect((await api.get("/v1/entities/inventory/rv/events", sse)).status).toBe(401);
  });

  it("closes a WebSocket once its key is revoked, while a socket of another key of the tenant goes on", async () => {
    const tenant = await newTenant();
    const second = (await (await admin("POST", `/tenants/${tenant.id}/keys`)).json()) as {
      keyId: string;
      apiKey: string;
    };
    await tenantClient(tenant.apiKey).command("inventory", "rw", "restock", { quantity: 1 });
    const doomed = await openSocket(second.apiKey, "/v1/entities/inventory/rw/events");
    const kept = await openSocket(tenant.apiKey, "/v1/entities/inventory/rw/events");
    const doomedClosed = closed(doomed.socket);

    expect((await admin("DELETE", `/tenants/${tenant.id}/keys/${second.keyId}`)).status).toBe(204);
    expect(await doomedClosed).toBe(4401);
    await tenantClient(tenant.apiKey).command("inventory", "rw", "restock", { quantity: 2 });
    for (let i = 0; i < 200 && kept.received.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(kept.received.map((e) => e.seq)).toEqual([1, 2]);
    kept.socket.close(1000, "done");
  });
});

describe("live streams and suspension", () => {
  it("ends SSE and WebSocket streams once the tenant is suspended; reopening is refused with 403", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "sp", "restock", { quantity: 1 });
    const stream = await api.get("/v1/entities/inventory/sp/events", sse);
    const { socket } = await openSocket(tenant.apiKey, "/v1/entities/inventory/sp/events");
    const socketClosed = closed(socket);

    expect((await admin("POST", `/tenants/${tenant.id}/suspend`)).status).toBe(200);
    expect(await socketClosed).toBe(4403);
    expect(await stream.text()).toContain("id: 1\n");
    expect((await api.get("/v1/entities/inventory/sp/events", sse)).status).toBe(403);
  });
});

describe("the dashboard's entity stream", () => {
  it("ends once the signed-in tenant admin's key is revoked", async () => {
    const tenant = await newTenant("dash");
    await tenantClient(tenant.apiKey).command("inventory", "ds", "restock", { quantity: 1 });
    const signIn = await call("/dashboard/sign-in", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://factline.test" },
      body: new URLSearchParams({ secret: tenant.apiKey }).toString(),
      redirect: "manual",
    });
    const cookie = /factline_session=[^;]+/.exec(signIn.headers.get("set-cookie") ?? "")?.[0] ?? "";
    const stream = await call(`/dashboard/t/${tenant.id}/entities/inventory/ds/stream`, {
      headers: { cookie, ...sse },
    });
    expect(stream.status).toBe(200);
    const keyId = tenant.apiKey.split("_")[1]!;

    expect((await admin("DELETE", `/tenants/${tenant.id}/keys/${keyId}`)).status).toBe(204);
    expect(await stream.text()).toContain("id: 1\n");
  });

  it("keeps the operator's stream of a tenant's entity open through the tenant's suspension", async () => {
    const tenant = await newTenant("dash");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "op", "restock", { quantity: 1 });
    const signIn = await call("/dashboard/sign-in", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://factline.test" },
      body: new URLSearchParams({ secret: "test-admin-token" }).toString(),
      redirect: "manual",
    });
    const cookie = /factline_session=[^;]+/.exec(signIn.headers.get("set-cookie") ?? "")?.[0] ?? "";
    const operator = await call(`/dashboard/t/${tenant.id}/entities/inventory/op/stream`, {
      headers: { cookie, ...sse },
    });
    const tenants = await api.get("/v1/entities/inventory/op/events", sse);

    await admin("POST", `/tenants/${tenant.id}/suspend`);
    await tenants.text(); // the tenant's own stream ended: the check has run
    await admin("POST", `/tenants/${tenant.id}/resume`);
    await api.command("inventory", "op", "restock", { quantity: 2 });
    const reader = operator.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("id: 2\n")) {
      const { done, value } = await reader.read();
      expect(done).toBe(false);
      text += value;
    }
    await reader.cancel();
  });
});

/** Opens `path` as SSE; fails unless it is an event stream. */
async function openSse(apiKey: string, path: string): Promise<Response> {
  const res = await tenantClient(apiKey).get(path, sse);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  return res;
}

/** A second key of `tenant`, so the first can keep working after this one is revoked. */
async function secondKey(tenant: string): Promise<{ keyId: string; apiKey: string }> {
  return (await (await admin("POST", `/tenants/${tenant}/keys`)).json()) as { keyId: string; apiKey: string };
}

// Durable Streams answer SSE through the Worker; their connections close after 60 s anyway, so
// each test would time out (30 s) if the stream did not end at a standing check.
describe("Durable Streams and key standing", () => {
  it("ends a tenant stream's SSE read once its key is revoked, while another key's read goes on", async () => {
    const tenant = await newTenant();
    const second = await secondKey(tenant.id);
    const created = await call("/v1/stream/standing", {
      method: "PUT",
      headers: { authorization: `Bearer ${tenant.apiKey}`, "content-type": "text/plain" },
    });
    expect(created.status).toBe(201);
    const doomed = await openSse(second.apiKey, "/v1/stream/standing?offset=-1&live=sse");
    const kept = await openSse(tenant.apiKey, "/v1/stream/standing?offset=-1&live=sse");
    const keptReader = kept.body!.getReader();

    expect((await admin("DELETE", `/tenants/${tenant.id}/keys/${second.keyId}`)).status).toBe(204);
    expect(await doomed.text()).toContain("event: control");
    const appended = await call("/v1/stream/standing", {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.apiKey}`, "content-type": "text/plain" },
      body: "still here",
    });
    expect(appended.status).toBe(204);
    let seen = "";
    while (!seen.includes("still here")) {
      const { value, done } = await keptReader.read();
      expect(done).toBe(false);
      seen += new TextDecoder().decode(value);
    }
    await keptReader.cancel();
    expect((await tenantClient(second.apiKey).get("/v1/stream/standing?offset=-1&live=sse", sse)).status).toBe(401);
  });

  it("ends an entity log's SSE read once its tenant is suspended; reopening is refused with 403", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "ds", "restock", { quantity: 1 });
    const stream = await openSse(tenant.apiKey, "/v1/entities/inventory/ds/stream?offset=-1&live=sse");

    expect((await admin("POST", `/tenants/${tenant.id}/suspend`)).status).toBe(200);
    expect(await stream.text()).toContain("event: data");
    expect((await api.get("/v1/entities/inventory/ds/stream?offset=-1&live=sse", sse)).status).toBe(403);
  });

  it("ends a view's change feed SSE once its key is revoked", async () => {
    const tenant = await newTenant();
    const second = await secondKey(tenant.id);
    const stream = await openSse(second.apiKey, "/v1/views/inventory/changes/stream?offset=-1&live=sse");

    expect((await admin("DELETE", `/tenants/${tenant.id}/keys/${second.keyId}`)).status).toBe(204);
    expect(await stream.text()).toContain("event: control");
    expect((await tenantClient(second.apiKey).get("/v1/views/inventory/changes/stream?offset=-1", sse)).status).toBe(
      401,
    );
  });
});
