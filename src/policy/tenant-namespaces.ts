/**
 * Which tenant a namespace belongs to, and whether a tenant owns a namespace: by name first, then by the
 * namespace's labels when they are known (a tenant's `namespaceSelector`), then the policy's default tenant.
 */
import type { LabelSelector, NamespaceLabels, Policy, Tenant } from "./tenancy.ts";

/** The tenant whose policy applies to objects in `namespace`, and how it was found. */
export type TenantMatch = { tenant: Tenant; by: "name" | "selector" | "default" };

/**
 * The tenant owning `namespace`: the one listing it by name, else the first whose selector matches its labels, else
 * the default tenant, else undefined (the namespace is not judged).
 * @example findTenant(policy, "apps") // { tenant: { name: "dev-team", … }, by: "name" }
 */
export function findTenant(policy: Policy, namespace: string, namespaceLabels?: NamespaceLabels): TenantMatch | undefined {
  const named = policy.tenants.find((t) => t.namespaces.includes(namespace));
  if (named !== undefined) return { tenant: named, by: "name" };
  const labels = namespaceLabels?.(namespace);
  if (labels !== undefined) {
    const selected = policy.tenants.find((t) => t.namespaceSelector !== undefined && selectorMatches(t.namespaceSelector, labels));
    if (selected !== undefined) return { tenant: selected, by: "selector" };
  }
  const fallback = policy.defaultTenant === undefined ? undefined : policy.tenants.find((t) => t.name === policy.defaultTenant);
  return fallback === undefined ? undefined : { tenant: fallback, by: "default" };
}

/**
 * Whether `namespace` is one of the tenant's own: listed by name, or selected by its labels (when known).
 * The namespace an object lives in is the tenant's by definition; callers add it.
 */
export function tenantOwns(tenant: Tenant, namespace: string, namespaceLabels?: NamespaceLabels): boolean {
  if (tenant.namespaces.includes(namespace)) return true;
  if (tenant.namespaceSelector === undefined) return false;
  const labels = namespaceLabels?.(namespace);
  return labels !== undefined && selectorMatches(tenant.namespaceSelector, labels);
}

/** Kubernetes label-selector semantics: every `matchLabels` pair and every expression must hold. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) if (labels[key] !== value) return false;
  for (const { key, operator, values } of selector.matchExpressions) {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (operator) {
      case "In":
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case "NotIn":
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/**
 * A selector in kubectl's `-l` syntax, for messages.
 * @example describeSelector({ matchLabels: { "toolkit.fluxcd.io/tenant": "dev-team" }, matchExpressions: [] }) // "toolkit.fluxcd.io/tenant=dev-team"
 */
export function describeSelector(selector: LabelSelector): string {
  const terms = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values } of selector.matchExpressions) {
    if (operator === "In") terms.push(`${key} in (${values.join(",")})`);
    else if (operator === "NotIn") terms.push(`${key} notin (${values.join(",")})`);
    else if (operator === "Exists") terms.push(key);
    else terms.push(`!${key}`);
  }
  return terms.join(",");
}
