/** A `RetryClock` for tests: sleeping advances time at once and is recorded, so retry tests take no real time. */
import type { RetryClock } from "../../src/kube/retry-policy.ts";

export type FakeClock = RetryClock & {
  /** Every wait asked for, in order. */
  readonly sleeps: number[];
  /** Moves time on, as a slow request would. */
  advance(ms: number): void;
};

/** Starts at `start` ms; `random()` always returns `random` (0: no jitter taken off). */
export function fakeClock(options: { start?: number; random?: number } = {}): FakeClock {
  let now = options.start ?? 1_800_000_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    random: () => options.random ?? 0,
    advance(ms) {
      now += ms;
    },
    async sleep(ms, signal) {
      if (signal?.aborted === true) throw signal.reason;
      sleeps.push(ms);
      now += ms;
    },
  };
}
