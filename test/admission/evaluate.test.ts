import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { evaluate } from "../../src/admission/evaluate.ts";
import type { Decision, KubeObject } from "../../src/admission/rule.ts";
import { DEFAULT_EXEMPT_SERVICE_ACCOUNTS, RULE_NAMES, policySchema } from "../../src/policy/tenancy.ts";
import { EXAMPLES, JANE, admissionRequest, applyPatch, controller, devTeamPolicy, fluxObject, loadExample } from "./admission-request.ts";
import { kustomizeHelmPolicy, multiTenancyPolicy } from "./multi-tenancy-policy.ts";

/** What happened, in one line: `exempt (not-flux)`, `allowed`, `denied: <messages>`. */
function outcome(d: Decision): string {
  if (d.exempt !== undefined) return `exempt (${d.exempt.kind})`;
  if (d.denials.length > 0) return `denied: ${d.denials.map((v) => v.message).join(" | ")}`;
  if (d.warnings.length > 0) return `warned: ${d.warnings.map((v) => v.message).join(" | ")}`;
  return d.patch.length > 0 ? `patched ${JSON.stringify(d.patch)}` : "allowed";
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => (statSync(join(dir, f)).isDirectory() ? yamlFiles(join(dir, f)) : f.endsWith(".yaml") ? [join(dir, f)] : []));
}

/** The overlay's result for a Flux object: the base with the patch's `spec` keys laid over it. */
const overlay = (base: KubeObject, patch: KubeObject): KubeObject => ({ ...base, spec: { ...base.spec, ...patch.spec } });

const only = (objects: KubeObject[], kind: string, name: string): KubeObject => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found !== undefined, `${kind} ${name} is in the fixture`);
  return found;
};

