// The origins any active tenant lists for CORS, as one isolate last read them: what a preflight is
// answered for. A preflight carries no credentials, so it cannot name its tenant; answering it
// for every origin let any web page send bearer keys from its visitors' browsers, and each wrong
// one spent the visitor's failed-authentication budget (AUTH_FAILURES, per IP) until the visitor —
// the operator, say — was locked out. An origin no tenant lists could never read an answer anyway.
// The copy is trusted for the admission bound (TENANT_ADMISSION_MAX_STALE_MS) and dropped at once
// when this isolate changes a tenant (its admission generation moves). Pure: the read is passed in.
import { type AdmissionGenerations, isolateGenerations } from "./tenant-admission.js";

interface Copy {
  readonly origins: ReadonlySet<string>;
  readonly fetchedAt: number;
  readonly generation: number;
}

/** One isolate's copy of the listed origins (`read` gives every active tenant's list, flattened). */
export class ListedOrigins {
  #copy: Copy | undefined;
  #reading: Promise<Copy> | undefined;
  readonly #generations: AdmissionGenerations;

  constructor(generations: AdmissionGenerations = isolateGenerations) {
    this.#generations = generations;
  }

  /**
   * Whether some active tenant lists `origin`, from a copy at most `maxStaleMs` old at `now` (ms) and
   * read after this isolate's last tenant change, else from a fresh `read` (one at a time; its
   * error propagates and nothing is kept).
   */
  async has(origin: string, now: number, maxStaleMs: number, read: () => Promise<readonly string[]>): Promise<boolean> {
    const copy = this.#copy;
    const usable =
      copy !== undefined && now - copy.fetchedAt < maxStaleMs && copy.generation === this.#generations.current();
    return (usable ? copy : await this.#refresh(now, read)).origins.has(origin);
  }

  #refresh(now: number, read: () => Promise<readonly string[]>): Promise<Copy> {
    if (this.#reading === undefined) {
      const generation = this.#generations.current();
      this.#reading = read()
        .then((origins) => {
          const copy = { origins: new Set(origins), fetchedAt: now, generation };
          this.#copy = copy;
          return copy;
        })
        .finally(() => {
          this.#reading = undefined;
        });
    }
    return this.#reading;
  }
}
