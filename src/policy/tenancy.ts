/**
 * The multi-tenancy policy (`policy:` in the configuration file): who the tenants are, which namespaces they own and
 * what their Flux objects may do, which identities and namespaces are never judged, and whether each rule denies
 * (`enforce`) or only warns (`audit`). Keys are named after the Flux fields they limit. An empty policy is valid
 * and denies nothing: with no tenants, no namespace is judged.
 */
import { z } from "zod";
import { labelSelectorSchema } from "./label-selector.ts";
import { breakGlassSchema, windowsSchema } from "./windows.ts";
import { versionRange } from "./version-range.ts";

/** The admission rules a policy can set a mode for, in the order they run. */
export const RULE_NAMES = ["cross-namespace-refs", "service-account", "remote-kubeconfig", "source-url", "target-namespace", "semver-range"] as const;

export type RuleName = (typeof RULE_NAMES)[number];

/** Every rule with a mode: the tenancy rules and the deployment-window check (`src/policy/windows.ts`). */
export const MODED_RULES = [...RULE_NAMES, "deployment-window"] as const;
export type ModedRule = (typeof MODED_RULES)[number];

/** `enforce` denies a request that breaks the rule; `audit` lets it through with a warning. */
export const ruleMode = z.enum(["enforce", "audit"], { error: 'expected "enforce" (deny) or "audit" (allow with a warning)' });

/**
 * The Flux controllers' and Fluxgate's own service accounts (`namespace:name`). Their writes (finalizers, status,
 * HelmCharts made from HelmReleases, Receiver-triggered patches, server-side dry runs) must never be blocked, or Flux
 * stalls and deletions hang.
 */
export const DEFAULT_EXEMPT_SERVICE_ACCOUNTS = [
  "flux-system:source-controller",
  "flux-system:kustomize-controller",
  "flux-system:helm-controller",
  "flux-system:notification-controller",
  "flux-system:image-reflector-controller",
  "flux-system:image-automation-controller",
  "flux-system:source-watcher",
  "fluxgate-system:fluxgate",
];

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "expected a Kubernetes name: lowercase letters, digits and '-', at most 63");
const dnsSubdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "expected a Kubernetes object name: lowercase letters, digits, '-' and '.'");
const kindName = z.string().regex(/^[A-Z][A-Za-z0-9]*$/, "expected a kind like HelmRepository");
const glob = z.string().regex(/^\S+$/, "expected a glob without spaces");
const range = z.string().refine((r) => versionRange(r) !== undefined, { message: 'expected a semver range like "6.x", ">=1.2.0 <2" or "~2.9"' });

/** A Kubernetes label selector, as in a NetworkPolicy or Flux's `accessFrom.namespaceSelectors`. */
export const labelSelector = labelSelectorSchema("an empty selector would match every namespace; give matchLabels or matchExpressions");

const tenantSchema = z.strictObject({
  name: dnsLabel,
  /** Namespaces the tenant owns, by name. */
  namespaces: z.array(dnsLabel).default([]),
  /**
   * And/or by label, e.g. flux2-multi-tenancy's `toolkit.fluxcd.io/tenant: dev-team`. Needs the namespaces' labels,
   * which only the webhook with a cluster connection has; without them only `namespaces` match.
   */
  namespaceSelector: labelSelector.optional(),
  /**
   * The service account Kustomizations and HelmReleases must run as (`spec.serviceAccountName`, impersonated by
   * kustomize- and helm-controller); the mutating webhook sets it when they name none.
   */
  serviceAccountName: dnsSubdomain,
  /** Other service accounts the tenant's objects may name, e.g. for workload identity on sources and Providers. */
  allowedServiceAccountNames: z.array(dnsSubdomain).default([]),
  sources: z
    .strictObject({
      /**
       * Where GitRepository, OCIRepository, HelmRepository, Bucket and ImageRepository objects may fetch from: globs
       * over `host/path` with scheme, user, `.git` and tag dropped, so `https://github.com/org/*`,
       * `ssh://git@github.com/org/*`, `git@github.com:org/*` and `github.com/org/*` all mean the same. `*` stops at
       * `/`, `**` does not. Empty: no source is allowed.
       */
      urls: z.array(glob).default([]),
      /** Allow plain-HTTP sources: `http://` URLs and `insecure: true`. */
      allowInsecure: z.boolean().default(false),
    })
    .prefault({}),
  /** Namespaces besides the tenant's own that `targetNamespace` and `storageNamespace` may name. */
  targetNamespaces: z.array(dnsLabel).default([]),
  /** Allow HelmReleases to create their target namespace (`spec.install.createNamespace`). */
  allowCreateNamespace: z.boolean().default(false),
  /** The only references into other namespaces the tenant's objects may make, e.g. shared HelmRepositories. */
  crossNamespaceRefs: z.array(z.strictObject({ namespace: dnsLabel, kind: kindName })).default([]),
  /** Allow `spec.kubeConfig`: Kustomizations and HelmReleases applying to another cluster. */
  allowKubeConfig: z.boolean().default(false),
  versions: z
    .strictObject({
      /**
       * Chart version ranges by chart name (a glob; the first entry that matches applies; charts matching none are not
       * limited). Checked on HelmRelease `spec.chart.spec.version`, HelmChart `spec.version` and OCIRepository
       * `spec.ref.semver` (the chart name being the URL's last segment): the object's range must lie inside this one.
       */
      charts: z.array(z.strictObject({ name: glob, range })).default([]),
      /** The range a Flux Operator FluxInstance's `spec.distribution.version` must lie inside. */
      flux: range.optional(),
    })
    .prefault({}),
  /** Rule modes for this tenant only (e.g. `audit` while it is onboarded); the policy's `rules` otherwise. */
  rules: z.partialRecord(z.enum(MODED_RULES), ruleMode).default({}),
});

