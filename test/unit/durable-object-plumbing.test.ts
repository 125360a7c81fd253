/// <reference types="vite/client" />
// Durable Object plumbing in one place: stubs looked up by name in edge/stubs.ts and
// cloud/stubs.ts (typed by their RPC contracts, no casts), and one bounded wait
// (src/core/resilience/timeout.ts) whose timer never outlives the call.
import { afterEach, describe, expect, it, vi } from "vitest";
import { CallTimedOut, withTimeout } from "../../src/core/resilience/timeout.js";

const platformSources = import.meta.glob<string>(
  [
    "../../src/core/**/*.ts",
    "../../edge/**/*.ts",
    "../../cloud/**/*.{ts,tsx}",
    "../../reference/**/*.ts",
    "../../platform.ts",
  ],
  {
    query: "?raw",
    import: "default",
    eager: true,
  },
);

describe("Durable Object plumbing", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("looks every stub up by name in its tier's stubs module, never with a cast", () => {
    const files = Object.entries(platformSources);
    expect(files.length).toBeGreaterThan(40);
    expect(files.filter(([, text]) => text.includes("as unknown as")).map(([path]) => path)).toEqual([]);
    const lookups = files
      .filter(([path, text]) => /\.(idFromName|getByName)\(/.test(text) && !/\/stubs\.ts$/.test(path))
      .map(([path]) => path);
    // The payment gateway is the reference app's own binding, looked up in its client.
    expect(lookups).toEqual(["../../reference/payment-gateway-client.ts"]);
  });

  it("answers with the call's answer and leaves no timer behind", async () => {
    vi.useFakeTimers();
    await expect(withTimeout(async () => "answer", 10_000)).resolves.toBe("answer");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("passes the call's failure on and leaves no timer behind", async () => {
    vi.useFakeTimers();
    await expect(withTimeout(async () => Promise.reject(new Error("refused")), 10_000)).rejects.toThrow("refused");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("gives up with CallTimedOut and aborts the call's signal when no answer comes in time", async () => {
    vi.useFakeTimers();
    let signal: AbortSignal | undefined;
    const waiting = withTimeout((s) => {
      signal = s;
      return new Promise<never>(() => undefined);
    }, 1_000);
    const outcome = expect(waiting).rejects.toBeInstanceOf(CallTimedOut);
    await vi.advanceTimersByTimeAsync(1_000);
    await outcome;
    expect(signal?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
