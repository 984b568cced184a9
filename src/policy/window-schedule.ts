/**
 * When one deployment window is active: a recurring schedule (a 5-field cron of start times in an IANA zone plus a
 * duration) or one-off ranges. Pure arithmetic over croner's run times and the zone's clock; it never steps
 * through time minute by minute.
 *
 * Semantics (documented in `windows.ts`):
 * - Starts are croner's runs in the zone. A fixed-time start (one value each in minute and hour, e.g. `30 2 * * *`)
 *   skipped by a spring-forward gap happens at the first instant after the gap; one repeated by a fall-back happens
 *   once, at its first occurrence. Starts of other patterns (`*\/30 * * * *`, `0 1,2 * * *`) that fall in a gap
 *   are skipped and repeated ones happen twice (Vixie cron, as croner).
 * - A window started at `s` ends when the zone's clock first reads the start's clock time plus the duration
 *   (`0 22 * * *` for `10h` always ends at 08:00 local: 9 real hours on a spring-forward night, 11 on a fall-back
 *   night), resolved as starts are. This is Argo CD's reading (it evaluates the cron on the local clock).
 * - A window is active on `[start, end)`; windows that overlap or touch form one active stretch.
 */
import { Cron } from "croner";
import { instantOfWall, transitionBefore, wallTime, zoneOffset } from "./zoned-time.ts";

/** Whether a window is active at an instant, and when that changes (undefined: not within the horizon). */
export type Activity = { active: boolean; changesAt?: number };

/** A compiled window schedule. */
export type WindowSchedule = {
  activity(at: number): Activity;
};

/** How far ahead transitions are looked for: a yearly window still shows its next start. */
export const HORIZON_MS = 400 * 86_400_000;

/** Safety bound on merging overlapping occurrences (a `* * * * *` schedule with a long duration never ends). */
const MAX_MERGES = 1000;

/** Answers remembered per schedule: admission asks about the same few instants over and over. */
const MEMO_SIZE = 16;

/** How long an answer without an end ("active beyond what we look at") is reused. */
const OPEN_ENDED_MEMO_MS = 86_400_000;

/** A fall-back moves the clock back by at most this much (2 h: historic double summer time); one start before it can outlast later ones. */
const FALL_BACK_LOOKBACK_MS = 3 * 3_600_000;

type Occurrence = { start: number; end: number };

/**
 * A recurring schedule: starts from a 5-field cron in `zone`, each lasting `durationMs` on the zone's clock.
 * @example cronSchedule("0 9 * * 1-5", 8 * 3_600_000, "Europe/Berlin").activity(Date.parse("2026-03-30T07:30:00Z")) // { active: true, changesAt: Date.parse("2026-03-30T15:00:00Z") }
 */
export function cronSchedule(pattern: string, durationMs: number, zone: string): WindowSchedule {
  const cron = new Cron(pattern, { timezone: zone, mode: "5-part" });
  const end = (start: number): number => instantOfWall(zone, wallTime(zone, start) + durationMs, start);
  /** The latest start at or before `x`: croner's previous run excludes a run at exactly the reference. */
  const startAtOrBefore = (x: number): number | undefined => cron.previousRuns(1, new Date(x + 1))[0]?.getTime();
  const startAfter = (x: number): number | undefined => cron.nextRun(new Date(x))?.getTime();

  /**
   * Of the occurrences started at or before `x`, the one ending last. Ends grow with starts except across a
   * fall-back: a start just before it (01:50 EDT for 20 min ends at 02:10 EST) can outlast one in the repeated hour
   * (01:05 EST ends at 01:25 EST), so the last start before the transition is checked too.
   */
  const lastEnding = (x: number): Occurrence | undefined => {
    const p0 = startAtOrBefore(x);
    if (p0 === undefined) return undefined;
    let best: Occurrence = { start: p0, end: end(p0) };
    const before = p0 - FALL_BACK_LOOKBACK_MS;
    if (zoneOffset(zone, before) > zoneOffset(zone, p0)) {
      const transition = transitionBefore(zone, before, p0);
      const p1 = startAtOrBefore(transition - 1);
      if (p1 !== undefined) {
        const e1 = end(p1);
        if (e1 > best.end) best = { start: p1, end: e1 };
      }
    }
    return best;
  };

  const compute = (at: number): Activity => {
    const covering = lastEnding(at);
    if (covering === undefined || covering.end <= at) {
      const next = startAfter(at);
      return next === undefined || next - at > HORIZON_MS ? { active: false } : { active: false, changesAt: next };
    }
    // Active: extend over every occurrence that starts before (or exactly when) the stretch would end.
    let until = covering.end;
    for (let i = 0; i < MAX_MERGES; i++) {
      if (until - at > HORIZON_MS) return { active: true };
      const later = lastEnding(until);
      if (later === undefined || later.end <= until) return { active: true, changesAt: until };
      until = later.end;
    }
    return { active: true };
  };

  // An answer computed at `at` holds, unchanged, for every instant from `at` until its change: the stretch (or the
  // gap before the next start) found from `at` is the one found from any later instant inside it.
  const memo: Array<{ from: number; to: number; result: Activity }> = [];
  return {
    activity(at) {
      const hit = memo.find((m) => m.from <= at && at < m.to);
      if (hit !== undefined) return hit.result;
      const result = compute(at);
      memo.push({ from: at, to: result.changesAt ?? at + OPEN_ENDED_MEMO_MS, result });
      if (memo.length > MEMO_SIZE) memo.shift();
      return result;
    },
  };
}

/**
 * One-off ranges of instants (`[start, end)` each, any order, may overlap).
 * @example rangeSchedule([{ start: 0, end: 10 }]).activity(5) // { active: true, changesAt: 10 }
 */
export function rangeSchedule(ranges: readonly Occurrence[]): WindowSchedule {
  const merged: Occurrence[] = [];
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  return {
    activity(at) {
      for (const r of merged) {
        if (at < r.start) return { active: false, changesAt: r.start };
        if (at < r.end) return { active: true, changesAt: r.end };
      }
      return { active: false };
    },
  };
}
