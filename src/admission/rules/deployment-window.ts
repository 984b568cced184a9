/**
 * Deployment windows at admission: while an object's window is closed, CREATE and UPDATE requests that change its
 * `spec` (resuming, `suspend: true → false`, included) and manual reconcile requests (`flux reconcile`: a new
 * `reconcile.fluxcd.io/requestedAt`, `forceAt` or `resetAt`) are denied, naming the window and when changes are
 * allowed again, in the window's zone and in UTC. Suspending is always allowed, and so is creating an object
 * suspended. Users and groups with break-glass are let through and audited (`src/policy/break-glass.ts`).
 *
 * A pure function of the request and the window policy, not one of the tenancy rules (`RULES`): it needs the user,
 * the old object and the time, and answers with audit annotations and a break-glass record besides violations.
 */
import { isDeepStrictEqual } from "node:util";
import { BREAK_GLASS_AUDIT_KEYS, BREAK_GLASS_REASON_ANNOTATION, breakGlassGrant } from "../../policy/break-glass.ts";
import type { BreakGlassUse } from "../../policy/break-glass.ts";
import { windowDecision } from "../../policy/window-decision.ts";
import type { WindowDecision, WindowPurpose } from "../../policy/window-decision.ts";
import { HORIZON_MS } from "../../policy/window-schedule.ts";
import type { WindowPolicy, WindowTarget } from "../../policy/windows.ts";
import { formatInZone } from "../../policy/zoned-time.ts";
import type { AdmissionInput, KubeObject, Violation } from "../rule.ts";

export const DEPLOYMENT_WINDOW_RULE = "deployment-window";

/** The annotations `flux reconcile` writes (src/kube/reconcile-request.ts); any new value is a manual request. */
const RECONCILE_ANNOTATIONS = ["reconcile.fluxcd.io/requestedAt", "reconcile.fluxcd.io/forceAt", "reconcile.fluxcd.io/resetAt"] as const;

export type DeploymentWindowContext = {
  policy: WindowPolicy;
  /** The tenant owning the request's namespace, for windows limited to tenants. */
  tenant?: string;
};

export type DeploymentWindowResult = {
  /** Denials (empty when allowed, break-glass included). */
  violations: Violation[];
  /** For the AdmissionResponse; set on a break-glass change. */
  auditAnnotations: Record<string, string>;
  /** Set when break-glass let a change through; give it to `recordBreakGlassUse` (which skips dry runs). */
  breakGlass?: BreakGlassUse;
};

type SpecChange = { path: string; action: string; value?: unknown };

/**
 * What the request does to `spec`, or undefined when it changes nothing that needs an open window. Suspending
 * (and creating an object suspended) is always allowed: it stops Flux rather than deploying.
 */
function specChange(input: AdmissionInput, object: KubeObject, ref: string): SpecChange | undefined {
  const spec = object.spec ?? {};
  if (input.operation === "CREATE") return spec.suspend === true ? undefined : { path: "spec", action: `creating ${ref} is` };
  const old = input.oldObject?.spec ?? {};
  if (isDeepStrictEqual(old, spec)) return undefined;
  const { suspend: oldSuspend, ...oldRest } = old;
  const { suspend: newSuspend, ...newRest } = spec;
  if (!isDeepStrictEqual(oldRest, newRest)) return { path: "spec", action: `changes to ${ref} are` };
  if (newSuspend === true || oldSuspend !== true) return undefined;
  return { path: "spec.suspend", action: `resuming ${ref} is`, value: newSuspend ?? null };
}

/** The first reconcile annotation the request sets to a new value (an UPDATE; a new object reconciles anyway). */
function reconcileRequest(input: AdmissionInput, object: KubeObject): { key: string; value: string } | undefined {
  if (input.operation !== "UPDATE") return undefined;
  const now = object.metadata.annotations ?? {};
  const before = input.oldObject?.metadata.annotations ?? {};
  for (const key of RECONCILE_ANNOTATIONS) {
    const value = now[key];
    if (value !== undefined && value !== before[key]) return { key, value };
  }
  return undefined;
}

const quoted = (names: string[]): string => names.map((n) => JSON.stringify(n)).join(", ");

/** Why it is closed and when it opens: `while deployment window "x" (deny) is in force; allowed again at …`. */
function closedBecause(decision: WindowDecision, policy: WindowPolicy): string {
  const many = decision.deciding.length > 1;
  const why =
    decision.reason === "deny"
      ? `while deployment window${many ? "s" : ""} ${quoted(decision.deciding)} (deny) ${many ? "are" : "is"} in force`
      : `outside deployment window${many ? "s" : ""} ${quoted(decision.deciding)} (allow)`;
  const zone = policy.windows.find((w) => w.name === decision.deciding[0])?.timeZone ?? "UTC";
  const when =
    decision.opensAt === undefined ? `not allowed again within the next ${Math.round(HORIZON_MS / 86_400_000)} days` : `allowed again at ${formatInZone(decision.opensAt, zone)}`;
  return `${why}; ${when}`;
}

