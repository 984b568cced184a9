/**
 * The rendered webhook configurations and RBAC against what the code handles: the validating webhook matches every
 * kind (at every version) the admission rules judge and nothing else, the mutating one every kind a rule repairs,
 * both with the safe settings of admission.md §2.1; each role's rights are exactly what it uses.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FIELD_PATHS } from "../../src/flux/field-paths.ts";
import { FLUX_KINDS } from "../../src/flux/kinds.ts";
import { FLUXGATE_POLICY } from "../../src/policy/cluster-policies.ts";
import { NO_KUBECTL, find, render } from "./render.ts";

type Rule = { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[]; scope: string };
type Webhook = {
  name: string;
  admissionReviewVersions: string[];
  sideEffects: string;
  failurePolicy: string;
  matchPolicy: string;
  timeoutSeconds: number;
  reinvocationPolicy?: string;
  clientConfig: { service: { namespace: string; name: string; path: string; port: number } };
  namespaceSelector: unknown;
  matchConditions: unknown;
  rules: Rule[];
};
type PolicyRule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

/** Kinds the rules judge that are not Flux 2.9 CRDs of src/flux/kinds.ts, with their REST plural. */
const OTHER_PLURALS: Record<string, string> = { ArtifactGenerator: "artifactgenerators", FluxInstance: "fluxinstances" };

function pluralOf(kind: string): string {
  const plural = FLUX_KINDS.find((k) => k.kind === kind)?.plural ?? OTHER_PLURALS[kind];
  assert.ok(plural !== undefined, `no plural known for ${kind}: add it to OTHER_PLURALS`);
  return plural;
}

