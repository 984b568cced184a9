/**
 * Deployment windows (`policy.windows`) and break-glass (`policy.breakGlass`): the model as zod schemas, and which
 * objects a window applies to. When a window is active is `window-schedule.ts`; how windows combine into "open or
 * closed" for an object is `window-decision.ts`.
 *
 * ```yaml
 * windows:
 *   - name: business-hours          # allow: changes only inside it (for the objects it applies to)
 *     kind: allow
 *     schedule: "0 9 * * 1-5"       # 5-field cron of start times, in timeZone
 *     duration: 8h                  # Go duration (plus d); on the zone's clock: 09:00-17:00 local, whatever DST does
 *     timeZone: Europe/Berlin       # IANA name; default UTC
 *     match: { tenants: [dev-team], kinds: [Kustomization, HelmRelease] }
 *     manualReconcile: true         # `flux reconcile` is fine even outside it
 *   - name: year-end-freeze         # deny wins over allow
 *     kind: deny
 *     timeZone: Europe/Berlin
 *     ranges:                       # one-off, local to timeZone unless written with Z or an offset; end exclusive
 *       - { start: "2026-12-19", end: "2027-01-04T06:00" }
 *     freeze: true                  # also suspend matching Kustomizations/HelmReleases for its duration
 * breakGlass:
 *   groups: [platform-oncall]       # may change objects while closed; allowed, logged, counted and audited
 * ```
 *
 * Match semantics: every selector given must match (tenants AND namespaces AND kinds AND names AND labels); inside a
 * list any entry may match; `!pattern` excludes. A window without `match` applies to every object.
 */
import { z } from "zod";
import { globMatcher } from "./glob.ts";
import { labelSelectorSchema as selectorSchema } from "./label-selector.ts";
import { Cron } from "croner";
import { parseDuration } from "../config/duration.ts";
import { FLUX_KIND_NAMES } from "../flux/kinds.ts";
import { selectorMatches } from "./tenant-namespaces.ts";
import { cronSchedule, rangeSchedule } from "./window-schedule.ts";
import type { WindowSchedule } from "./window-schedule.ts";
import { instantOfWall, isTimeZone } from "./zoned-time.ts";

const windowName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/, "expected a name of lowercase letters, digits, '-' and '.', at most 63 (it becomes an annotation value and a metric label)");

const glob = z.string().regex(/^!?\S+$/, "expected a glob without spaces, optionally starting with ! to exclude");

/** A Kubernetes label selector over the object's own labels. */
const labelSelectorSchema = selectorSchema("an empty label selector matches every object; give matchLabels or matchExpressions, or leave labels out");

const matchSchema = z.strictObject({
  /** Tenants of `policy.tenants` whose namespaces the window covers. */
  tenants: z.array(z.string().min(1)).min(1).optional(),
  /** Namespace globs. */
  namespaces: z.array(glob).min(1).optional(),
  kinds: z.array(z.enum(FLUX_KIND_NAMES, { error: `expected a Flux kind: ${FLUX_KIND_NAMES.join(", ")}` })).min(1).optional(),
  /** Object name globs. */
  names: z.array(glob).min(1).optional(),
  labels: labelSelectorSchema.optional(),
});

const timeZone = z.string().refine(isTimeZone, { message: 'expected an IANA time zone like "Europe/Berlin", "America/New_York" or "UTC"' });

