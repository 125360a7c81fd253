// The one rule every open dashboard stream follows (the live panels, live.tsx, and the entity log's
// proxy, pages/entities.tsx): it lives only as long as the session that opened it. While it is
// open, the request's session is checked again every DASHBOARD_SESSION_RECHECK_MS (10 s) with the
// check every request gets (currentSession: signature, expiry, sign-out, and for a tenant admin
// their key and tenant in D1), and the stream ends at the first check that finds it gone. So a
// stream opened before a sign-out, the session's expiry, its key's revocation or its tenant's
// suspension ends within that bound, the operator's as a tenant admin's; the browser's reconnect
// then meets the session guard. A check that fails (D1 unreachable) ends the stream too: the
// reconnect decides, rather than a stream outliving a session no one could confirm.
import { hostConfig } from "../../src/core/runtime/config.js";
import type { Ctx } from "./context.js";
import { currentSession } from "./session.js";

/**
 * `response` (an event stream answering `c`) with its body ended once `c`'s session lapses,
 * checked every `dashboardSessionRecheckMs`. Ending it cancels the body it was made from (the
 * entity's feed, or the panel's render loop). Reads pass through one chunk at a time, only when
 * the client asks for more, so the source's backpressure is kept.
 */
export function endsWithSession(c: Ctx, response: Response): Response {
  const source = response.body;
  if (source === null) return response;
  const everyMs = hostConfig(c.env, "dashboard").dashboardSessionRecheckMs;
  const reader = source.getReader();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let open = true;
  const stop = () => {
    open = false;
    clearTimeout(timer);
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const check = async () => {
          const session = await currentSession(c).catch(() => null);
          if (!open) return;
          if (session !== null) {
            timer = setTimeout(check, everyMs);
            return;
          }
          stop();
          controller.close();
          reader.cancel("the dashboard session ended").catch(() => undefined);
        };
        timer = setTimeout(check, everyMs);
      },
      async pull(controller) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          if (open) controller.error(error);
          stop();
          return;
        }
        // Ended by a check while this read waited: the stream is closed already.
        if (!open) return;
        if (next.done) {
          stop();
          controller.close();
        } else controller.enqueue(next.value);
      },
      cancel(reason) {
        stop();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, response);
}
