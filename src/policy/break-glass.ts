/**
 * Break-glass: users and groups named in `policy.breakGlass` may change objects while their deployment window is
 * closed. Every such change is allowed, and recorded three ways: audit annotations on the request (kube-apiserver's
 * audit log, prefixed with the webhook's name), a log line and a counter. Dry runs (Flux's server-side dry-run
 * before every apply, `kubectl --dry-run=server`) are judged the same but not recorded: nothing happened.
 */
import type { Logger } from "../observability/logger.ts";
import type { WindowMetrics } from "./window-metrics.ts";
import type { BreakGlass } from "./windows.ts";

/** The annotation on the object that carries the reason for a break-glass change (a ticket, an incident). */
export const BREAK_GLASS_REASON_ANNOTATION = "fluxgate.io/break-glass-reason";

/**
 * Audit annotation keys (kube-apiserver stores them as `<webhook name>/<key>`; a key must not hold a `/`).
 * `break-glass-user`: the username; `break-glass-windows`: the closed windows, comma-separated;
 * `break-glass-reason`: the reason annotation, when present.
 */
export const BREAK_GLASS_AUDIT_KEYS = { user: "break-glass-user", windows: "break-glass-windows", reason: "break-glass-reason" } as const;

/** Why a user may break glass: named as a user, or a member of a named group. */
export type BreakGlassGrant = { via: "user" | "group"; name: string };

/**
 * The grant `user` has, or undefined.
 * @example breakGlassGrant({ users: [], groups: ["platform-oncall"], requireReason: false }, { username: "jane", groups: ["platform-oncall"] }) // { via: "group", name: "platform-oncall" }
 */
export function breakGlassGrant(config: BreakGlass, user: { username: string; groups: readonly string[] }): BreakGlassGrant | undefined {
  if (config.users.includes(user.username)) return { via: "user", name: user.username };
  const group = config.groups.find((g) => user.groups.includes(g));
  return group === undefined ? undefined : { via: "group", name: group };
}

/** One change let through by break-glass, as the admission rule reports it. */
export type BreakGlassUse = {
  user: string;
  grant: BreakGlassGrant;
  /** The windows that kept the object closed. */
  windows: string[];
  /** What was changed: the spec (`change`), a manual reconcile request (`manual-reconcile`), or both. */
  changes: Array<"change" | "manual-reconcile">;
  object: { kind: string; namespace: string; name: string };
  operation: string;
  tenant?: string;
  reason?: string;
  dryRun: boolean;
};

/**
 * Logs and counts a break-glass use; a dry run is neither (returns false).
 * @example recordBreakGlassUse(result.breakGlass, { log, metrics: windowMetrics(registry) })
 */
export function recordBreakGlassUse(use: BreakGlassUse, sinks: { log: Logger; metrics: WindowMetrics }): boolean {
  if (use.dryRun) return false;
  sinks.metrics.breakGlassUses.inc({ window: use.windows.join(","), tenant: use.tenant ?? "" });
  sinks.log.warn(
    {
      breakGlass: true,
      user: use.user,
      grantedBy: `${use.grant.via} ${use.grant.name}`,
      windows: use.windows,
      changes: use.changes,
      kind: use.object.kind,
      objectNamespace: use.object.namespace,
      objectName: use.object.name,
      operation: use.operation,
      tenant: use.tenant,
      reason: use.reason,
    },
    "break-glass: change allowed while its deployment window is closed",
  );
  return true;
}
