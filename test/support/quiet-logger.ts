/** A logger for tests: silent, or capturing its JSON lines. */
import { Writable } from "node:stream";
import { createLogger } from "../../src/observability/logger.ts";
import type { Logger } from "../../src/observability/logger.ts";

export function quietLogger(): Logger {
  return createLogger({ level: "silent", destination: new Writable({ write: (_c, _e, cb) => cb() }) });
}

/** A logger whose lines are parsed into `lines`. */
export function capturingLogger(level: "debug" | "info" = "info"): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ level, destination }), lines };
}
