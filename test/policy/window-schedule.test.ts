/**
 * When one window is active, across DST changes in Europe/Berlin (2026-03-29 02:00 CET → 03:00 CEST, 2026-10-25
 * 03:00 CEST → 02:00 CET) and America/New_York (2026-03-08 02:00 EST → 03:00 EDT, 2026-11-01 02:00 EDT → 01:00 EST),
 * across midnight and the year end, for cron windows and one-off ranges.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { windowActivity, windowPolicySchema } from "../../src/policy/windows.ts";

const window = (w: Record<string, unknown>) => windowPolicySchema.parse({ windows: [{ name: "w", kind: "deny", ...w }] }).windows[0]!;

/** `[active, changesAt]` at each instant, as ISO strings. */
const at = (w: Record<string, unknown>, ...instants: string[]): Array<[boolean, string | undefined]> => {
  const parsed = window(w);
  return instants.map((i) => {
    const a = windowActivity(parsed, new Date(i));
    return [a.active, a.changesAt?.toISOString()];
  });
};

describe("a cron window across Europe/Berlin's spring-forward", () => {
  it("starts a fixed-time window whose start is in the gap at the first instant after it (03:00 CEST)", () => {
    assert.deepEqual(at({ schedule: "30 2 * * *", duration: "1h", timeZone: "Europe/Berlin" }, "2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-03-29T01:59:59Z", "2026-03-29T02:00:00Z"), [
      [false, "2026-03-29T01:00:00.000Z"],
      [true, "2026-03-29T02:00:00.000Z"],
      [true, "2026-03-29T02:00:00.000Z"],
      [false, "2026-03-30T00:30:00.000Z"],
    ]);
  });

  it("ends an overnight window when the clock reads its end: 22:00 for 10h is 08:00 CEST, 9 real hours", () => {
    assert.deepEqual(at({ schedule: "0 22 * * *", duration: "10h", timeZone: "Europe/Berlin" }, "2026-03-28T20:59:59Z", "2026-03-28T21:00:00Z", "2026-03-29T05:59:59Z", "2026-03-29T06:00:00Z"), [
      [false, "2026-03-28T21:00:00.000Z"],
      [true, "2026-03-29T06:00:00.000Z"],
      [true, "2026-03-29T06:00:00.000Z"],
      [false, "2026-03-29T20:00:00.000Z"],
    ]);
  });

  it("ends a window whose end is in the gap at the end of the gap", () => {
    assert.deepEqual(at({ schedule: "30 1 * * *", duration: "1h", timeZone: "Europe/Berlin" }, "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"), [
      [true, "2026-03-29T01:00:00.000Z"],
      [false, "2026-03-29T23:30:00.000Z"],
    ]);
  });
});

describe("a cron window across Europe/Berlin's fall-back", () => {
  it("starts a fixed-time window in the repeated hour once, at its first occurrence, and ends it on the clock", () => {
    // 02:30 CEST (00:30Z) + 1h on the clock: 03:30 CET (02:30Z), through the repeated hour.
    assert.deepEqual(at({ schedule: "30 2 * * *", duration: "1h", timeZone: "Europe/Berlin" }, "2026-10-25T00:29:59Z", "2026-10-25T00:30:00Z", "2026-10-25T01:45:00Z", "2026-10-25T02:30:00Z"), [
      [false, "2026-10-25T00:30:00.000Z"],
      [true, "2026-10-25T02:30:00.000Z"],
      [true, "2026-10-25T02:30:00.000Z"],
      [false, "2026-10-26T01:30:00.000Z"],
    ]);
  });

  it("ends an overnight window when the clock reads its end: 22:00 for 10h is 08:00 CET, 11 real hours", () => {
    assert.deepEqual(at({ schedule: "0 22 * * *", duration: "10h", timeZone: "Europe/Berlin" }, "2026-10-24T20:00:00Z", "2026-10-25T06:59:59Z", "2026-10-25T07:00:00Z"), [
      [true, "2026-10-25T07:00:00.000Z"],
      [true, "2026-10-25T07:00:00.000Z"],
      [false, "2026-10-25T21:00:00.000Z"],
    ]);
  });

  it("starts an interval pattern on both passes through the repeated hour, a fixed-time one only on the first", () => {
    // 02:05 CET, the second pass (01:05Z).
    assert.deepEqual(at({ schedule: "*/30 2 * * *", duration: "10m", timeZone: "Europe/Berlin" }, "2026-10-25T01:05:00Z"), [[true, "2026-10-25T01:10:00.000Z"]]);
    assert.deepEqual(at({ schedule: "0 2 * * *", duration: "10m", timeZone: "Europe/Berlin" }, "2026-10-25T01:05:00Z"), [[false, "2026-10-26T01:00:00.000Z"]]);
  });
});

