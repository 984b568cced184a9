/**
 * JSON logs with pino. Secrets are redacted by key name at any depth (a token, a password, an Authorization header,
 * a private key), in log fields and in child bindings alike, so a careless `log.info({ headers })` leaks nothing.
 */
import { pino } from "pino";
import type { DestinationStream, Logger, LevelWithSilent } from "pino";

export type { Logger };

/** Keys whose values never reach a log line. Matched case-insensitively against the whole key. */
const SECRET_KEY = /^(?:.*pass(?:word|phrase)?|.*secret.*|.*token|authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_]?key|.*private[-_]?key|key|keypem|.*credentials?|x-hub-signature(?:-256)?|x-gitlab-token|x-gitea-signature|x-gogs-signature|x-hook-signature|x-signature|signature)$/i;

export const REDACTED = "[REDACTED]";

/** Copies `value` with every secret-named key's value replaced by `[REDACTED]`. Cycles are cut. */
export function redactSecrets(value: unknown, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Error) return value; // pino's err serializer handles errors
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, seen));
  if (value instanceof Headers) return redactSecrets(Object.fromEntries(value), seen);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redactSecrets(v, seen);
  return out;
}

export type LoggerOptions = {
  level: LevelWithSilent;
  /** Where lines go; stdout by default. Tests pass a stream to read them. */
  destination?: DestinationStream;
};

/**
 * The process logger. Children carry context (`log.child({ requestId })`).
 * @example const log = createLogger({ level: "info" }); log.info({ listener: "admission", port: 9443 }, "listening")
 */
export function createLogger(options: LoggerOptions): Logger {
  const logger = pino(
    {
      level: options.level,
      base: { service: "fluxgate" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redactSecrets(obj) as Record<string, unknown>,
        bindings: (b) => redactSecrets(b) as Record<string, unknown>,
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  // pino applies `formatters.bindings` to the root only; children are created with Object.create(parent), so this
  // override redacts the bindings of every descendant too.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, opts) {
    return child.call(this, redactSecrets(bindings) as typeof bindings, opts);
  } as Logger["child"];
  return logger;
}
