// The simulated clock and its timers. Simulated time only moves when the next timer is due, so a
// run of simulated hours takes as long as its work; timers due at the same instant run in the
// order they were set, and every continuation (a resolved promise) runs before the next timer,
// so a run is a pure function of its seed.

interface Timer {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
}

/** A binary min-heap of timers by (at, order). */
class TimerHeap {
  readonly #items: Timer[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(timer: Timer): void {
    const items = this.#items;
    items.push(timer);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): Timer | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && before(items[l]!, items[m]!)) m = l;
      if (r < items.length && before(items[r]!, items[m]!)) m = r;
      if (m === i) break;
      [items[i], items[m]] = [items[m]!, items[i]!];
      i = m;
    }
    return top;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

/** Node's setImmediate (the simulator runs in Node; the Workers types do not declare it). */
const immediate: (run: () => void) => void =
  (globalThis as { setImmediate?: (run: () => void) => void }).setImmediate ?? ((run) => setTimeout(run, 0));

/** Lets every pending promise continuation run (a macrotask turn drains the microtask queue). */
const drain = (): Promise<void> => new Promise((resolve) => immediate(resolve));

export class Scheduler {
  #now: number;
  #order = 0;
  readonly #timers = new TimerHeap();

  constructor(start: number) {
    this.#now = start;
  }

  /** Simulated ms since epoch. */
  get now(): number {
    return this.#now;
  }

  get pending(): number {
    return this.#timers.size;
  }

  /** Runs `run` `delayMs` from now (0: after everything already due now). */
  at(delayMs: number, run: () => void): void {
    this.#timers.push({ at: this.#now + Math.max(0, delayMs), order: this.#order++, run });
  }

  /** A promise that settles `delayMs` of simulated time from now. */
  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.at(delayMs, resolve));
  }

  /**
   * Runs timers in time order until `until` returns true, simulated time passes `deadline`, or
   * nothing is left. Answers whether `until` held.
   */
  async run(until: () => boolean, deadline: number): Promise<boolean> {
    await drain();
    for (;;) {
      if (until()) return true;
      const timer = this.#timers.pop();
      if (!timer) return until();
      if (timer.at > deadline) {
        this.#timers.push(timer);
        return until();
      }
      this.#now = Math.max(this.#now, timer.at);
      timer.run();
      await drain();
    }
  }
}