describe("a cron window across America/New_York's DST changes", () => {
  it("moves a 02:00 start skipped by spring-forward to 03:00 EDT and lasts 30 minutes on the clock", () => {
    assert.deepEqual(at({ schedule: "0 2 * * *", duration: "30m", timeZone: "America/New_York" }, "2026-03-08T06:59:59Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"), [
      [false, "2026-03-08T07:00:00.000Z"],
      [true, "2026-03-08T07:30:00.000Z"],
      [false, "2026-03-09T06:00:00.000Z"],
    ]);
  });

  it("keeps a window started at 01:50 EDT open through the repeated hour until the clock reads 02:10 EST", () => {
    // Starts 01:05 EDT, 01:50 EDT, 01:05 EST, 01:50 EST; the 01:05 EST one (20 min) ends before the 01:50 EDT one.
    assert.deepEqual(at({ schedule: "5,50 1 * * *", duration: "20m", timeZone: "America/New_York" }, "2026-11-01T05:00:00Z", "2026-11-01T06:26:00Z", "2026-11-01T07:09:59Z", "2026-11-01T07:10:00Z"), [
      [false, "2026-11-01T05:05:00.000Z"],
      [true, "2026-11-01T07:10:00.000Z"],
      [true, "2026-11-01T07:10:00.000Z"],
      [false, "2026-11-02T06:05:00.000Z"],
    ]);
  });

  it("runs a fixed 01:00 start once on the fall-back day: at 01:10 EST the window is over", () => {
    assert.deepEqual(at({ schedule: "0 1 * * *", duration: "30m", timeZone: "America/New_York" }, "2026-11-01T05:10:00Z", "2026-11-01T06:10:00Z"), [
      [true, "2026-11-01T05:30:00.000Z"],
      [false, "2026-11-02T06:00:00.000Z"],
    ]);
  });
});

describe("windows across midnight, the year end, and each other", () => {
  it("keeps a 22:00 window for 4h open past midnight", () => {
    assert.deepEqual(at({ schedule: "0 22 * * *", duration: "4h" }, "2026-06-01T23:59:00Z", "2026-06-02T01:59:59.999Z", "2026-06-02T02:00:00Z"), [
      [true, "2026-06-02T02:00:00.000Z"],
      [true, "2026-06-02T02:00:00.000Z"],
      [false, "2026-06-02T22:00:00.000Z"],
    ]);
  });

  it("carries a New Year's Eve window into the next year, and finds its next start a year on", () => {
    assert.deepEqual(at({ schedule: "0 20 31 12 *", duration: "12h", timeZone: "Europe/Berlin" }, "2026-12-31T23:30:00Z", "2027-01-01T07:00:00Z"), [
      [true, "2027-01-01T07:00:00.000Z"],
      [false, "2027-12-31T19:00:00.000Z"],
    ]);
  });

  it("joins occurrences that overlap or touch into one active stretch", () => {
    assert.deepEqual(at({ schedule: "0 9,11 * * *", duration: "3h" }, "2026-06-01T10:00:00Z"), [[true, "2026-06-01T14:00:00.000Z"]]);
    assert.deepEqual(at({ schedule: "0 9,11 * * *", duration: "2h" }, "2026-06-01T10:00:00Z"), [[true, "2026-06-01T13:00:00.000Z"]]);
  });

  it("reports no end for a window that is always active", () => {
    assert.deepEqual(at({ schedule: "0 * * * *", duration: "1h" }, "2026-06-01T10:00:00Z"), [[true, undefined]]);
  });
});

describe("one-off ranges", () => {
  const holidays = {
    timeZone: "Europe/Berlin",
    ranges: [
      { start: "2026-12-24", end: "2026-12-27" },
      { start: "2026-12-31T18:00", end: "2027-01-02" },
      { start: "2027-01-01T12:00:00Z", end: "2027-01-01T13:00:00Z" },
    ],
  };

  it("is active inside a range, local to the window's zone, end exclusive, overlapping ranges joined", () => {
    assert.deepEqual(at(holidays, "2026-12-23T22:59:59Z", "2026-12-23T23:00:00Z", "2026-12-25T12:00:00Z", "2026-12-26T23:00:00Z"), [
      [false, "2026-12-23T23:00:00.000Z"],
      [true, "2026-12-26T23:00:00.000Z"],
      [true, "2026-12-26T23:00:00.000Z"],
      [false, "2026-12-31T17:00:00.000Z"],
    ]);
  });

  it("spans the year end and then is never active again", () => {
    assert.deepEqual(at(holidays, "2027-01-01T12:30:00Z", "2027-01-01T23:00:00Z"), [
      [true, "2027-01-01T23:00:00.000Z"],
      [false, undefined],
    ]);
  });
});
