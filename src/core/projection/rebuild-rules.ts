// The projection rebuilder's decisions as pure functions: which generation a job fills and which
// it records as the previous one, whether its switch may happen, what a finish step does after
// trying to switch, and which generation its cleanup keeps. The shared rebuild job
// (rebuild-job.ts), run by production's rebuilder object and the simulator's, decides with these. Every step may run twice (an object evicted after its D1 write, or D1 failing
// after commit), so each decision depends only on what the job recorded before it acted
// (FINDINGS F3: never on the active generation read at finish time).

/** The generations of one (projection, tenant), as the `projection_generations` row holds them. */
export interface GenerationsRow {
  readonly active: number;
  readonly building: number | null;
}

/** What a job records once, before it announces its generation. */
export interface JobGenerations {
  /** The generation the job fills. */
  readonly generation: number;
  /** The generation that served reads when the job started. */
  readonly previous: number;
}

/**
 * A new job's generations: above every generation in use or with checkpoints left (an abandoned
 * job's), so a fresh one starts empty; `previous` is the active one. `current` is null when the
 * pair has no row yet (active 0).
 */
export function chooseGenerations(
  current: GenerationsRow | null,
  highestWithCheckpoints: number | null,
): JobGenerations {
  return {
    generation: Math.max(current?.active ?? 0, current?.building ?? 0, highestWithCheckpoints ?? 0) + 1,
    previous: current?.active ?? 0,
  };
}

/**
 * Whether the switch may activate the job's generation: only while the active one is still
 * `previous`, the job's is still the one building, and no entity is behind in it.
 */
export function switchAllowed(job: JobGenerations, current: GenerationsRow | null, anyBehind: boolean): boolean {
  return current !== null && current.active === job.previous && current.building === job.generation && !anyBehind;
}

/**
 * What the finish step does after its switch statement, from the generations it reads back:
 * `clear` once the job's generation is active (also when the switch had already run), `rescan`
 * when the switch was held off by an entity behind, `abandon` when someone else changed the
 * generations (the job's rows never served; clearing anything could remove the active ones).
 */
export function afterSwitch(job: JobGenerations, now: GenerationsRow | null): "clear" | "rescan" | "abandon" {
  if (now?.active === job.generation) return "clear";
  if (now?.active === job.previous && now.building === job.generation) return "rescan";
  return "abandon";
}

/**
 * The one generation the job's cleanup keeps: its own. Every other one (the previous, an abandoned
 * job's) is cleared, so a repeated cleanup never removes the rows it switched to (F3).
 */
export function keptByCleanup(job: JobGenerations): number {
  return job.generation;
}
