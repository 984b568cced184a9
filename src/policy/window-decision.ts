/**
 * Whether an object is open for changes at an instant, from every window that applies to it, and when that next
 * changes. Argo CD's precedence: an active deny closes; else an active allow opens; else, if allow windows apply,
 * the object is closed until one starts; else it is open. Pure: the admission rule, the worker (holding triggers),
 * the freeze controller and `fluxgate windows` all ask this one function.
 */
import { HORIZON_MS } from "./window-schedule.ts";
import { scheduleOf, windowApplies } from "./windows.ts";
import type { Window, WindowPolicy, WindowTarget } from "./windows.ts";

/**
 * What is being decided:
 * - `change`: a spec change (create, update, resume) — no window lets it through while closed;
 * - `reconcile`: a reconcile Fluxgate itself would request (a held trigger) — like `change`;
 * - `manual-reconcile`: a person's `flux reconcile` — let through by windows with `manualReconcile: true`
 *   (every active deny has it, or every applicable allow has it), as Argo CD's `manualSync`.
 */
export type WindowPurpose = "change" | "reconcile" | "manual-reconcile";

/**
 * Why the object is open or closed: `unrestricted` (no window applies, or only inactive deny windows),
 * `inside-allow`, `deny` (an active deny window), `outside-allow` (allow windows apply and none is active).
 */
export type WindowReason = "unrestricted" | "inside-allow" | "deny" | "outside-allow";

export type WindowDecision = {
  open: boolean;
  reason: WindowReason;
  /**
   * The windows that decide, in policy order: the active deny windows (closed by deny), the applicable allow
   * windows (closed outside them), the active allow windows (open inside one); empty when unrestricted.
   */
  deciding: string[];
  /** When `open` next flips; undefined when it does not within about a year (or never). */
  nextTransition?: Date;
  /** When closed: the instant it opens (= nextTransition). A held trigger waits until then. */
  opensAt?: Date;
  /** When open: the instant it closes (= nextTransition). */
  closesAt?: Date;
  /** When closed: the first deciding window with `freeze: true`, whose name the freeze controller writes. */
  freezeBy?: string;
};

/** Safety bound on the search for the next flip (each step jumps to a window edge, never by minutes). */
const MAX_STEPS = 1000;

type State = { open: boolean; reason: WindowReason; deciding: Window[]; changes: Map<Window, number | undefined> };

/** The windows that count for `purpose`: for a manual reconcile, Argo CD's `manualSync` exceptions as a filter. */
function windowsFor(applicable: Window[], purpose: WindowPurpose): Window[] {
  if (purpose !== "manual-reconcile") return applicable;
  const allows = applicable.filter((w) => w.kind === "allow");
  const everyAllowLetsManual = allows.every((w) => w.manualReconcile);
  // A deny with manualReconcile never blocks a manual request; allow windows stop blocking only if all of them agree.
  return applicable.filter((w) => (w.kind === "deny" ? !w.manualReconcile : !everyAllowLetsManual));
}

function stateAt(windows: Window[], at: number): State {
  const changes = new Map<Window, number | undefined>();
  const active = new Set<Window>();
  for (const w of windows) {
    const a = scheduleOf(w).activity(at);
    changes.set(w, a.changesAt);
    if (a.active) active.add(w);
  }
  const activeDenies = windows.filter((w) => w.kind === "deny" && active.has(w));
  if (activeDenies.length > 0) return { open: false, reason: "deny", deciding: activeDenies, changes };
  const allows = windows.filter((w) => w.kind === "allow");
  const activeAllows = allows.filter((w) => active.has(w));
  if (activeAllows.length > 0) return { open: true, reason: "inside-allow", deciding: activeAllows, changes };
  if (allows.length > 0) return { open: false, reason: "outside-allow", deciding: allows, changes };
  return { open: true, reason: "unrestricted", deciding: [], changes };
}

/**
 * The earliest instant after the state's own at which `open` could flip: closed by deny, not before every active deny
 * has ended; closed outside allow windows, not before one starts; open, not before a deny starts or (inside allow
 * windows) every active allow has ended. Undefined: nothing within the horizon can flip it.
 */
