// The simulator scripts' command lines (`npm run sim`, `npm run sim:mutants`), read strictly: a
// mistyped flag or value is an error with the usage and exit code 2, never a silent default, a
// seed quietly turned into another one, or a campaign that simulates nothing and passes.
import { parseArgs } from "node:util";
import { z } from "zod";

/** A seed: a decimal integer that fits the generator's 32 bits. */
const seed = z
  .string()
  .regex(/^\d{1,10}$/, "must be a whole number from 0 to 4294967295")
  .transform(Number)
  .refine((n) => n <= 0xffff_ffff, "must be a whole number from 0 to 4294967295");

/** A whole number from 1 to `max`. */
const count = (max: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number from 1 to ${max}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `must be a whole number from 1 to ${max}`);

/** Minutes: a positive number, at most a day. */
const minutes = z
  .string()
  .regex(/^\d+(\.\d+)?$/, "must be a positive number of minutes, at most 1440")
  .transform(Number)
  .refine((n) => n > 0 && n <= 1440, "must be a positive number of minutes, at most 1440");

const simArgs = z
  .object({
    seed: seed.optional(),
    commands: count(1_000_000_000).optional(),
    minutes: minutes.optional(),
    ops: count(100_000).optional(),
    replay: seed.optional(),
    app: z.enum(["reference", "todo"]).optional(),
    "no-shrink": z.boolean().optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.replay !== undefined)
      for (const flag of ["seed", "commands", "minutes"] as const)
        if (a[flag] !== undefined) ctx.addIssue({ code: "custom", path: [flag], message: "does not go with --replay" });
    if (a.replay === undefined && a.app !== undefined)
      ctx.addIssue({ code: "custom", path: ["app"], message: "only goes with --replay (a campaign runs every app)" });
    if (a.commands !== undefined && a.minutes !== undefined)
      ctx.addIssue({ code: "custom", path: ["minutes"], message: "does not go with --commands" });
  });

const mutantArgs = z
  .object({
    seed: seed.optional(),
    commands: count(1_000_000_000).optional(),
    ops: count(100_000).optional(),
  })
  .strict();

/** `npm run sim`'s flags, validated. */
export type SimArgs = z.output<typeof simArgs>;
/** `npm run sim:mutants`'s flags, validated. */
export type MutantArgs = z.output<typeof mutantArgs>;

const SIM_USAGE = `usage: npm run sim -- [--seed N] [--commands K | --minutes M] [--ops N] [--no-shrink]
       npm run sim -- --replay S [--app reference|todo] [--ops N] [--no-shrink]`;
const MUTANTS_USAGE = "usage: npm run sim:mutants -- [--seed N] [--commands K] [--ops N]";

/** What a command line read as: the flags, or why it was refused (with the usage). */
export type ArgsRead<T> = { readonly ok: true; readonly args: T } | { readonly ok: false; readonly message: string };

/** `argv` (without node and the script) as `npm run sim`'s flags, or why not. */
export function parseSimArgs(argv: readonly string[]): ArgsRead<SimArgs> {
  return parse(
    argv,
    {
      seed: { type: "string" },
      commands: { type: "string" },
      minutes: { type: "string" },
      ops: { type: "string" },
      replay: { type: "string" },
      app: { type: "string" },
      "no-shrink": { type: "boolean" },
    },
    simArgs,
    SIM_USAGE,
  );
}

/** `argv` as `npm run sim:mutants`'s flags, or why not. */
export function parseMutantArgs(argv: readonly string[]): ArgsRead<MutantArgs> {
  return parse(
    argv,
    { seed: { type: "string" }, commands: { type: "string" }, ops: { type: "string" } },
    mutantArgs,
    MUTANTS_USAGE,
  );
}

/** The flags read, or (on anything refused) the reason and usage printed to stderr and exit code 2. */
export function orExit<T>(read: ArgsRead<T>): T {
  if (read.ok) return read.args;
  process.stderr.write(`${read.message}\n`);
  process.exit(2);
}

type Options = Record<string, { type: "string" | "boolean" }>;

function parse<S extends z.ZodType>(
  argv: readonly string[],
  options: Options,
  schema: S,
  usage: string,
): ArgsRead<z.output<S>> {
  let values: unknown;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    return { ok: false, message: `${error instanceof Error ? error.message : String(error)}\n${usage}` };
  }
  const parsed = schema.safeParse(values);
  if (parsed.success) return { ok: true, args: parsed.data };
  const reasons = parsed.error.issues.map((i) => `--${i.path.join(".") || "?"} ${i.message}`);
  return { ok: false, message: `${reasons.join("\n")}\n${usage}` };
}
