// One bounded wait for every call that crosses to another object or system: the timer is always
// cleared when the call settles (a leaked timer keeps an isolate or Durable Object busy, and a
// race whose loser is never cancelled keeps its work running), and the call gets a signal it can
// pass on (fetch) to stop its own work when the time is up.

/** A call that did not answer within its bound. */
export class CallTimedOut extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = "CallTimedOut";
  }
}

/**
 * `attempt`'s answer, or a rejection with `CallTimedOut` after `ms` milliseconds (the signal given
 * to `attempt` is then aborted). The timer is cleared however the race ends.
 */
export async function withTimeout<T>(attempt: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new CallTimedOut(ms));
    }, ms);
  });
  try {
    return await Promise.race([attempt(controller.signal), expired]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
