/** A clock for controller tests: time moves only when the test moves it, and sleepers wake when it passes their time. */
import type { FreezeClock } from "../../src/apply/freeze.ts";

export type ManualClock = FreezeClock & {
  /** Moves time to an instant (ISO string or ms) and wakes every sleeper due by then. */
  set(instant: string | number): void;
  advance(ms: number): void;
  /** Sleepers waiting now. */
  sleepers(): number;
};

export function manualClock(start: string): ManualClock {
  let now = Date.parse(start);
  let waiting: Array<{ at: number; wake: () => void }> = [];
  const wakeDue = (): void => {
    const due = waiting.filter((w) => w.at <= now);
    waiting = waiting.filter((w) => w.at > now);
    for (const w of due) w.wake();
  };
  return {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted === true) return reject(signal.reason);
        const onAbort = (): void => {
          waiting = waiting.filter((w) => w !== entry);
          reject(signal?.reason);
        };
        const entry = {
          at: now + ms,
          wake: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        waiting.push(entry);
        wakeDue();
      });
    },
    set(instant) {
      now = typeof instant === "string" ? Date.parse(instant) : instant;
      wakeDue();
    },
    advance(ms) {
      now += ms;
      wakeDue();
    },
    sleepers: () => waiting.length,
  };
}