function nextCandidate(windows: Window[], s: State): number | undefined {
  const change = (w: Window): number => s.changes.get(w) ?? Number.POSITIVE_INFINITY;
  const min = (ws: Window[]): number => Math.min(...ws.map(change));
  const max = (ws: Window[]): number => Math.max(...ws.map(change));
  let next: number;
  if (s.reason === "deny") next = max(s.deciding);
  else if (s.reason === "outside-allow") next = min(s.deciding);
  else {
    const denyStart = min(windows.filter((w) => w.kind === "deny"));
    next = s.reason === "inside-allow" ? Math.min(denyStart, max(s.deciding)) : denyStart;
  }
  return Number.isFinite(next) ? next : undefined;
}

/**
 * Whether the object is open for `purpose` at `at`, which windows decide, and when that next changes.
 * @example
 * windowDecision(policy, { namespace: "apps", kind: "Kustomization", name: "web", tenant: "dev-team" }, new Date("2026-12-24T10:00:00Z"), "change")
 * // { open: false, reason: "deny", deciding: ["year-end-freeze"], nextTransition: 2027-01-04T05:00:00.000Z, opensAt: 2027-01-04T05:00:00.000Z, freezeBy: "year-end-freeze" }
 */
export function windowDecision(policy: WindowPolicy, target: WindowTarget, at: Date, purpose: WindowPurpose): WindowDecision {
  const windows = windowsFor(
    policy.windows.filter((w) => windowApplies(w, target)),
    purpose,
  );
  return decide(windows, at.getTime());
}

/** The decision over windows already chosen (`windowDecision` picks those applying to one object). */
export function decide(windows: Window[], at: number): WindowDecision {
  const now = stateAt(windows, at);
  let flip: number | undefined;
  let s = now;
  for (let i = 0; i < MAX_STEPS; i++) {
    const candidate = nextCandidate(windows, s);
    if (candidate === undefined || candidate - at > HORIZON_MS) break;
    s = stateAt(windows, candidate);
    if (s.open !== now.open) {
      flip = candidate;
      break;
    }
  }
  const decision: WindowDecision = { open: now.open, reason: now.reason, deciding: now.deciding.map((w) => w.name) };
  if (flip !== undefined) {
    decision.nextTransition = new Date(flip);
    if (now.open) decision.closesAt = new Date(flip);
    else decision.opensAt = new Date(flip);
  }
  const freezeBy = now.open ? undefined : now.deciding.find((w) => w.freeze);
  if (freezeBy !== undefined) decision.freezeBy = freezeBy.name;
  return decision;
}

/**
 * The next instant after `at` at which any window of the policy starts or ends: when the freeze controller looks
 * again. Undefined when none does within the horizon.
 */
export function nextPolicyTransition(policy: WindowPolicy, at: Date): Date | undefined {
  let next = Number.POSITIVE_INFINITY;
  for (const w of policy.windows) {
    const c = scheduleOf(w).activity(at.getTime()).changesAt;
    if (c !== undefined && c < next) next = c;
  }
  return Number.isFinite(next) ? new Date(next) : undefined;
}

/**
 * For the worker (`HoldUntil` of src/apply/applier.ts): given an object and an instant, undefined when a trigger for
 * it may run now, else when to release it: the instant its windows open, or, when no opening is known within the
 * horizon, the horizon's end (the worker looks again then). The policy is read at each call, so reloads apply.
 * @example startWorker({ …, holdUntil: windowHold(() => config.current().policy, (ns) => findTenant(policy, ns)?.tenant.name) })
 */
export function windowHold(
  policy: () => WindowPolicy,
  tenantOf?: (namespace: string) => string | undefined,
): (target: { namespace: string; kind: string; name: string; labels: Record<string, string> }, now: Date) => Date | undefined {
  return (target, now) => {
    const tenant = tenantOf?.(target.namespace);
    const d = windowDecision(policy(), tenant === undefined ? target : { ...target, tenant }, now, "reconcile");
    if (d.open) return undefined;
    return d.opensAt ?? new Date(now.getTime() + HORIZON_MS);
  };
}
