// The apps the simulator runs, in turn: the reference domain (reference/simulation.ts) twice,
// then the example app (examples/todo/simulation.ts). The one place the simulator meets apps, as
// worker.ts is for the platform: src/simulation/ imports neither.
import type { SimApp } from "../src/simulation/app.js";
import { todoApp } from "../examples/todo/simulation.js";
import { referenceApp, type ReferenceMutations } from "../reference/simulation.js";

/** The app run `run` of a campaign simulates; the reference app with `mutations` switched on. */
export function appsFor(mutations: ReferenceMutations = {}): (run: number) => () => SimApp {
  return (run) => (run % 3 === 2 ? todoApp : () => referenceApp(mutations));
}

/** An app by the name a failure prints (`--app reference|todo`). */
export function appNamed(name: "reference" | "todo"): () => SimApp {
  return name === "todo" ? todoApp : () => referenceApp();
}
