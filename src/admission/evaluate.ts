/**
 * The admission decision for one request: exemptions first, then the tenant owning the namespace, then every rule in
 * registry order. Pure: the same input, policy and phase always give the same decision (dry runs included), and the
 * clock is `input.now`.
 */
import { isDeepStrictEqual } from "node:util";
import { fieldPathsFor } from "../flux/field-paths.ts";
import type { KindFieldPaths } from "../flux/field-paths.ts";
import { describeSelector, findTenant, tenantOwns } from "../policy/tenant-namespaces.ts";
import { ruleModeFor } from "../policy/tenancy.ts";
import type { NamespaceLabels, Policy } from "../policy/tenancy.ts";
import type { AdmissionInput, Decision, Exemption, JsonPatchOperation, KubeObject, Phase, Violation } from "./rule.ts";
import type { RuleContext } from "./rules/admission-rule.ts";
import { RULES } from "./rules/index.ts";
import { checkDeploymentWindows, DEPLOYMENT_WINDOW_RULE } from "./rules/deployment-window.ts";

export type EvaluateOptions = {
  /**
   * Labels of a namespace (from a namespace informer), for tenants' `namespaceSelector`. Without it, tenants own only
   * the namespaces they list by name (plus, for the default tenant, the object's own).
   */
  namespaceLabels?: NamespaceLabels;
};

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

/**
 * Judges one request. `validate`: enforce-mode violations in `denials`, audit-mode ones in `warnings`. `mutate`: the
 * JSONPatch that makes the object keep the enforce-mode rules that can repair it (empty when it already does), and
 * no violations, which the validating call reports.
 * @example evaluate(input, config.policy, "validate").denials.map((v) => v.message)
 */
export function evaluate(input: AdmissionInput, policy: Policy, phase: Phase, options: EvaluateOptions = {}): Decision {
  const screened = screen(input, policy);
  if (!("object" in screened)) return exempted(screened);
  const { object, paths } = screened;
  const match = findTenant(policy, input.namespace, options.namespaceLabels);

  // Deployment windows come before the tenancy exemptions below: a reconcile request changes no spec, and a freeze may
  // cover namespaces no tenant owns.
  const windows = phase === "validate" ? checkDeploymentWindows(input, { policy, ...(match === undefined ? {} : { tenant: match.tenant.name }) }) : undefined;
  const windowMode = ruleModeFor(policy, match?.tenant, DEPLOYMENT_WINDOW_RULE);
  const windowFindings = windows?.violations ?? [];
  const withWindows = (d: Decision): Decision => {
    if (windows === undefined || (windowFindings.length === 0 && windows.breakGlass === undefined)) return d;
    const denials = windowMode === "enforce" ? [...windowFindings, ...d.denials] : d.denials;
    const warnings = windowMode === "audit" ? [...windowFindings, ...d.warnings] : d.warnings;
    const decision = denials.length > 0 ? "denied" : warnings.length > 0 ? "warned" : (d.auditAnnotations.decision ?? "allowed");
    const rules = [d.auditAnnotations.rules, windowFindings.length > 0 ? DEPLOYMENT_WINDOW_RULE : undefined].filter((r) => r !== undefined && r !== "").join(",");
    const { exempt: _, ...rest } = d;
    return {
      ...rest,
      denials,
      warnings,
      auditAnnotations: { ...d.auditAnnotations, ...windows.auditAnnotations, decision, ...(rules === "" ? {} : { rules }) },
      ...(windows.breakGlass === undefined ? {} : { breakGlass: windows.breakGlass }),
    };
  };

  if (input.operation === "UPDATE" && input.oldObject !== undefined && isDeepStrictEqual(object.spec, input.oldObject.spec)) {
    return withWindows(exempted({ kind: "spec-unchanged", reason: "the spec is unchanged (metadata, finalizers or status only)" }));
  }
  if (match === undefined) return withWindows(exempted({ kind: "no-tenant", reason: `namespace "${input.namespace}" belongs to no tenant and no default tenant is set` }));

  const { tenant } = match;
  const own = () => {
    const phrases = [...new Set([input.namespace, ...tenant.namespaces])].map((ns) => JSON.stringify(ns));
    if (tenant.namespaceSelector !== undefined) phrases.push(`namespaces labelled ${describeSelector(tenant.namespaceSelector)}`);
    return phrases;
  };
  const ctx: RuleContext = {
    object,
    paths,
    tenant,
    namespace: input.namespace,
    ownsNamespace: (ns) => ns === input.namespace || tenantOwns(tenant, ns, options.namespaceLabels),
    ownNamespaces: own,
  };

  const denials: Violation[] = [];
  const warnings: Violation[] = [];
  const patch: JsonPatchOperation[] = [];
  const fired = new Set<string>();
  for (const rule of RULES) {
    const mode = ruleModeFor(policy, tenant, rule.name);
    if (phase === "mutate") {
      // Audit mode only reports: it must not change objects either.
      if (mode !== "enforce" || rule.mutate === undefined) continue;
      for (const op of rule.mutate(ctx)) {
        if (patch.some((p) => isDeepStrictEqual(p, op))) continue;
        patch.push(op);
        fired.add(rule.name);
      }
    } else {
      const found = rule.check(ctx);
      (mode === "enforce" ? denials : warnings).push(...found);
      if (found.length > 0) fired.add(rule.name);
    }
  }

  const decision = phase === "mutate" ? (patch.length > 0 ? "patched" : "unchanged") : denials.length > 0 ? "denied" : warnings.length > 0 ? "warned" : "allowed";
  const auditAnnotations: Record<string, string> = { decision, tenant: tenant.name };
  if (fired.size > 0) auditAnnotations["rules"] = [...fired].join(",");
  return withWindows({ tenant: tenant.name, denials, warnings, patch, auditAnnotations });
}

function exempted(exempt: Exemption): Decision {
  return { exempt, denials: [], warnings: [], patch: [], auditAnnotations: { decision: "exempt", exemption: `${exempt.kind}: ${exempt.reason}` } };
}

/** Why a request is let through unjudged, or the object and its kind's fields when the rules must run. */
function screen(input: AdmissionInput, policy: Policy): Exemption | { object: KubeObject; paths: KindFieldPaths } {
  const { users, groups, serviceAccounts, namespaces } = policy.exemptions;
  const { username } = input.user;
  if (users.includes(username)) return { kind: "user", reason: `user "${username}" is exempt` };
  const group = input.user.groups.find((g) => groups.includes(g));
  if (group !== undefined) return { kind: "group", reason: `group "${group}" is exempt` };
  const sa = SERVICE_ACCOUNT_USER.exec(username);
  if (sa !== null) {
    const entry = serviceAccounts.find((e) => e === `${sa[1]}:${sa[2]}` || e === `${sa[1]}:*`);
    if (entry !== undefined) return { kind: "service-account", reason: `service account "${sa[1]}:${sa[2]}" is exempt (${entry})` };
  }
  if (namespaces.includes(input.namespace)) return { kind: "namespace", reason: `namespace "${input.namespace}" is exempt` };
  const { group: apiGroup, kind } = input.kind;
  const paths = fieldPathsFor(apiGroup, kind);
  if (paths === undefined) return { kind: "not-flux", reason: `${kind}${apiGroup === "" ? "" : `.${apiGroup}`} is not a kind Fluxgate judges` };
  if (input.operation === "DELETE") return { kind: "delete", reason: "deletions are always allowed, so Flux can finalize and prune" };
  const { object } = input;
  if (object === undefined || input.operation === "CONNECT") return { kind: "not-flux", reason: `${input.operation} carries no object to judge` };
  return { object, paths };
}