describe("flux2-multi-tenancy judged by a policy of its own intent", () => {
  const repo = join(EXAMPLES, "flux2-multi-tenancy");

  const judge = (object: KubeObject): string =>
    `${object.kind} ${object.metadata.namespace ?? ""}/${object.metadata.name}: ${outcome(evaluate(admissionRequest(object), multiTenancyPolicy, "validate"))}`;

  it("admits every object the repository applies: the tenant's are judged, flux-system's and non-Flux kinds are not", () => {
    const lines: string[] = [];
    for (const file of yamlFiles(repo).filter((f) => !f.endsWith("-patch.yaml"))) {
      for (const object of loadExample("flux2-multi-tenancy", relative(repo, file))) {
        // kustomization.yaml files configure `kustomize build`; they never reach the API server.
        if (object.apiVersion.startsWith("kustomize.config.k8s.io/")) continue;
        lines.push(`${relative(repo, file)} ${judge(object)}`);
        assert.deepEqual(evaluate(admissionRequest(object), multiTenancyPolicy, "mutate").patch, [], `${file}: ${object.kind} needs no mutation`);
      }
    }
    assert.deepEqual(lines, [
      "clusters/production/infrastructure.yaml Kustomization flux-system/kyverno: exempt (namespace)",
      "clusters/production/infrastructure.yaml Kustomization flux-system/kyverno-policies: exempt (namespace)",
      "clusters/production/tenants.yaml Kustomization flux-system/tenants: exempt (namespace)",
      "clusters/staging/infrastructure.yaml Kustomization flux-system/kyverno: exempt (namespace)",
      "clusters/staging/infrastructure.yaml Kustomization flux-system/kyverno-policies: exempt (namespace)",
      "clusters/staging/tenants.yaml Kustomization flux-system/tenants: exempt (namespace)",
      "infrastructure/kyverno/source.yaml OCIRepository flux-system/kyverno-controller: exempt (namespace)",
      "infrastructure/kyverno/sync.yaml Kustomization flux-system/kyverno-controller: exempt (namespace)",
      "infrastructure/kyverno-policies/verify-flux-images.yaml ClusterPolicy /verify-flux-images: exempt (not-flux)",
      "infrastructure/kyverno-policies/verify-git-repositories.yaml ClusterPolicy /verify-git-repositories: exempt (not-flux)",
      "tenants/base/dev-team/rbac.yaml Namespace /apps: exempt (not-flux)",
      "tenants/base/dev-team/rbac.yaml ServiceAccount apps/dev-team: exempt (not-flux)",
      "tenants/base/dev-team/rbac.yaml RoleBinding apps/gotk-reconciler: exempt (not-flux)",
      "tenants/base/dev-team/sync.yaml GitRepository apps/dev-team: allowed",
      "tenants/base/dev-team/sync.yaml Kustomization apps/dev-team: allowed",
    ]);
  });

  it("admits the staging and production overlays of the tenant's Kustomization", () => {
    const base = loadExample("flux2-multi-tenancy", "tenants", "base", "dev-team", "sync.yaml");
    for (const cluster of ["staging", "production"]) {
      const [patch] = loadExample("flux2-multi-tenancy", "tenants", cluster, "dev-team-patch.yaml");
      assert.ok(patch !== undefined);
      assert.equal(judge(overlay(only(base, "Kustomization", "dev-team"), patch)), "Kustomization apps/dev-team: allowed");
    }
  });

  it("judges the tenant's repository by the Kyverno URL patterns, in https, ssh and scp forms", () => {
    const [gitRepository] = loadExample("flux2-multi-tenancy", "tenants", "base", "dev-team", "sync.yaml");
    assert.ok(gitRepository !== undefined);
    const at = (url: string) => judge({ ...gitRepository, spec: { ...gitRepository.spec, url } });
    assert.equal(at("ssh://git@github.com/fluxcd/flux2-multi-tenancy"), "GitRepository apps/dev-team: allowed");
    assert.equal(at("git@github.com:FluxCD/flux2-multi-tenancy.git"), "GitRepository apps/dev-team: allowed");
    assert.equal(
      at("https://github.com/stefanprodan/podinfo"),
      'GitRepository apps/dev-team: denied: spec.url: "https://github.com/stefanprodan/podinfo" (github.com/stefanprodan/podinfo) is not an allowed source; tenant "dev-team" may use only "https://github.com/fluxcd/?*" or "ssh://git@github.com:fluxcd/?*"',
    );
    assert.equal(
      at("https://github.com/fluxcd"),
      'GitRepository apps/dev-team: denied: spec.url: "https://github.com/fluxcd" (github.com/fluxcd) is not an allowed source; tenant "dev-team" may use only "https://github.com/fluxcd/?*" or "ssh://git@github.com:fluxcd/?*"',
    );
  });

  it("lets the tenant's HelmRelease use a shared HelmRepository in flux-system, and nothing else there", () => {
    const release = (kind: string) =>
      fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", {
        serviceAccountName: "dev-team",
        chart: { spec: { chart: "podinfo", version: "6.x", sourceRef: { kind, name: "podinfo", namespace: "flux-system" } } },
      });
    assert.equal(judge(release("HelmRepository")), "HelmRelease apps/app: allowed");
    assert.equal(
      judge(release("GitRepository")),
      'HelmRelease apps/app: denied: spec.chart.spec.sourceRef.namespace: "flux-system" is another namespace; tenant "dev-team" may reference only HelmRepository in flux-system',
    );
  });
});