/** `resource.group` for every group × resource a webhook's rules name. */
const matched = (rules: Rule[]) => rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${res}.${g}`))).sort();

const EXCLUDED_NAMESPACES = {
  matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", "kube-node-lease", "flux-system", "fluxgate-system"] }],
};
const SKIPPED_USERS = [
  { name: "not-flux-controllers", expression: '!request.userInfo.username.startsWith("system:serviceaccount:flux-system:")' },
  { name: "not-fluxgate-worker", expression: 'request.userInfo.username != "system:serviceaccount:fluxgate-system:fluxgate-worker"' },
];

describe("the webhook configurations of deploy/base", { skip: NO_KUBECTL }, () => {
  const webhook = async (kind: string): Promise<Webhook> => {
    const config = find(await render("base"), kind, "fluxgate") as unknown as { webhooks: Webhook[] };
    assert.equal(config.webhooks.length, 1);
    return config.webhooks[0]!;
  };

  it("validates CREATE and UPDATE of every kind the admission rules judge, at any version, and nothing else", async () => {
    const v = await webhook("ValidatingWebhookConfiguration");
    const judged = FIELD_PATHS.map((p) => `${pluralOf(p.kind)}.${p.group}`).sort();
    assert.deepEqual(matched(v.rules), judged);
    for (const r of v.rules) {
      assert.deepEqual({ apiVersions: r.apiVersions, operations: r.operations, scope: r.scope }, { apiVersions: ["*"], operations: ["CREATE", "UPDATE"], scope: "Namespaced" }, r.apiGroups[0]);
      assert.equal(r.apiGroups.length, 1, "one group per rule, so groups × resources names no resource that does not exist");
      assert.ok(!r.resources.some((res) => res.includes("*") || res.includes("/")), "no wildcards, no subresources (status writes stay unjudged)");
    }
  });

  it("mutates only the kinds a rule repairs: those that run as an impersonated service account", async () => {
    const m = await webhook("MutatingWebhookConfiguration");
    const repaired = FIELD_PATHS.filter((p) => p.impersonatedServiceAccount !== undefined).map((p) => `${pluralOf(p.kind)}.${p.group}`).sort();
    assert.deepEqual(matched(m.rules), repaired);
    assert.deepEqual(repaired, ["helmreleases.helm.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"]);
  });

  it("fails closed when validating and open when mutating, with short timeouts and no side effects", async () => {
    const v = await webhook("ValidatingWebhookConfiguration");
    const m = await webhook("MutatingWebhookConfiguration");
    const settings = (w: Webhook) => ({
      name: w.name,
      admissionReviewVersions: w.admissionReviewVersions,
      sideEffects: w.sideEffects,
      failurePolicy: w.failurePolicy,
      matchPolicy: w.matchPolicy,
      timeoutSeconds: w.timeoutSeconds,
      reinvocationPolicy: w.reinvocationPolicy,
      clientConfig: w.clientConfig,
    });
    assert.deepEqual(settings(v), {
      name: "validate.fluxgate.io",
      admissionReviewVersions: ["v1"],
      sideEffects: "None",
      failurePolicy: "Fail",
      matchPolicy: "Equivalent",
      timeoutSeconds: 5,
      reinvocationPolicy: undefined,
      clientConfig: { service: { namespace: "fluxgate-system", name: "fluxgate", path: "/validate", port: 443 } },
    });
    assert.deepEqual(settings(m), {
      name: "mutate.fluxgate.io",
      admissionReviewVersions: ["v1"],
      sideEffects: "None",
      failurePolicy: "Ignore",
      matchPolicy: "Equivalent",
      timeoutSeconds: 3,
      reinvocationPolicy: "IfNeeded",
      clientConfig: { service: { namespace: "fluxgate-system", name: "fluxgate", path: "/mutate", port: 443 } },
    });
  });

  it("leaves out kube-system, kube-node-lease, flux-system and its own namespace, Flux's controllers and the worker", async () => {
    for (const kind of ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]) {
      const w = await webhook(kind);
      assert.deepEqual(w.namespaceSelector, EXCLUDED_NAMESPACES, kind);
      assert.deepEqual(w.matchConditions, SKIPPED_USERS, kind);
    }
  });
});

describe("the RBAC of deploy/base", { skip: NO_KUBECTL }, () => {
  const rulesOf = async (kind: string, name: string) => find(await render("base"), kind, name)["rules"] as PolicyRule[];
  const grants = (rules: PolicyRule[]) =>
    rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${g === "" ? res : `${res}.${g}`}${r.resourceNames ? ` ${r.resourceNames.join(",")}` : ""}`)))).sort();

  it("lets the worker read and patch every Flux kind, never create, update or delete one", async () => {
    const rules = await rulesOf("ClusterRole", "fluxgate-worker");
    const flux = FLUX_KINDS.flatMap((k) => ["get", "list", "watch", "patch"].map((v) => `${v} ${k.plural}.${k.group}`));
    const policies = ["get", "list", "watch"].map((v) => `${v} ${FLUXGATE_POLICY.plural}.${FLUXGATE_POLICY.group}`);
    assert.deepEqual(grants(rules), [...flux, ...policies, "get namespaces", "list namespaces", "watch namespaces"].sort());
    assert.deepEqual(grants(await rulesOf("Role", "fluxgate-worker-leader-election")), ["create leases.coordination.k8s.io", "get leases.coordination.k8s.io fluxgate-freeze", "update leases.coordination.k8s.io fluxgate-freeze"]);
  });

  it("lets the receiver read Receivers and get Secrets, and the gate only read policies and namespaces", async () => {
    assert.deepEqual(grants(await rulesOf("ClusterRole", "fluxgate-receiver")), [
      "get receivers.notification.toolkit.fluxcd.io",
      "get secrets",
      "list receivers.notification.toolkit.fluxcd.io",
      "watch receivers.notification.toolkit.fluxcd.io",
    ]);
    assert.deepEqual(grants(await rulesOf("ClusterRole", "fluxgate-admission")), [
      "get fluxgatepolicies.fluxgate.io",
      "get fluxgatepolicies/status.fluxgate.io",
      "get namespaces",
      "list fluxgatepolicies.fluxgate.io",
      "list namespaces",
      "patch fluxgatepolicies/status.fluxgate.io",
      "update fluxgatepolicies/status.fluxgate.io",
      "watch fluxgatepolicies.fluxgate.io",
      "watch namespaces",
    ]);
  });

  it("binds each role to its own ServiceAccount in fluxgate-system", async () => {
    const objects = await render("base");
    for (const role of ["admission", "receiver", "worker"]) {
      const binding = find(objects, "ClusterRoleBinding", `fluxgate-${role}`) as unknown as { roleRef: unknown; subjects: unknown };
      assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `fluxgate-${role}` });
      assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: `fluxgate-${role}`, namespace: "fluxgate-system" }]);
    }
  });
});