const durationSchema = z.string({ error: 'expected a duration string like "8h" or "90m"' }).transform((text, ctx): number => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: "custom", message: `expected a positive duration like "8h", "90m" or "3d", got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  return ms;
});

/** `2026-12-24`, `2026-12-24T18:00`, `2026-12-24T18:00:30`, optionally with `Z` or `±HH:MM`. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * The instant a range bound names: local to `zone` unless it carries `Z` or an offset (a local time in a DST gap is
 * the first instant after the gap, a repeated one its first occurrence), or undefined when it is not a date-time.
 * @example rangeInstant("2026-12-24", "Europe/Berlin") // Date.parse("2026-12-23T23:00:00Z")
 */
export function rangeInstant(text: string, zone: string): number | undefined {
  const m = DATE_TIME.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h = "00", mi = "00", s = "00", offset] = m;
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const back = new Date(wall);
  // Date.UTC rolls 2026-02-30 over to March; a bound must name a real date and time.
  if (back.getUTCDate() !== Number(d) || back.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  if (offset === undefined) return instantOfWall(zone, wall);
  if (offset === "Z") return wall;
  const sign = offset.startsWith("-") ? -1 : 1;
  return wall - sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000;
}

const dateTime = z.string({ error: 'expected a date-time string like "2026-12-24" or "2026-12-24T18:00"' }).regex(DATE_TIME, 'expected a date-time like "2026-12-24", "2026-12-24T18:00" or "2026-12-24T18:00:00Z"');

const rangeSchema = z.strictObject({ start: dateTime, end: dateTime });

/** A cron of start times: five fields (minute hour day-of-month month day-of-week), as Argo CD and Flux Operator take. */
const cronSchema = z.string({ error: 'expected a 5-field cron string like "0 9 * * 1-5"' }).superRefine((text, ctx) => {
  if (text.trim().split(/\s+/).length !== 5) {
    ctx.addIssue({ code: "custom", message: `expected 5 fields (minute hour day-of-month month day-of-week) like "0 9 * * 1-5", got ${JSON.stringify(text)}` });
    return;
  }
  let cron: Cron;
  try {
    cron = new Cron(text, { mode: "5-part" });
  } catch (e) {
    ctx.addIssue({ code: "custom", message: `not a valid cron schedule: ${(e as Error).message.replace(/^CronPattern: /, "")}` });
    return;
  }
  // A pattern such as "0 0 30 2 *" parses but never runs; an allow window from it would close objects forever.
  if (cron.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) ctx.addIssue({ code: "custom", message: `${JSON.stringify(text)} never runs` });
});

export const windowSchema = z
  .strictObject({
    /** Shown in admission messages, the `fluxgate.io/suspended-by-window` annotation and metrics. */
    name: windowName,
    /** `allow`: changes only inside it; `deny`: no changes inside it, whatever allow windows say. */
    kind: z.enum(["allow", "deny"], { error: 'expected "allow" or "deny"' }),
    /** Free text for people, e.g. the change ticket. */
    description: z.string().max(255).optional(),
    /** Start times (with `duration`), or leave both out and give `ranges`. */
    schedule: cronSchema.optional(),
    duration: durationSchema.optional(),
    /** One-off periods (holidays, a year-end freeze). */
    ranges: z.array(rangeSchema).min(1).optional(),
    /** Where `schedule` and zone-less `ranges` are read; default UTC. */
    timeZone: timeZone.default("UTC"),
    match: matchSchema.optional(),
    /**
     * Whether manual reconcile requests (`flux reconcile`: the `reconcile.fluxcd.io/requestedAt`, `forceAt` and
     * `resetAt` annotations) may be made while this window keeps an object closed (Argo CD's `manualSync`).
     */
    manualReconcile: z.boolean().default(false),
    /**
     * Suspend matching Kustomizations and HelmReleases while this window keeps them closed (`spec.suspend: true`,
     * annotated `fluxgate.io/suspended-by-window`), and resume exactly those when it opens: stops Flux itself, not
     * only changes and triggered runs.
     */
    freeze: z.boolean().default(false),
  })
  .superRefine((w, ctx) => {
    const recurring = w.schedule !== undefined || w.duration !== undefined;
    if (recurring && w.ranges !== undefined) {
      ctx.addIssue({ code: "custom", path: ["ranges"], message: "give either schedule and duration or ranges, not both" });
    } else if (!recurring && w.ranges === undefined) {
      ctx.addIssue({ code: "custom", path: [], message: "a window needs schedule and duration, or ranges" });
    } else if (recurring && w.schedule === undefined) {
      ctx.addIssue({ code: "custom", path: ["schedule"], message: 'duration needs a schedule of start times, e.g. "0 22 * * *"' });
    } else if (recurring && w.duration === undefined) {
      ctx.addIssue({ code: "custom", path: ["duration"], message: 'schedule needs a duration, e.g. "8h"' });
    }
    if (!isTimeZone(w.timeZone)) return;
    w.ranges?.forEach((r, i) => {
      const start = rangeInstant(r.start, w.timeZone);
      const end = rangeInstant(r.end, w.timeZone);
      // Strings of the wrong form already have their issue from `dateTime`.
      if (start === undefined && DATE_TIME.test(r.start)) ctx.addIssue({ code: "custom", path: ["ranges", i, "start"], message: `${JSON.stringify(r.start)} is not a real date and time` });
      if (end === undefined && DATE_TIME.test(r.end)) ctx.addIssue({ code: "custom", path: ["ranges", i, "end"], message: `${JSON.stringify(r.end)} is not a real date and time` });
      if (start !== undefined && end !== undefined && end <= start) {
        ctx.addIssue({ code: "custom", path: ["ranges", i, "end"], message: `ends at or before its start (${r.start}); the end is exclusive and must be later` });
      }
    });
  });

export const windowsSchema = z.array(windowSchema).superRefine((ws, ctx) => {
  ws.forEach((w, i) => {
    if (ws.findIndex((o) => o.name === w.name) !== i) ctx.addIssue({ code: "custom", path: [i, "name"], message: `window "${w.name}" is defined twice` });
  });
});

export const breakGlassSchema = z.strictObject({
  /** Usernames as kube-apiserver sees them (`jane@example.com`, `system:serviceaccount:ops:oncall`). */
  users: z.array(z.string().min(1)).default([]),
  groups: z.array(z.string().min(1)).default([]),
  /** Require a reason in the object's `fluxgate.io/break-glass-reason` annotation. */
  requireReason: z.boolean().default(false),
});

/** `windows` and `breakGlass` as they sit under `policy:` in the configuration. */
export const windowPolicySchema = z.strictObject({
  windows: windowsSchema.default([]),
  breakGlass: breakGlassSchema.prefault({}),
});

export type Window = z.output<typeof windowSchema>;
export type WindowMatch = z.output<typeof matchSchema>;
export type BreakGlass = z.output<typeof breakGlassSchema>;
/** The parsed window policy, defaults filled in; durations in ms. */
export type WindowPolicy = z.output<typeof windowPolicySchema>;
/** What a user writes. */
export type WindowPolicyInput = z.input<typeof windowPolicySchema>;

/** No windows, nobody with break-glass: everything is always open. */
export const EMPTY_WINDOW_POLICY: WindowPolicy = Object.freeze({ windows: [], breakGlass: { users: [], groups: [], requireReason: false } });

/** What a window is matched against. */
export type WindowTarget = {
  namespace: string;
  kind: string;
  name: string;
  labels?: Record<string, string>;
  /** The tenant owning the namespace, when tenants are configured. */
  tenant?: string;
};

const schedules = new WeakMap<Window, WindowSchedule>();

/** A window's schedule, compiled once per parsed window. */
export function scheduleOf(window: Window): WindowSchedule {
  let s = schedules.get(window);
  if (s === undefined) {
    s =
      window.ranges !== undefined
        ? rangeSchedule(window.ranges.map((r) => ({ start: rangeInstant(r.start, window.timeZone) ?? 0, end: rangeInstant(r.end, window.timeZone) ?? 0 })))
        : cronSchedule(window.schedule ?? "", window.duration ?? 0, window.timeZone);
    schedules.set(window, s);
  }
  return s;
}

/**
 * Whether `window` is active at `at` (inside its schedule or one of its ranges) and when that next changes.
 * @example windowActivity(policy.windows[0], new Date("2026-03-30T07:30:00Z")) // { active: true, changesAt: 2026-03-30T15:00:00.000Z }
 */
export function windowActivity(window: Window, at: Date): { active: boolean; changesAt?: Date } {
  const a = scheduleOf(window).activity(at.getTime());
  return a.changesAt === undefined ? { active: a.active } : { active: a.active, changesAt: new Date(a.changesAt) };
}

function globMatches(patterns: readonly string[], value: string): boolean {
  const test = (p: string): boolean => globMatcher(p)(value);
  const include = patterns.filter((p) => !p.startsWith("!"));
  const exclude = patterns.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  return (include.length === 0 || include.some(test)) && !exclude.some(test);
}

/**
 * Whether `window` applies to the object: every selector it gives matches.
 * @example windowApplies(w, { namespace: "apps", kind: "HelmRelease", name: "podinfo", tenant: "dev-team" })
 */
export function windowApplies(window: Window, target: WindowTarget): boolean {
  const m = window.match;
  if (m === undefined) return true;
  if (m.tenants !== undefined && (target.tenant === undefined || !m.tenants.includes(target.tenant))) return false;
  if (m.namespaces !== undefined && !globMatches(m.namespaces, target.namespace)) return false;
  if (m.kinds !== undefined && !m.kinds.some((k) => k === target.kind)) return false;
  if (m.names !== undefined && !globMatches(m.names, target.name)) return false;
  if (m.labels !== undefined && !selectorMatches(m.labels, target.labels ?? {})) return false;
  return true;
}

/**
 * Whether `window` concerns `tenant` at all: it names the tenant, or is not limited to tenants (`fluxgate windows
 * --tenant`).
 */
export function windowConcernsTenant(window: Window, tenant: string): boolean {
  return window.match?.tenants === undefined || window.match.tenants.includes(tenant);
}