describe("flux2-kustomize-helm-example judged by label-selected tenants", () => {
  const podinfo = [...loadExample("flux2-kustomize-helm-example", "apps", "base", "podinfo", "namespace.yaml"), ...loadExample("flux2-kustomize-helm-example", "apps", "base", "podinfo", "repository.yaml")];
  const [baseRelease] = loadExample("flux2-kustomize-helm-example", "apps", "base", "podinfo", "release.yaml");
  const infrastructure = [
    ...loadExample("flux2-kustomize-helm-example", "infrastructure", "controllers", "cert-manager.yaml"),
    ...loadExample("flux2-kustomize-helm-example", "infrastructure", "controllers", "envoy-gateway.yaml"),
  ];
  const namespaces = [...podinfo, ...infrastructure].filter((o) => o.kind === "Namespace");
  const namespaceLabels = (ns: string) => namespaces.find((n) => n.metadata.name === ns)?.metadata.labels;
  assert.ok(baseRelease !== undefined);
  const release = (cluster: string): KubeObject => {
    const [patch] = loadExample("flux2-kustomize-helm-example", "apps", cluster, "podinfo-values.yaml");
    assert.ok(patch !== undefined && patch.spec !== undefined);
    const chart = { spec: { ...(baseRelease.spec?.["chart"] as { spec: object }).spec, ...(patch.spec["chart"] as { spec: object }).spec } };
    return { ...baseRelease, spec: { ...baseRelease.spec, chart } };
  };
  const validate = (o: KubeObject) => evaluate(admissionRequest(o), kustomizeHelmPolicy, "validate", { namespaceLabels });
  const mutate = (o: KubeObject) => evaluate(admissionRequest(o), kustomizeHelmPolicy, "mutate", { namespaceLabels });

  it("finds each tenant by its namespace's toolkit.fluxcd.io/tenant label and admits the sources", () => {
    for (const o of [...podinfo, ...infrastructure].filter((x) => x.kind.endsWith("Repository"))) {
      const d = validate(o);
      assert.equal(`${o.kind} ${o.metadata.name}: ${d.tenant} ${outcome(d)}`, `${o.kind} ${o.metadata.name}: ${o.metadata.name === "podinfo" ? "dev-team" : "sre-team"} allowed`);
    }
  });

  it("denies the HelmReleases as written, which name no service account, and nothing else about them", () => {
    const releases = [release("staging"), release("production"), ...infrastructure.filter((o) => o.kind === "HelmRelease")];
    assert.deepEqual(
      releases.map((o) => outcome(validate(o))),
      [
        'denied: spec.serviceAccountName: not set, so the controller\'s default service account would apply; tenant "dev-team" may use only "dev-team"',
        'denied: spec.serviceAccountName: not set, so the controller\'s default service account would apply; tenant "dev-team" may use only "dev-team"',
        'denied: spec.serviceAccountName: not set, so the controller\'s default service account would apply; tenant "sre-team" may use only "sre-team"',
        'denied: spec.serviceAccountName: not set, so the controller\'s default service account would apply; tenant "sre-team" may use only "sre-team"',
      ],
    );
  });

  it("sets the tenant's service account on each HelmRelease, after which it is admitted and needs no more patching", () => {
    for (const o of [release("staging"), release("production"), ...infrastructure.filter((x) => x.kind === "HelmRelease")]) {
      const { patch, tenant } = mutate(o);
      assert.deepEqual(patch, [{ op: "add", path: "/spec/serviceAccountName", value: tenant }]);
      const patched = applyPatch(o, patch);
      assert.equal(outcome(validate(patched)), "allowed");
      assert.deepEqual(mutate(patched).patch, []);
    }
  });

  it("denies the base podinfo release, whose empty chart version means any version", () => {
    const o = { ...baseRelease, spec: { ...baseRelease.spec, serviceAccountName: "dev-team" } };
    assert.deepEqual(validate(o).denials, [
      {
        rule: "semver-range",
        path: "spec.chart.spec.version",
        message: 'spec.chart.spec.version: not set, so any version; tenant "dev-team" may use podinfo chart versions in ">=1.0.0-alpha" only',
      },
    ]);
  });

  it("judges nothing in a labelled namespace when the namespaces' labels are not known", () => {
    const d = evaluate(admissionRequest(release("production")), kustomizeHelmPolicy, "validate");
    assert.deepEqual(d.exempt, { kind: "no-tenant", reason: 'namespace "podinfo" belongs to no tenant and no default tenant is set' });
  });
});