/**
 * Judges one request against the deployment windows.
 * @example
 * checkDeploymentWindows(input, { policy, tenant: "dev-team" }).violations[0]?.message
 * // 'spec: changes to Kustomization apps/web are not allowed while deployment window "year-end-freeze" (deny) is in force; allowed again at 2027-01-04 00:00 Europe/Berlin (2027-01-03T23:00:00Z)'
 */
export function checkDeploymentWindows(input: AdmissionInput, context: DeploymentWindowContext): DeploymentWindowResult {
  const allowed: DeploymentWindowResult = { violations: [], auditAnnotations: {} };
  const { policy } = context;
  const object = input.object;
  if (object === undefined || policy.windows.length === 0 || (input.operation !== "CREATE" && input.operation !== "UPDATE")) return allowed;

  const kind = object.kind;
  const name = object.metadata.name ?? object.metadata.generateName ?? "";
  const ref = `${kind} ${input.namespace}/${name}`;
  const target = (labels: Record<string, string> | undefined): WindowTarget => ({ namespace: input.namespace, kind, name, labels: labels ?? {}, tenant: context.tenant });
  // Labels are matched before and after the change, so relabelling an object does not take it out of its window.
  const labelSets = [object.metadata.labels];
  if (input.oldObject !== undefined && !isDeepStrictEqual(input.oldObject.metadata.labels ?? {}, object.metadata.labels ?? {})) labelSets.push(input.oldObject.metadata.labels);
  const closed = (purpose: WindowPurpose): WindowDecision | undefined => {
    for (const labels of labelSets) {
      const d = windowDecision(policy, target(labels), input.now, purpose);
      if (!d.open) return d;
    }
    return undefined;
  };

  const denials: Array<{ violation: Violation; decision: WindowDecision; purpose: "change" | "manual-reconcile" }> = [];
  const change = specChange(input, object, ref);
  if (change !== undefined) {
    const d = closed("change");
    if (d !== undefined) {
      const violation: Violation = { rule: DEPLOYMENT_WINDOW_RULE, path: change.path, message: `${change.path}: ${change.action} not allowed ${closedBecause(d, policy)}` };
      if (change.value !== undefined) violation.value = change.value;
      denials.push({ violation, decision: d, purpose: "change" });
    }
  }
  const request = reconcileRequest(input, object);
  if (request !== undefined) {
    const d = closed("manual-reconcile");
    if (d !== undefined) {
      const path = `metadata.annotations[${JSON.stringify(request.key)}]`;
      const message = `${path}: manual reconcile requests for ${ref} are not allowed ${closedBecause(d, policy)}`;
      denials.push({ violation: { rule: DEPLOYMENT_WINDOW_RULE, path, value: request.value, message }, decision: d, purpose: "manual-reconcile" });
    }
  }
  if (denials.length === 0) return allowed;

  const grant = breakGlassGrant(policy.breakGlass, input.user);
  if (grant === undefined) return { violations: denials.map((d) => d.violation), auditAnnotations: {} };
  const reason = object.metadata.annotations?.[BREAK_GLASS_REASON_ANNOTATION];
  if (policy.breakGlass.requireReason && (reason === undefined || reason.trim() === "")) {
    const path = `metadata.annotations[${JSON.stringify(BREAK_GLASS_REASON_ANNOTATION)}]`;
    const first = denials[0]?.decision;
    const message = `${path}: break-glass needs a reason while ${ref} is closed: set this annotation (a ticket or incident) with the change${first === undefined ? "" : `; without break-glass the change is not allowed ${closedBecause(first, policy)}`}`;
    return { violations: [{ rule: DEPLOYMENT_WINDOW_RULE, path, message }], auditAnnotations: {} };
  }
  const windows = [...new Set(denials.flatMap((d) => d.decision.deciding))];
  const auditAnnotations: Record<string, string> = { [BREAK_GLASS_AUDIT_KEYS.user]: input.user.username, [BREAK_GLASS_AUDIT_KEYS.windows]: windows.join(",") };
  if (reason !== undefined) auditAnnotations[BREAK_GLASS_AUDIT_KEYS.reason] = reason;
  const use: BreakGlassUse = {
    user: input.user.username,
    grant,
    windows,
    changes: denials.map((d) => d.purpose),
    object: { kind, namespace: input.namespace, name },
    operation: input.operation,
    dryRun: input.dryRun,
  };
  if (context.tenant !== undefined) use.tenant = context.tenant;
  if (reason !== undefined) use.reason = reason;
  return { violations: [], auditAnnotations, breakGlass: use };
}
