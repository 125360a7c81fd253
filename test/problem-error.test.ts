// Refusals (src/core/http/problem.ts): a ProblemError is an answer, not a bug, so building one
// captures no stack; bugs thrown after it must still carry theirs.
import { describe, expect, it } from "vitest";
import { fail, ProblemError } from "../src/core/http/problem.js";
import { newTenant, tenantClient } from "./support/api.js";

/** The frames ("    at …" lines) of a stack trace. */
function frames(error: Error): string[] {
  return (error.stack ?? "").split("\n").filter((line) => line.trimStart().startsWith("at "));
}

describe("refusals", () => {
  it("carry no stack frames", () => {
    const refusal = fail("overloaded", "64 commands of this entity are already waiting", { retryAfter: 1 });
    expect(refusal).toBeInstanceOf(ProblemError);
    expect(refusal.message).toBe("64 commands of this entity are already waiting");
    expect(frames(refusal)).toEqual([]);
  });

  it("leave every other error its stack frames", () => {
    fail("not-found", "no such thing");
    expect(frames(new Error("a bug"))).not.toEqual([]);
  });

  it("are still answered as their problem", async () => {
    const { apiKey } = await newTenant();
    const res = await tenantClient(apiKey).command("inventory", "sku-1", "restock", { quantity: "many" });
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const body = await res.json<{ status: number; type: string }>();
    expect([res.status, body.status]).toEqual([400, 400]);
    expect(body.type).toBe("https://factline.dev/problems/validation-failed");
  });
});
