// Whom the failed-authentication limit counts a failure against (src/core/security/auth-failures.ts).
import { describe, expect, it } from "vitest";
import { failingClient } from "../../src/core/security/auth-failures.js";

const from = (ip?: string) =>
  failingClient(new Request("https://api.example/v1", ip === undefined ? {} : { headers: { "cf-connecting-ip": ip } }));

describe("the client a failed authentication counts against", () => {
  it("is an IPv4 address as Cloudflare states it", () => {
    expect(from("203.0.113.7")).toBe("ip:203.0.113.7");
  });

  it("is one shared bucket when no address is stated", () => {
    expect(from()).toBe("ip:unknown");
  });

  it("is an IPv6 address's /64 network, so a host cannot draw fresh buckets from its own network", () => {
    expect(from("2001:db8:1:2::1")).toBe("ip:2001:db8:1:2::/64");
    expect(from("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe("ip:2001:db8:1:2::/64");
    expect(from("2001:db8:1:3::1")).toBe("ip:2001:db8:1:3::/64");
  });

  it("is the same for every spelling of one IPv6 address", () => {
    const spellings = ["2001:db8:1:2::1", "2001:DB8:1:2:0:0:0:1", "2001:db8:1:2:0000::1", "2001:0db8:0001:0002::0001"];
    expect(new Set(spellings.map((ip) => from(ip)))).toEqual(new Set(["ip:2001:db8:1:2::/64"]));
  });

  it("is the IPv4 address an IPv4-mapped IPv6 address carries", () => {
    expect(from("::ffff:203.0.113.7")).toBe("ip:203.0.113.7");
  });

  it("is the value as sent when it is no address", () => {
    expect(from("not:an:address::x")).toBe("ip:not:an:address::x");
  });
});