/** A Kustomization in `apps` that breaks every rule that applies to its kind. */
const lawless = fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", {
  sourceRef: { kind: "GitRepository", name: "platform", namespace: "flux-system" },
  kubeConfig: { secretRef: { name: "prod" } },
  targetNamespace: "kube-system",
});

const LAWLESS_VIOLATIONS = [
  {
    rule: "cross-namespace-refs",
    path: "spec.sourceRef.namespace",
    value: "flux-system",
    message: 'spec.sourceRef.namespace: "flux-system" is another namespace; tenant "dev-team" may not reference other namespaces',
  },
  {
    rule: "service-account",
    path: "spec.serviceAccountName",
    message: 'spec.serviceAccountName: not set, so the controller\'s default service account would apply; tenant "dev-team" may use only "dev-team"',
  },
  {
    rule: "remote-kubeconfig",
    path: "spec.kubeConfig",
    value: { secretRef: { name: "prod" } },
    message: 'spec.kubeConfig: {"secretRef":{"name":"prod"}} applies to a remote cluster; tenant "dev-team" may apply only to this cluster',
  },
  {
    rule: "target-namespace",
    path: "spec.targetNamespace",
    value: "kube-system",
    message: 'spec.targetNamespace: "kube-system" is not a namespace of the tenant; tenant "dev-team" may target only "apps"',
  },
];

describe("evaluate", () => {
  it("reports every violation of an object at once, in rule order, with the tenant and rules in the audit annotations", () => {
    assert.deepEqual(evaluate(admissionRequest(lawless), devTeamPolicy(), "validate"), {
      tenant: "dev-team",
      denials: LAWLESS_VIOLATIONS,
      warnings: [],
      patch: [],
      auditAnnotations: { decision: "denied", tenant: "dev-team", rules: "cross-namespace-refs,service-account,remote-kubeconfig,target-namespace" },
    });
  });

  it("gives the same findings as warnings when every rule is in audit mode", () => {
    const audit = Object.fromEntries(RULE_NAMES.map((r) => [r, "audit"]));
    const tenant = { versions: { charts: [{ name: "podinfo", range: "6.x" }] } };
    const objects = [
      lawless,
      fluxObject("source.toolkit.fluxcd.io/v1", "GitRepository", { url: "http://git.example.com/app" }),
      fluxObject("source.toolkit.fluxcd.io/v1", "HelmChart", { chart: "podinfo", version: ">=6.0.0", sourceRef: { kind: "HelmRepository", name: "podinfo" } }),
    ];
    const enforced = objects.map((o) => evaluate(admissionRequest(o), devTeamPolicy(tenant), "validate"));
    const audited = objects.map((o) => evaluate(admissionRequest(o), devTeamPolicy(tenant, { rules: audit }), "validate"));
    assert.deepEqual(
      audited.map((d) => [d.denials, d.warnings, d.auditAnnotations["decision"]]),
      enforced.map((d) => [[], d.denials, "warned"]),
    );
    assert.deepEqual([...new Set(enforced.flatMap((d) => d.denials.map((v) => v.rule)))].sort(), [...RULE_NAMES].sort());
  });

  it("splits findings by mode, with a tenant's own modes overriding the policy's", () => {
    const d = evaluate(admissionRequest(lawless), devTeamPolicy({ rules: { "remote-kubeconfig": "audit" } }, { rules: { "target-namespace": "audit" } }), "validate");
    assert.deepEqual(d.denials.map((v) => v.rule), ["cross-namespace-refs", "service-account"]);
    assert.deepEqual(d.warnings.map((v) => v.rule), ["remote-kubeconfig", "target-namespace"]);
  });

  it("judges a dry run exactly as the real request", () => {
    assert.deepEqual(evaluate(admissionRequest(lawless, { dryRun: true }), devTeamPolicy(), "validate"), evaluate(admissionRequest(lawless), devTeamPolicy(), "validate"));
    assert.deepEqual(evaluate(admissionRequest(lawless, { dryRun: true }), devTeamPolicy(), "mutate"), evaluate(admissionRequest(lawless), devTeamPolicy(), "mutate"));
  });

  it("in the mutate phase returns only the patch, leaving the violations to the validating call", () => {
    assert.deepEqual(evaluate(admissionRequest(lawless), devTeamPolicy(), "mutate"), {
      tenant: "dev-team",
      denials: [],
      warnings: [],
      patch: [{ op: "add", path: "/spec/serviceAccountName", value: "dev-team" }],
      auditAnnotations: { decision: "patched", tenant: "dev-team", rules: "service-account" },
    });
  });

  it("does not mutate for a rule in audit mode", () => {
    const d = evaluate(admissionRequest(lawless), devTeamPolicy({}, { rules: { "service-account": "audit" } }), "mutate");
    assert.deepEqual([d.patch, d.auditAnnotations], [[], { decision: "unchanged", tenant: "dev-team" }]);
  });

  it("gives a patch that, applied, leaves nothing to patch on reinvocation", () => {
    const policy = devTeamPolicy();
    const patch = evaluate(admissionRequest(lawless), policy, "mutate").patch;
    const again = evaluate(admissionRequest(applyPatch(lawless, patch)), policy, "mutate");
    assert.deepEqual([again.patch, again.auditAnnotations["decision"]], [[], "unchanged"]);
  });

  it("applies the default tenant in namespaces no tenant owns, with the object's namespace as the tenant's own", () => {
    const policy = devTeamPolicy({}, { defaultTenant: "dev-team" });
    const o = fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { serviceAccountName: "dev-team", targetNamespace: "sandbox", storageNamespace: "apps", chartRef: { kind: "OCIRepository", name: "x" } }, "sandbox");
    assert.equal(outcome(evaluate(admissionRequest(o), policy, "validate")), "allowed");
    const away = { ...o, spec: { ...o.spec, targetNamespace: "kube-system" } };
    assert.equal(
      outcome(evaluate(admissionRequest(away), policy, "validate")),
      'denied: spec.targetNamespace: "kube-system" is not a namespace of the tenant; tenant "dev-team" may target only "sandbox" or "apps"',
    );
  });
});

