// Structured JSON logs: one object per line, so tenant, entity, request and trace ids can be
// searched in Workers Logs or any log drain. LOG_LEVEL (info, warn or error) sets the lowest level
// written; each entry point (the Worker, each Durable Object) applies it from its environment.

export type LogFields = Record<string, string | number | boolean | null | undefined>;

const LEVELS = { info: 0, warn: 1, error: 2 } as const;
type Level = keyof typeof LEVELS;

let threshold: number = LEVELS.info;
let muted = false;

/** Applies the LOG_LEVEL setting; unset or unknown means info, so nothing is hidden by a typo. */
export function setLogLevel(level: string | undefined): void {
  threshold = level !== undefined && level in LEVELS ? LEVELS[level as Level] : LEVELS.info;
}

/**
 * Silences every level while `on`. For the simulator, which runs the same hosts through millions
 * of steps and reports what goes wrong as anomalies: its hosts' lines would only bury them.
 */
export function muteLogs(on: boolean): void {
  muted = on;
}

export function logEvent(level: Level, msg: string, fields: LogFields = {}): void {
  if (muted || LEVELS[level] < threshold) return;
  const line = JSON.stringify({ level, msg, time: new Date().toISOString(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
