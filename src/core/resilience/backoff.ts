// Retry delays: exponential growth with full jitter (AWS architecture blog), bounded.
import { jitterBackoff } from "durable-utils/retries";

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Milliseconds to wait before attempt `attempt + 1` (attempt counts from 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
  return jitterBackoff(Math.max(1, attempt), policy.baseMs, policy.maxMs);
}
