// How an Authorization header yields a bearer token: one reading for tenant keys and the
// ADMIN_TOKEN (src/core/security/bearer-token.ts).
import { describe, expect, it } from "vitest";
import { bearerToken } from "../../src/core/security/bearer-token.js";

describe("a bearer Authorization header", () => {
  it("yields its token whatever the scheme's case", () => {
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"])
      expect(bearerToken(`${scheme} fl_abc`)).toBe("fl_abc");
  });

  it("ignores spaces and tabs around the token", () => {
    for (const header of [
      "Bearer   fl_abc",
      "Bearer\tfl_abc",
      "Bearer fl_abc ",
      "Bearer fl_abc\t\t",
      "Bearer \t fl_abc  ",
    ])
      expect(bearerToken(header)).toBe("fl_abc");
  });

  it("yields nothing for a header that is not one bearer token", () => {
    for (const header of [
      undefined,
      null,
      "",
      "Bearer",
      "Bearer ",
      "Bearerfl_abc",
      " Bearer fl_abc",
      "Basic fl_abc",
      "Token fl_abc",
      "Bearer fl_abc fl_def",
      "Bearer fl_abc, Bearer fl_def",
      "Bearer\u00a0fl_abc",
      "Bearer fl_abc\n",
    ])
      expect(bearerToken(header)).toBeUndefined();
  });
});
