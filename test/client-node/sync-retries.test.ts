// factline/client's answers that are no decision: a status something on the way gives (a proxy, a
// load balancer) says nothing about the command, so the command stays queued and is sent again
// under its client-session number, and the server decides it once when it is reached (README
// "Build an offline-first app", Sync). tenant-api-double.ts stands in for the server.
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
