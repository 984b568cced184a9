/**
 * When to retry a Kubernetes API call and how long to wait first: a pure decision over what failed, which attempt
 * it was and how much of the deadline is left, and a small loop that runs an operation under it with an injected
 * clock. `@kubernetes/client-node` retries nothing (client-go's rules live in its REST client), hence our own.
 */

/** One failed attempt, as data: what the server (or the wire) said. */
export type Failure = {
  /** HTTP status; 0 when no response came. */
  status: number;
  /** Status reason (`TooManyRequests`, `ServiceUnavailable`, `Conflict` …) or `ConnectionError`/`Timeout` for status 0. */
  reason: string;
  message: string;
  /** From the `Retry-After` header or the Status body's `details.retryAfterSeconds`. */
  retryAfterSeconds?: number;
  /** The Status body's `details`, kept for the final error. */
  details?: unknown;
};

/** Limits of the retry loop; `DEFAULT_RETRY_OPTIONS` holds the defaults. */
export type RetryOptions = {
  /** Give up when the next wait would end after this long since the first attempt. */
  deadlineMs: number;
  /** Give up after this many attempts, the first included. */
  maxAttempts: number;
  /** Back-off before the second attempt; doubles each time up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Fraction of the back-off taken off at random (0.5: wait between half and all of it), so clients spread out. */
  jitter: number;
};

export const DEFAULT_RETRY_OPTIONS: Readonly<RetryOptions> = Object.freeze({
  deadlineMs: 30_000,
  maxAttempts: 10,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  jitter: 0.5,
});

/** The back-off part of `RetryOptions`, which informers use on their own. */
export type BackoffOptions = Pick<RetryOptions, "baseDelayMs" | "maxDelayMs" | "jitter">;

/** Why an attempt is retried; the `reason` label of `fluxgate_kube_retries_total`. */
export type RetryCause = "TooManyRequests" | "ServerError" | "Conflict" | "Timeout" | "ConnectionError";

/** Server errors worth another try; 501 and 505 will not change on retry. */
const RETRYABLE_5XX = new Set([500, 502, 503, 504]);

/**
 * Whether a failure is transient, and why. 409 Conflict (a stale resourceVersion) counts only for
 * read-modify-write operations, which re-read before retrying; AlreadyExists and apply conflicts never do.
 */
export function retryCause(failure: Failure, retryConflicts: boolean): RetryCause | undefined {
  if (failure.status === 0) return failure.reason === "Timeout" ? "Timeout" : "ConnectionError";
  if (failure.status === 429) return "TooManyRequests";
  if (RETRYABLE_5XX.has(failure.status)) return "ServerError";
  if (failure.status === 409 && failure.reason === "Conflict" && retryConflicts && !isApplyConflict(failure)) return "Conflict";
  return undefined;
}

/** Server-side apply conflicts are 409 Conflict too, but re-reading cannot resolve them: only `force` can. */
function isApplyConflict(failure: Failure): boolean {
  const causes = (failure.details as { causes?: Array<{ reason?: unknown }> } | undefined)?.causes;
  return Array.isArray(causes) && causes.some((c) => c?.reason === "FieldManagerConflict");
}

/**
 * Capped exponential back-off with jitter before attempt `attempt + 1`; `random` in [0, 1).
 * @example backoffDelay(3, DEFAULT_RETRY_OPTIONS, 0) // 1000: 250 ms doubled twice, no jitter taken off
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: number): number {
  const raw = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (1 - options.jitter * random));
}

/** The decision after a failed attempt: wait and retry, or stop (with a `gaveUp` text when it was transient). */
export type RetryDecision =
  | { retry: true; cause: RetryCause; delayMs: number }
  | { retry: false; gaveUp?: string };

/** Where the loop stands when an attempt has failed. */
export type RetryState = {
  /** The attempt that just failed, from 1. */
  attempt: number;
  elapsedMs: number;
  retryConflicts: boolean;
  /** In [0, 1), for the jitter. */
  random: number;
};

/**
 * Decides whether to retry: transient failures are retried after the server's `Retry-After` when it gave one
 * (429, and 5xx that carry it), else after the back-off; the loop stops when attempts run out or the wait would
 * pass the deadline.
 * @example decideRetry({ status: 429, reason: "TooManyRequests", message: "", retryAfterSeconds: 2 }, { attempt: 1, elapsedMs: 5, retryConflicts: false, random: 0.3 }, DEFAULT_RETRY_OPTIONS)
 * // { retry: true, cause: "TooManyRequests", delayMs: 2000 }
 */
