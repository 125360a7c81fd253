// The offline-first client's figures (issue #18): how fast 1,000 queued commands to 100 entities
// sync, beside the same 1,000 sent by plain HTTP loops over the same fetch, and the client's size
// minified and gzipped. Every arm sends to fresh entities of one tenant, so none meets another's.
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { createClient, MemoryOutboxStore } from "../client/index.js";
import { bundleForBrowser } from "../scripts/build-demo.js";
import { inventory } from "../src/domain/inventory.js";

export const CLIENT_COMMANDS = 1_000;
export const CLIENT_ENTITIES = 100;
/** Entities the client syncs at once (its default), and the connections of the concurrent loop. */
export const CLIENT_CONCURRENCY = 16;

interface Command {
  readonly entity: string;
  readonly quantity: number;
}

function commands(prefix: string): Command[] {
  return Array.from({ length: CLIENT_COMMANDS }, (_, i) => ({
    entity: `${prefix}-${i % CLIENT_ENTITIES}`,
    quantity: (i % 7) + 1,
  }));
}

async function post(base: string, apiKey: string, c: Command): Promise<void> {
  const res = await fetch(`${base}/v1/entities/inventory/${c.entity}/commands/restock`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ quantity: c.quantity }),
  });
  const body = await res.text();
  // The answer's problem detail says why (a 503 once stopped a full run, cause unknown then).
  if (res.status !== 200) throw new Error(`a plain command answered ${res.status}: ${body.slice(0, 500)}`);
}

/** Seconds for one plain loop: each command awaited before the next. */
export async function plainLoop(base: string, apiKey: string, prefix: string): Promise<number> {
  const started = performance.now();
  for (const c of commands(prefix)) await post(base, apiKey, c);
  return (performance.now() - started) / 1000;
}

/** Seconds for CLIENT_CONCURRENCY plain loops, each entity's commands on one loop in order (what the client does, by hand). */
export async function concurrentLoops(base: string, apiKey: string, prefix: string): Promise<number> {
  const all = commands(prefix);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENT_CONCURRENCY }, async (_, lane) => {
      for (const c of all.filter((x) => Number(x.entity.slice(prefix.length + 1)) % CLIENT_CONCURRENCY === lane))
        await post(base, apiKey, c);
    }),
  );
  return (performance.now() - started) / 1000;
}

/** Seconds for a client to sync an outbox holding the 1,000 commands (queued offline), until every one is answered. */
export async function clientSync(base: string, apiKey: string, prefix: string): Promise<number> {
  const outbox = new MemoryOutboxStore();
  const session = crypto.randomUUID();
  let seq = 0;
  for (const c of commands(prefix)) {
    seq++;
    await outbox.add(
      {
        seq,
        entityType: "inventory",
        entityId: c.entity,
        command: "restock",
        body: { quantity: c.quantity },
        madeAt: Date.now(),
      },
      session,
      seq + 1,
    );
  }
  const started = performance.now();
  const client = createClient({
    baseUrl: base,
    apiKey,
    entities: [inventory],
    outbox,
    concurrency: CLIENT_CONCURRENCY,
  });
  await client.drained();
  const seconds = (performance.now() - started) / 1000;
  client.close();
  if (client.rejections.length > 0) throw new Error(`the client's sync had ${client.rejections.length} rejections`);
  return seconds;
}

/** The client (factline/client, without any domain) bundled for browsers, minified and gzipped, in bytes. */
export async function clientBundleBytes(root: string): Promise<{ minified: number; gzipped: number }> {
  const script = await bundleForBrowser(join(root, "client", "index.ts"));
  return { minified: Buffer.byteLength(script), gzipped: gzipSync(script, { level: 9 }).byteLength };
}
