// factline/client's answers that are no decision: a status something on the way gives (a proxy, a
// load balancer) says nothing about the command, so the command stays queued and is sent again
// under its client-session number, and the server decides it once when it is reached (README
// "Build an offline-first app", Sync); nor is a rejection whose body broke off before it was read.
// tenant-api-double.ts stands in for the server.
import { MemoryOutboxStore } from "factline/client";
import { afterEach, describe, expect, it } from "vitest";
import { clientOn, closeClients, settle, stateAfter, until } from "./client-kit.js";
import { tenantApi } from "./tenant-api-double.js";

afterEach(closeClients);

const commandsSent = (requests: readonly string[]) => requests.filter((r) => r.startsWith("POST ")).length;

describe("a command answered with a status that is no decision", () => {
  it.each([
    [408, "Request Timeout (RFC 9110 §15.5.9: the client may repeat the request)"],
    [425, "Too Early (RFC 8470 §5.2: the request may be repeated)"],
  ])("keeps a command answered %i, %s, and sends it again until the server decides it once", async (status) => {
    const net = tenantApi([]);
    net.control.commandStatus = status;
    const client = clientOn(new MemoryOutboxStore(), net.fetch);
    const sku = client.entity("inventory", "sku-1");
    await sku.command("restock", { quantity: 4 });

    await until(() => commandsSent(net.requests) >= 2);
    expect(commandsSent(net.requests)).toBeGreaterThanOrEqual(2);
    expect(client.status.queueLength).toBe(1);
    expect(client.rejections).toEqual([]);

    net.control.commandStatus = undefined;
    await client.drained();
    await settle();
    expect(client.rejections).toEqual([]);
    expect(sku.confirmed).toEqual({ version: 1, state: stateAfter([4]) });
  });
});

describe("a rejection whose body breaks off on the way", () => {
  it("is sent again once the attempt times out, and recorded once from the complete answer", async () => {
    const net = tenantApi([3]);
    net.control.rejectionBodiesStalled = 1;
    const client = clientOn(new MemoryOutboxStore(), net.fetch, { commandTimeoutMs: 100 });
    const sku = client.entity("inventory", "sku-1");
    await sku.command("reserve", { orderId: "o-1", quantity: 5 });

    await client.drained();
    await settle();
    expect(commandsSent(net.requests)).toBe(2);
    expect(client.rejections.map((r) => r.problem.code)).toEqual(["insufficient-stock"]);
    expect(client.status.queueLength).toBe(0);
  });
});

describe("a command the server says a later command of its session overtook", () => {
  it("is reported as a rejection, never dropped as answered (its outbox was restored or copied)", async () => {
    const net = tenantApi([]);
    // The entity decided command 3 of this session; the outbox, restored from an older copy, numbers this one 1.
    const overtaken: typeof fetch = async (input, init) =>
      init?.method === "POST"
        ? Response.json(
            {
              type: "https://factline.dev/problems/client-command-answered",
              title: "This command of the client session was answered already",
              status: 409,
              detail: "command 1 of this client session was answered before command 3, which this entity has decided",
            },
            { status: 409, headers: { "content-type": "application/problem+json" } },
          )
        : net.fetch(input, init);
    const client = clientOn(new MemoryOutboxStore(), overtaken);
    await client.entity("inventory", "sku-1").command("restock", { quantity: 4 });

    await client.drained();
    expect(client.status.queueLength).toBe(0);
    expect(client.rejections.map((r) => [r.seq, r.command, r.problem.status])).toEqual([[1, "restock", 409]]);
  });
});
