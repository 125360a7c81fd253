// The tenant API's Worker as a caller that relays its commands' facts: the isolate's batcher
// (src/core/outbox/fact-hand-off.ts) over this Worker's bindings, the facts queue and the entity
// objects told of a failed send.
import { FactHandOff, portsPerEnv, type HandOffPorts } from "../../src/core/outbox/fact-hand-off.js";
import { entityStub } from "../stubs.js";

/** The facts entities hand to this isolate's commands, sent in batches across entities; a test seam. */
export const factHandOff = new FactHandOff();

/** The hand-off's ports over `env`: `FACTS.sendBatch`, and the entity's `handOffFailed`. */
export const handOffPorts = portsPerEnv(
  (env: Env): HandOffPorts => ({
    send: async (messages) => {
      await env.FACTS.sendBatch(messages.map((body) => ({ body, contentType: "json" as const })));
    },
    reportFailure: (address, fromSeq) => entityStub(env, address).handOffFailed(address, fromSeq),
    wait: (ms) => scheduler.wait(ms),
  }),
);
