import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { denialsOf, fluxObject } from "../admission-request.ts";

const RULE = "target-namespace";

const outside = (path: string, value: string, allowed = '"apps"') => ({
  rule: RULE,
  path,
  value,
  message: `${path}: ${JSON.stringify(value)} is not a namespace of the tenant; tenant "dev-team" may target only ${allowed}`,
});
const kustomization = (spec: Record<string, unknown>) => fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", { serviceAccountName: "dev-team", ...spec });
const helmRelease = (spec: Record<string, unknown>) => fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { serviceAccountName: "dev-team", ...spec });

describe("target-namespace", () => {
  it("denies a Kustomization targetNamespace outside the tenant", () => {
    assert.deepEqual(denialsOf(RULE, kustomization({ targetNamespace: "kube-system" })), [outside("spec.targetNamespace", "kube-system")]);
  });

  it("denies a HelmRelease targetNamespace and storageNamespace outside the tenant, both at once", () => {
    assert.deepEqual(denialsOf(RULE, helmRelease({ targetNamespace: "kube-system", storageNamespace: "default" })), [
      outside("spec.targetNamespace", "kube-system"),
      outside("spec.storageNamespace", "default"),
    ]);
  });

  it("denies install.createNamespace unless the tenant has allowCreateNamespace", () => {
    const o = helmRelease({ targetNamespace: "apps", install: { createNamespace: true } });
    assert.deepEqual(denialsOf(RULE, o), [
      { rule: RULE, path: "spec.install.createNamespace", value: true, message: 'spec.install.createNamespace: true creates namespaces; tenant "dev-team" may not create namespaces' },
    ]);
    assert.deepEqual(denialsOf(RULE, o, { allowCreateNamespace: true }), []);
    assert.deepEqual(denialsOf(RULE, helmRelease({ install: { createNamespace: false } })), []);
  });

  it("allows the tenant's own namespaces and those listed in targetNamespaces, and names them when denying", () => {
    const tenant = { namespaces: ["apps", "apps-db"], targetNamespaces: ["shared", "apps-db"] };
    assert.deepEqual(denialsOf(RULE, helmRelease({ targetNamespace: "apps-db", storageNamespace: "shared" }), tenant), []);
    assert.deepEqual(denialsOf(RULE, kustomization({ targetNamespace: "apps" }), tenant), []);
    assert.deepEqual(denialsOf(RULE, kustomization({ targetNamespace: "prod" }), tenant), [outside("spec.targetNamespace", "prod", '"apps", "apps-db" or "shared"')]);
  });

  it("takes namespaces the tenant's selector matches as its own when their labels are known", () => {
    const tenant = { namespaceSelector: { matchLabels: { "toolkit.fluxcd.io/tenant": "dev-team" } } };
    const labels: Record<string, Record<string, string>> = { web: { "toolkit.fluxcd.io/tenant": "dev-team" }, ops: { "toolkit.fluxcd.io/tenant": "sre-team" } };
    const namespaceLabels = (ns: string) => labels[ns];
    const both = '"apps" or namespaces labelled toolkit.fluxcd.io/tenant=dev-team';
    assert.deepEqual(denialsOf(RULE, kustomization({ targetNamespace: "web" }), tenant, { namespaceLabels }), []);
    assert.deepEqual(denialsOf(RULE, kustomization({ targetNamespace: "ops" }), tenant, { namespaceLabels }), [outside("spec.targetNamespace", "ops", both)]);
    // Without the labels only names count.
    assert.deepEqual(denialsOf(RULE, kustomization({ targetNamespace: "web" }), tenant), [outside("spec.targetNamespace", "web", both)]);
  });

  it("allows an empty or absent target: the object's own namespace", () => {
    assert.deepEqual(denialsOf(RULE, helmRelease({ targetNamespace: "", storageNamespace: "apps" })), []);
    assert.deepEqual(denialsOf(RULE, kustomization({})), []);
  });
});
