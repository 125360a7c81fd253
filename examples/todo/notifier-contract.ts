// The notifier's contract: what the example's saga may ask of it (its calls are checked against
// this when they compile) and what every implementation accepts (the Worker's, notifier.ts, and
// the simulator's model of it, simulation.ts), each given the request this schema parsed.
import { z } from "zod";
import { defineServiceContract } from "../../src/app-api.js";

export const notifierContract = defineServiceContract("notifier", {
  /** Tells a list's owner something: `message` is the text they read. */
  send: z.object({ listId: z.string(), message: z.string().min(1).max(1_000) }),
});