const serviceAccountRef = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?:([a-z0-9]([-a-z0-9.]*[a-z0-9])?|\*)$/, 'expected "namespace:name" or "namespace:*"');

export const policySchema = z
  .strictObject({
    /** Mode of each rule for every tenant. */
    rules: z.strictObject(Object.fromEntries(MODED_RULES.map((r) => [r, ruleMode.default("enforce")])) as Record<ModedRule, z.ZodDefault<typeof ruleMode>>).prefault({}),
    /** Requests let through without evaluation (and counted as such). */
    exemptions: z
      .strictObject({
        /** Usernames as kube-apiserver sees them, e.g. `system:serviceaccount:ops:deployer` or `jane@example.com`. */
        users: z.array(z.string().min(1)).default([]),
        /** Groups, e.g. `system:masters`. */
        groups: z.array(z.string().min(1)).default([]),
        /** Service accounts as `namespace:name`, or `namespace:*` for all of one namespace. */
        serviceAccounts: z.array(serviceAccountRef).default([...DEFAULT_EXEMPT_SERVICE_ACCOUNTS]),
        /** Namespaces whose objects are never judged, e.g. `flux-system`, `kube-system`. */
        namespaces: z.array(dnsLabel).default([]),
      })
      .prefault({}),
    tenants: z.array(tenantSchema).default([]),
    /** The tenant whose rules apply in namespaces no tenant owns; unset: such objects are not judged. */
    defaultTenant: dnsLabel.optional(),
    /** Deployment windows (allow/deny, cron or one-off ranges); deny wins over allow. See src/policy/windows.ts. */
    windows: windowsSchema.default([]),
    /** Users and groups who may change objects while their window is closed; every such change is recorded. */
    breakGlass: breakGlassSchema.prefault({}),
  })
  .superRefine((p, ctx) => {
    const owner = new Map<string, string>();
    p.tenants.forEach((t, i) => {
      if (p.tenants.findIndex((o) => o.name === t.name) !== i) ctx.addIssue({ code: "custom", path: ["tenants", i, "name"], message: `tenant "${t.name}" is defined twice` });
      t.namespaces.forEach((ns, j) => {
        const other = owner.get(ns);
        if (other !== undefined && other !== t.name) {
          ctx.addIssue({ code: "custom", path: ["tenants", i, "namespaces", j], message: `namespace "${ns}" already belongs to tenant "${other}"` });
        }
        owner.set(ns, t.name);
      });
    });
    if (p.defaultTenant !== undefined && !p.tenants.some((t) => t.name === p.defaultTenant)) {
      ctx.addIssue({ code: "custom", path: ["defaultTenant"], message: `no tenant is named "${p.defaultTenant}"; expected one of the tenants' names` });
    }
  });

/** The parsed policy, every default filled in. */
export type Policy = z.output<typeof policySchema>;
/** What a user writes under `policy:`. */
export type PolicyInput = z.input<typeof policySchema>;
export type Tenant = Policy["tenants"][number];
export type LabelSelector = z.output<typeof labelSelector>;

/**
 * The labels of a namespace, or undefined when they are not known. The webhook gets them from a namespace informer;
 * without one, tenants match namespaces by name only.
 */
export type NamespaceLabels = (namespace: string) => Record<string, string> | undefined;

/** The mode a rule runs in for a tenant (or, without one, the policy's). */
export function ruleModeFor(policy: Policy, tenant: Tenant | undefined, rule: ModedRule): z.output<typeof ruleMode> {
  return tenant?.rules[rule] ?? policy.rules[rule];
}
