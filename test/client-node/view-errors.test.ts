// factline/client's view reads refused by something on the way that is not the server (a captive
// portal, a proxy's error page): no problem document to carry, so the ViewError says the status.
import { MemoryOutboxStore, ViewError } from "factline/client";
import { afterEach, describe, expect, it } from "vitest";
import { clientOn, closeClients } from "./client-kit.js";

afterEach(closeClients);

describe("a view read answered with a page that is not a problem document", () => {
  it("throws a ViewError with the status, and no problem", async () => {
    const portal: typeof fetch = async () =>
      new Response("<html><body>Please sign in to the Wi-Fi</body></html>", {
        status: 502,
        headers: { "content-type": "text/html" },
      });
    const client = clientOn(new MemoryOutboxStore(), portal);
    const refused = await client.view("inventory").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ViewError);
    expect(refused).toMatchObject({ status: 502, problem: null, message: "view inventory answered 502" });
  });
});
