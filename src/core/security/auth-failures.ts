// Failed authentication, limited per client: every failure is counted in a shared limiter (the
// Workers rate-limit binding `AUTH_FAILURES` — per location, shared by its isolates); once it
// refuses a client, the isolate remembers the client as blocked for the limiter's period, so a
// blocked client's further attempts cost no lookup at all. Pure: the limiter and the clock are
// passed in, and each isolate (production's one, each of the simulator's) holds its own blocks.
import {
  convertIPv4BinaryToString,
  convertIPv4MappedIPv6ToIPv4,
  convertIPv6BinaryToString,
  convertIPv6ToBinary,
  isIPv4MappedIPv6,
} from "hono/utils/ipaddr";
import { ExpiringCache } from "../runtime/expiring-cache.js";

/** The limiter's period (s): the binding's `simple.period` in wrangler.toml, and the Retry-After. */
export const AUTH_FAILURE_PERIOD_S = 60;
const BLOCKED_CAPACITY = 10_000;

/**
 * The detail of every `auth-failures-limited` refusal. One limit counts a client's wrong API keys,
 * wrong admin tokens and failed dashboard sign-ins together, so the refusal names the limit, not
 * the kind of secret this request sent (which may be the right one).
 */
export const AUTH_FAILURES_LIMITED_DETAIL =
  "too many failed authentication attempts from this client (wrong API keys, admin tokens and dashboard sign-ins count together)";

/** What the rate-limit binding offers (`RateLimit` in the Workers types). */
export interface FailureLimiter {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/**
 * Who is failing: the connecting IP as Cloudflare states it (`CF-Connecting-IP`; one shared
 * bucket, `ip:unknown`, if absent), as `ip:<address>`. An IPv6 client is its /64 network
 * (`ip:2001:db8:1:2::/64`), whatever its spelling: one end site is given a /64 or more (RFC 6177),
 * so a host that counted per address could draw fresh buckets from its own network without end.
 * An IPv4-mapped IPv6 address is its IPv4 address; a value that is no address is taken as sent.
 */
export function failingClient(request: Request): string {
  const ip = request.headers.get("cf-connecting-ip");
  return `ip:${ip === null ? "unknown" : clientNetwork(ip)}`;
}

function clientNetwork(ip: string): string {
  if (!ip.includes(":")) return ip;
  let address: bigint;
  try {
    address = convertIPv6ToBinary(ip);
  } catch {
    return ip;
  }
  if (isIPv4MappedIPv6(address)) return convertIPv4BinaryToString(convertIPv4MappedIPv6ToIPv4(address));
  return `${convertIPv6BinaryToString((address >> 64n) << 64n)}/64`;
}

/** The clients one isolate saw the limiter refuse, each remembered for AUTH_FAILURE_PERIOD_S. */
export class BlockedClients {
  readonly #blocked = new ExpiringCache<string, true>(BLOCKED_CAPACITY, AUTH_FAILURE_PERIOD_S * 1000);

  /** Whether this isolate saw the limiter refuse `client` within the period (at `now`, ms). */
  isBlocked(client: string, now: number): boolean {
    return this.#blocked.get(client, now) === true;
  }

  /**
   * Counts one failed attempt of `client` in `limiter`; "limited" once the limiter refuses it
   * (the client is then blocked in this isolate for the period from `now`, ms), else "counted".
   * A limiter that throws propagates (a bug or an outage of the binding, not a refusal).
   */
  async recordFailure(limiter: FailureLimiter, client: string, now: number): Promise<"counted" | "limited"> {
    const outcome = await limiter.limit({ key: client });
    if (outcome.success) return "counted";
    this.#blocked.set(client, true, now);
    return "limited";
  }
}

/** This isolate's blocked clients: tenant admission, the dashboard's sign-in and the admin token check share them. */
export const isolateBlockedClients = new BlockedClients();

/**
 * A presented secret checked under the failure limit (the dashboard's sign-in, the admin token):
 * a client this isolate holds blocked is answered "limited" before `verify` runs, so a blocked
 * guesser learns nothing even from the right secret; a failed check (`verify` gives null,
 * undefined or false) is counted, and is "limited" once the limiter refuses the client, else
 * "failed"; a passed one is `{ verified }`. Errors of `verify` or of the limiter propagate.
 */
export async function verifyWithinFailureLimit<T>(
  limiter: FailureLimiter,
  client: string,
  verify: () => Promise<T | null | undefined | false>,
  now: number = Date.now(),
): Promise<{ readonly verified: T } | "failed" | "limited"> {
  if (isolateBlockedClients.isBlocked(client, now)) return "limited";
  const verified = await verify();
  if (verified !== null && verified !== undefined && verified !== false) return { verified };
  return (await isolateBlockedClients.recordFailure(limiter, client, now)) === "limited" ? "limited" : "failed";
}
