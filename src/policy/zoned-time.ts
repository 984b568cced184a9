/**
 * Wall-clock time in an IANA time zone, from the runtime's own tz database (`Intl`), for deployment windows:
 * what a zone's clock reads at an instant, the instant at which it first reads a given time (DST gaps and repeated
 * hours resolved as cron resolves them), and how instants are shown to people.
 *
 * A "wall" value is the zone's local date-time written as if it were UTC milliseconds, so `Date.UTC` arithmetic
 * on it is calendar arithmetic: `wall + 3_600_000` is "one hour later on the clock".
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** IANA names only (`Europe/Berlin`, `UTC`, `Etc/GMT+2`); `Intl` also takes offsets like `+01:00`, which are not zones. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/**
 * Whether the runtime knows `zone` as an IANA time zone.
 * @example isTimeZone("Europe/Berlin") // true
 * @example isTimeZone("Mars/Olympus") // false
 */
export function isTimeZone(zone: string): boolean {
  if (!ZONE_NAME.test(zone)) return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/**
 * What the clock in `zone` reads at `instant` (ms since the epoch), as a wall value.
 * @example new Date(wallTime("Europe/Berlin", Date.parse("2026-07-01T10:00:00Z"))).toISOString() // "2026-07-01T12:00:00.000Z"
 */
export function wallTime(zone: string, instant: number): number {
  const fraction = ((instant % 1000) + 1000) % 1000;
  const parts = formatter(zone).formatToParts(new Date(instant - fraction));
  const get = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value ?? Number.NaN);
  const hour = get("hour") % 24; // some engines still write midnight as 24 with h23
  return Date.UTC(get("year"), get("month") - 1, get("day"), hour, get("minute"), get("second")) + fraction;
}

/** The zone's offset from UTC at `instant`, in ms (`+3_600_000` for CET). */
export function zoneOffset(zone: string, instant: number): number {
  return wallTime(zone, instant) - instant;
}

const DAY_MS = 86_400_000;

/**
 * The first instant after `after` at which the clock in `zone` reads `wall` or later: the instant of that local
 * time, with the rule croner (and Vixie cron) applies to fixed-time jobs. A time skipped by a spring-forward gap
 * gives the first instant after the gap (02:30 on the night Berlin jumps from 02:00 to 03:00 is 03:00 CEST); a time
 * repeated by a fall-back gives its first occurrence after `after`.
 * @example new Date(instantOfWall("Europe/Berlin", Date.UTC(2026, 2, 29, 2, 30))).toISOString() // "2026-03-29T01:00:00.000Z"
 */
export function instantOfWall(zone: string, wall: number, after = Number.NEGATIVE_INFINITY): number {
  // Offsets a day either side cover any single transition near `wall`; tz rules never change twice within two days.
  const offsets = new Set([zoneOffset(zone, wall - DAY_MS), zoneOffset(zone, wall), zoneOffset(zone, wall + DAY_MS)]);
  const exact = [...offsets]
    .map((o) => wall - o)
    .filter((t) => t > after && wallTime(zone, t) === wall)
    .sort((a, b) => a - b);
  if (exact[0] !== undefined) return exact[0];
  // In a gap (or every exact reading is before `after`): the clock jumps over `wall`. Find the jump by bisection
  // between an instant whose clock reads earlier and one whose clock reads later.
  const bounds = [...offsets].map((o) => wall - o);
  let lo = Math.max(Math.min(...bounds) - DAY_MS, after);
  let hi = Math.max(...bounds) + DAY_MS;
  if (!(wallTime(zone, hi) >= wall)) return wall - zoneOffset(zone, wall);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (mid <= lo) break;
    if (wallTime(zone, mid) >= wall && mid > after) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The first instant in `(from, to]` at which the zone's offset equals its offset at `to`: where a transition
 * between the two happened. Bisection to the second; tz transitions fall on whole seconds.
 */
export function transitionBefore(zone: string, from: number, to: number): number {
  const target = zoneOffset(zone, to);
  let lo = from;
  let hi = to;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (mid <= lo) break;
    if (zoneOffset(zone, mid) === target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * UTC as RFC 3339 without milliseconds when they are zero, for messages and output.
 * @example formatUtc(new Date("2027-01-03T23:00:00Z")) // "2027-01-03T23:00:00Z"
 */
export function formatUtc(instant: Date): string {
  const iso = instant.toISOString();
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}

/**
 * The local date and time in `zone`, minutes always and seconds only when not zero.
 * @example formatLocal(new Date("2027-01-03T23:00:00Z"), "Europe/Berlin") // "2027-01-04 00:00"
 */
export function formatLocal(instant: Date, zone: string): string {
  const iso = new Date(wallTime(zone, instant.getTime())).toISOString();
  const seconds = iso.slice(17, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${seconds === "00" ? "" : `:${seconds}`}`;
}

/**
 * An instant as people read it in a window's zone, with UTC to make it exact: what admission messages and
 * `fluxgate windows` print.
 * @example formatInZone(new Date("2027-01-03T23:00:00Z"), "Europe/Berlin") // "2027-01-04 00:00 Europe/Berlin (2027-01-03T23:00:00Z)"
 */
export function formatInZone(instant: Date, zone: string): string {
  return `${formatLocal(instant, zone)} ${zone} (${formatUtc(instant)})`;
}