export function decideRetry(failure: Failure, state: RetryState, options: RetryOptions): RetryDecision {
  const cause = retryCause(failure, state.retryConflicts);
  if (cause === undefined) return { retry: false };
  const spent = `gave up after ${state.attempt} attempt${state.attempt === 1 ? "" : "s"} in ${formatSeconds(state.elapsedMs)}`;
  if (state.attempt >= options.maxAttempts) return { retry: false, gaveUp: spent };
  const serverSaid = failure.retryAfterSeconds !== undefined && (cause === "TooManyRequests" || cause === "ServerError");
  const delayMs = serverSaid ? Math.round((failure.retryAfterSeconds ?? 0) * 1000) : backoffDelay(state.attempt, options, state.random);
  if (state.elapsedMs + delayMs > options.deadlineMs) {
    const why = serverSaid
      ? ` (the server asked to retry after ${failure.retryAfterSeconds}s, past the ${formatSeconds(options.deadlineMs)} deadline)`
      : ` (deadline ${formatSeconds(options.deadlineMs)})`;
    return { retry: false, gaveUp: spent + why };
  }
  return { retry: true, cause, delayMs };
}

/** "850ms", "2.5s", "30s": short and exact enough for a log line. */
export function formatSeconds(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${Math.round(ms / 100) / 10}s`;
}

/** Time as the loop sees it; tests pass a fake one so nothing really waits. */
export type RetryClock = {
  now(): number;
  /** Resolves after `ms`; rejects with `signal.reason` when the signal aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
};

/** The real clock. */
export const systemClock: RetryClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
  random: () => Math.random(),
};

/** What one attempt produced. Exceptions thrown by the operation are bugs and end the loop at once. */
export type AttemptResult<T, F extends Failure = Failure> = { ok: true; value: T } | { ok: false; failure: F };

/** What the loop produced: the value, or the last failure and why it stopped. */
export type RetryOutcome<T, F extends Failure = Failure> =
  | { ok: true; value: T; attempts: number; elapsedMs: number }
  | { ok: false; failure: F; attempts: number; elapsedMs: number; gaveUp?: string };

export type RunWithRetryOptions<F extends Failure> = {
  options: RetryOptions;
  clock: RetryClock;
  /** Retry 409 Conflict (only for operations that re-read before writing). */
  retryConflicts?: boolean;
  /** Called before each wait: for logs and metrics. */
  onRetry?: (event: { failure: F; cause: RetryCause; attempt: number; delayMs: number }) => void;
  signal?: AbortSignal;
};

/**
 * Runs `operation` until it succeeds, fails for good, or the limits are reached. Each attempt learns how much of
 * the deadline is left, so a hanging request cannot outlive it by much.
 * @example const out = await runWithRetry(({ remainingMs }) => patchOnce(remainingMs), { options: DEFAULT_RETRY_OPTIONS, clock: systemClock })
 */
export async function runWithRetry<T, F extends Failure>(
  operation: (attempt: { number: number; remainingMs: number }) => Promise<AttemptResult<T, F>>,
  run: RunWithRetryOptions<F>,
): Promise<RetryOutcome<T, F>> {
  const start = run.clock.now();
  for (let attempt = 1; ; attempt++) {
    const remainingMs = Math.max(0, run.options.deadlineMs - (run.clock.now() - start));
    const result = await operation({ number: attempt, remainingMs });
    const elapsedMs = run.clock.now() - start;
    if (result.ok) return { ok: true, value: result.value, attempts: attempt, elapsedMs };
    const decision = decideRetry(result.failure, { attempt, elapsedMs, retryConflicts: run.retryConflicts ?? false, random: run.clock.random() }, run.options);
    if (!decision.retry) {
      return decision.gaveUp === undefined
        ? { ok: false, failure: result.failure, attempts: attempt, elapsedMs }
        : { ok: false, failure: result.failure, attempts: attempt, elapsedMs, gaveUp: decision.gaveUp };
    }
    run.onRetry?.({ failure: result.failure, cause: decision.cause, attempt, delayMs: decision.delayMs });
    await run.clock.sleep(decision.delayMs, run.signal);
  }
}