describe("exemptions", () => {
  const policy = devTeamPolicy({}, { exemptions: { users: ["ops@example.com"], groups: ["system:masters"], namespaces: ["kube-system", "flux-system"] } });
  const exemptOf = (input: Parameters<typeof evaluate>[0], p = policy) => {
    const d = evaluate(input, p, "validate");
    const m = evaluate(input, p, "mutate");
    assert.deepEqual([d.denials, d.warnings, d.patch, m.patch], [[], [], [], []]);
    assert.deepEqual(m.exempt, d.exempt);
    return d.exempt;
  };

  it("lets every Flux controller and Fluxgate itself through by default, whatever they write", () => {
    const defaults = devTeamPolicy();
    for (const entry of DEFAULT_EXEMPT_SERVICE_ACCOUNTS) {
      const [ns, name] = entry.split(":");
      const user = { username: `system:serviceaccount:${ns}:${name}`, groups: ["system:serviceaccounts"] };
      assert.deepEqual(exemptOf(admissionRequest(lawless, { user }), defaults), { kind: "service-account", reason: `service account "${ns}:${name}" is exempt (${entry})` });
    }
    assert.deepEqual(
      DEFAULT_EXEMPT_SERVICE_ACCOUNTS.map((e) => e.split(":")[1]),
      ["source-controller", "kustomize-controller", "helm-controller", "notification-controller", "image-reflector-controller", "image-automation-controller", "source-watcher", "fluxgate"],
    );
  });

  it("lets a whole namespace's service accounts through with namespace:*", () => {
    const p = devTeamPolicy({}, { exemptions: { serviceAccounts: ["ci:*"] } });
    const user = { username: "system:serviceaccount:ci:deployer", groups: [] };
    assert.deepEqual(exemptOf(admissionRequest(lawless, { user }), p), { kind: "service-account", reason: 'service account "ci:deployer" is exempt (ci:*)' });
    assert.equal(evaluate(admissionRequest(lawless, { user: controller("helm-controller") }), p, "validate").denials.length, 4);
  });

  it("lets configured users and groups through", () => {
    assert.deepEqual(exemptOf(admissionRequest(lawless, { user: { username: "ops@example.com", groups: [] } })), { kind: "user", reason: 'user "ops@example.com" is exempt' });
    assert.deepEqual(exemptOf(admissionRequest(lawless, { user: { username: "root", groups: ["system:authenticated", "system:masters"] } })), {
      kind: "group",
      reason: 'group "system:masters" is exempt',
    });
  });

  it("lets objects in kube-system and flux-system through when configured, and judges them otherwise", () => {
    const inFluxSystem = { ...lawless, metadata: { name: "x", namespace: "flux-system" } };
    assert.deepEqual(exemptOf(admissionRequest(inFluxSystem)), { kind: "namespace", reason: 'namespace "flux-system" is exempt' });
    assert.deepEqual(exemptOf(admissionRequest({ ...lawless, metadata: { name: "x", namespace: "kube-system" } })), { kind: "namespace", reason: 'namespace "kube-system" is exempt' });
    const judged = evaluate(admissionRequest(inFluxSystem), devTeamPolicy({}, { defaultTenant: "dev-team" }), "validate");
    assert.deepEqual(judged.denials.map((v) => v.rule), ["service-account", "remote-kubeconfig", "target-namespace"]);
  });

  it("lets an update that leaves the spec alone through: finalizers, labels and status", () => {
    const oldObject = lawless;
    const object = { ...lawless, metadata: { ...lawless.metadata, finalizers: ["finalizers.fluxcd.io"], labels: { team: "dev" } }, status: { observedGeneration: 2 } };
    assert.deepEqual(exemptOf(admissionRequest(object, { operation: "UPDATE", oldObject })), {
      kind: "spec-unchanged",
      reason: "the spec is unchanged (metadata, finalizers or status only)",
    });
    const changed = { ...object, spec: { ...object.spec, suspend: true } };
    assert.equal(evaluate(admissionRequest(changed, { operation: "UPDATE", oldObject }), policy, "validate").denials.length, 4);
  });

  it("lets every deletion through", () => {
    assert.deepEqual(exemptOf(admissionRequest(lawless, { operation: "DELETE", oldObject: lawless })), {
      kind: "delete",
      reason: "deletions are always allowed, so Flux can finalize and prune",
    });
  });

  it("does not judge kinds that are not Flux's", () => {
    const configMap: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "apps" }, data: {} };
    assert.deepEqual(exemptOf(admissionRequest(configMap)), { kind: "not-flux", reason: "ConfigMap is not a kind Fluxgate judges" });
    const kustomizeConfig: KubeObject = { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", metadata: { namespace: "apps" } };
    assert.deepEqual(exemptOf(admissionRequest(kustomizeConfig)), { kind: "not-flux", reason: "Kustomization.kustomize.config.k8s.io is not a kind Fluxgate judges" });
  });

  it("does not judge namespaces no tenant owns, and says so in the audit annotations", () => {
    const d = evaluate(admissionRequest({ ...lawless, metadata: { name: "x", namespace: "other" } }), policy, "validate");
    assert.deepEqual(d, {
      exempt: { kind: "no-tenant", reason: 'namespace "other" belongs to no tenant and no default tenant is set' },
      denials: [],
      warnings: [],
      patch: [],
      auditAnnotations: { decision: "exempt", exemption: 'no-tenant: namespace "other" belongs to no tenant and no default tenant is set' },
    });
  });

  it("judges nothing under the empty policy", () => {
    assert.equal(evaluate(admissionRequest(lawless), policySchema.parse({}), "validate").exempt?.kind, "no-tenant");
  });
});
