// The simulator scripts' command lines (scripts/sim-args.ts): what they accept, and that a
// mistyped flag or value is refused with a reason rather than run as something else.
import { describe, expect, it } from "vitest";
import { parseMutantArgs, parseSimArgs } from "../../../scripts/sim-args.js";

const refusal = (read: { ok: boolean; message?: string }) => (read.ok ? "accepted" : read.message?.split("\n")[0]);

describe("npm run sim's flags", () => {
  it("reads a campaign's seed, budget and operations per run as numbers", () => {
    expect(parseSimArgs(["--seed", "11", "--commands", "5000", "--ops", "300"])).toEqual({
      ok: true,
      args: { seed: 11, commands: 5000, ops: 300 },
    });
  });

  it("reads a replay with its app", () => {
    expect(parseSimArgs(["--replay", "4294967295", "--app", "todo", "--no-shrink"])).toEqual({
      ok: true,
      args: { replay: 4294967295, app: "todo", "no-shrink": true },
    });
  });

  it("refuses a seed that is not a 32-bit whole number instead of running another seed", () => {
    expect(refusal(parseSimArgs(["--seed", "abc"]))).toBe("--seed must be a whole number from 0 to 4294967295");
    expect(refusal(parseSimArgs(["--seed", "4294967307"]))).toBe("--seed must be a whole number from 0 to 4294967295");
    expect(refusal(parseSimArgs(["--replay", "1.5"]))).toBe("--replay must be a whole number from 0 to 4294967295");
  });

  it("refuses a budget that would simulate nothing", () => {
    expect(refusal(parseSimArgs(["--commands", "0"]))).toBe("--commands must be a whole number from 1 to 1000000000");
    expect(refusal(parseSimArgs(["--minutes", "0"]))).toBe(
      "--minutes must be a positive number of minutes, at most 1440",
    );
    expect(refusal(parseSimArgs(["--ops", "0"]))).toBe("--ops must be a whole number from 1 to 100000");
  });

  it("refuses an unknown app, an unknown flag and a positional argument", () => {
    expect(refusal(parseSimArgs(["--replay", "3", "--app", "nosuch"]))).toMatch(/^--app /);
    expect(refusal(parseSimArgs(["--bogus"]))).toBe("Unknown option '--bogus'");
    expect(refusal(parseSimArgs(["11"]))).toMatch(/^Unexpected argument '11'/);
  });

  it("refuses flags that do not go together", () => {
    expect(refusal(parseSimArgs(["--replay", "3", "--seed", "4"]))).toBe("--seed does not go with --replay");
    expect(refusal(parseSimArgs(["--app", "todo"]))).toBe("--app only goes with --replay (a campaign runs every app)");
    expect(refusal(parseSimArgs(["--commands", "5", "--minutes", "1"]))).toBe("--minutes does not go with --commands");
  });
});

describe("npm run sim:mutants's flags", () => {
  it("reads its seed and budget, and refuses a budget of nothing", () => {
    expect(parseMutantArgs(["--seed", "11"])).toEqual({ ok: true, args: { seed: 11 } });
    expect(refusal(parseMutantArgs(["--commands", "abc"]))).toBe(
      "--commands must be a whole number from 1 to 1000000000",
    );
  });
});
