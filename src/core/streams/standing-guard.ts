// Ends a Durable Stream's SSE answer (a tenant stream, an entity's log, a view's change feed) once
// the key that opened it is revoked or its tenant suspended, as the entity's own live feeds end
// (src/core/live/live-feed-host.ts): the body is piped through the Worker, which asks for the
// key's standing every interval and, on a lapse, stops the pipe and closes the body. The client
// sees the stream end, as at its 60 s reconnect, and its reconnect meets 401 or 403. Pure over
// web streams; the route supplies the check (RequestScope.keyStanding).
import type { Standing } from "../live/live-feed-host.js";

/**
 * `response` with its body ended within about `everyMs` (LIVE_REVALIDATE_MS) of `standing()`
 * answering anything but "ok". A check that fails (rejects) says nothing, and the stream goes on
 * to the next one. Returned as it is when there is nothing to ask (`standing` undefined: no key
 * opened it) or it is not SSE (catch-up, long-poll, errors end on their own, a long-poll within
 * its timeout).
 */
export function endWhenStandingLapses(
  response: Response,
  standing: (() => Promise<Standing>) | undefined,
  everyMs: number,
): Response {
  const body = response.body;
  if (standing === undefined || body === null || response.headers.get("content-type") !== "text/event-stream")
    return response;
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const stop = new AbortController();
  // preventAbort: a lapse closes the client's body cleanly (below) rather than erroring it; the
  // source is cancelled, which ends the loop that writes it.
  const piped = body.pipeTo(writable, { signal: stop.signal, preventAbort: true }).then(
    () => "ended" as const,
    () => "stopped" as const,
  );
  const watch = async () => {
    for (;;) {
      const waited = await Promise.race([piped, wait(everyMs).then(() => "due" as const)]);
      if (waited !== "due") return;
      const answer = await standing().catch(() => undefined);
      if (answer === undefined || answer === "ok") continue;
      stop.abort(new Error(`the stream's key is ${answer}`));
      if ((await piped) === "stopped") await writable.close().catch(() => undefined);
      return;
    }
  };
  void watch();
  return new Response(readable, { status: response.status, headers: response.headers });
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
