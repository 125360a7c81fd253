// Listing dead letters by tenant: the filter takes what /admin/sagas takes (a tenant id, else 400),
// plus the one value letters that named no valid tenant are filed under.
import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import { recordDeadLetter, UNKNOWN_TENANT } from "../cloud/consumer/dead-letters.js";
import { adminCall } from "./support/sagas.js";

function letter(id: string, body: unknown): Message<unknown> {
  return { id, timestamp: new Date(), body, attempts: 3, ack: () => undefined, retry: () => undefined };
}

describe("dead-letter listing", () => {
  it("refuses a tenant filter that is no tenant id, like the saga listing", async () => {
    for (const tenant of ["A%20B", "..%2F", "x".repeat(41)]) {
      const res = await adminCall(`/admin/dead-letters?tenant=${tenant}`);
      expect({ tenant, status: res.status }).toEqual({ tenant, status: 400 });
    }
    expect((await adminCall("/admin/dead-letters?tenant=some-tenant")).status).toBe(200);
  });

  it("files a letter naming no valid tenant under (unknown), which stays listable", async () => {
    const id = `dl-${crypto.randomUUID()}`;
    await recordDeadLetter(
      drizzle(env.DB),
      letter(id, { id, tenant: "A B", entitytype: "inventory", entityid: "s" }),
      null,
      "not a fact",
    );
    const res = await adminCall(`/admin/dead-letters?tenant=${encodeURIComponent(UNKNOWN_TENANT)}`);
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: { id: string; tenantId: string }[] };
    expect(items.find((i) => i.id === id)).toMatchObject({ tenantId: UNKNOWN_TENANT });
  });
});
