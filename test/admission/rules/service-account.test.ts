import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { evaluate } from "../../../src/admission/evaluate.ts";
import type { KubeObject } from "../../../src/admission/rule.ts";
import { admissionRequest, applyPatch, denialsOf, devTeamPolicy, fluxObject } from "../admission-request.ts";

const RULE = "service-account";
const ONLY = 'tenant "dev-team" may use only "dev-team"';

const notSet = (path = "spec.serviceAccountName", allowed = ONLY) => ({
  rule: RULE,
  path,
  message: `${path}: not set, so the controller's default service account would apply; ${allowed}`,
});
const notOurs = (path: string, value: string, allowed = ONLY) => ({ rule: RULE, path, value, message: `${path}: ${JSON.stringify(value)} is not a service account of the tenant; ${allowed}` });

const kustomization = (spec: Record<string, unknown>) => fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", { sourceRef: { kind: "GitRepository", name: "app" }, ...spec });
const helmRelease = (spec: Record<string, unknown>) => fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { chartRef: { kind: "OCIRepository", name: "app" }, ...spec });

describe("service-account", () => {
  it("denies a Kustomization and a HelmRelease that name no service account, or an empty one", () => {
    assert.deepEqual(denialsOf(RULE, kustomization({})), [notSet()]);
    assert.deepEqual(denialsOf(RULE, helmRelease({})), [notSet()]);
    assert.deepEqual(denialsOf(RULE, kustomization({ serviceAccountName: "" })), [notSet()]);
  });

  it("denies a Kustomization and a HelmRelease that run as a service account not the tenant's", () => {
    assert.deepEqual(denialsOf(RULE, kustomization({ serviceAccountName: "default" })), [notOurs("spec.serviceAccountName", "default")]);
    assert.deepEqual(denialsOf(RULE, helmRelease({ serviceAccountName: "helm-controller" })), [notOurs("spec.serviceAccountName", "helm-controller")]);
  });

  it("allows the tenant's service account and the others it lists, and lists them all when denying", () => {
    const tenant = { allowedServiceAccountNames: ["dev-team-helm"] };
    assert.deepEqual(denialsOf(RULE, kustomization({ serviceAccountName: "dev-team" }), tenant), []);
    assert.deepEqual(denialsOf(RULE, helmRelease({ serviceAccountName: "dev-team-helm" }), tenant), []);
    assert.deepEqual(denialsOf(RULE, helmRelease({}), tenant), [notSet("spec.serviceAccountName", 'tenant "dev-team" may use only "dev-team" or "dev-team-helm"')]);
  });

  const workloadIdentity: [string, KubeObject, string][] = [
    ["GitRepository", fluxObject("source.toolkit.fluxcd.io/v1", "GitRepository", { url: "https://github.com/org/app", serviceAccountName: "cloud" }), "spec.serviceAccountName"],
    ["OCIRepository", fluxObject("source.toolkit.fluxcd.io/v1", "OCIRepository", { url: "oci://ghcr.io/org/app", serviceAccountName: "cloud" }), "spec.serviceAccountName"],
    ["Bucket", fluxObject("source.toolkit.fluxcd.io/v1", "Bucket", { endpoint: "s3.amazonaws.com", bucketName: "b", serviceAccountName: "cloud" }), "spec.serviceAccountName"],
    ["ImageRepository", fluxObject("image.toolkit.fluxcd.io/v1", "ImageRepository", { image: "ghcr.io/org/app", serviceAccountName: "cloud" }), "spec.serviceAccountName"],
    ["Provider", fluxObject("notification.toolkit.fluxcd.io/v1beta3", "Provider", { type: "googlepubsub", serviceAccountName: "cloud" }), "spec.serviceAccountName"],
    ["Kustomization decryption", kustomization({ serviceAccountName: "dev-team", decryption: { provider: "sops", serviceAccountName: "cloud" } }), "spec.decryption.serviceAccountName"],
  ];
  for (const [kind, object, path] of workloadIdentity) {
    it(`denies a workload-identity service account not the tenant's: ${kind}`, () => {
      assert.deepEqual(denialsOf(RULE, object), [notOurs(path, "cloud")]);
      assert.deepEqual(denialsOf(RULE, object, { allowedServiceAccountNames: ["cloud"] }), []);
    });
  }

  it("lets sources and Providers name no service account: the controllers' default then applies", () => {
    assert.deepEqual(denialsOf(RULE, fluxObject("source.toolkit.fluxcd.io/v1", "GitRepository", { url: "https://github.com/org/app" })), []);
    assert.deepEqual(denialsOf(RULE, fluxObject("notification.toolkit.fluxcd.io/v1beta3", "Provider", { type: "slack" })), []);
  });

  describe("mutation", () => {
    const mutate = (o: KubeObject) => evaluate(admissionRequest(o), devTeamPolicy(), "mutate").patch;
    const cases: [string, KubeObject, unknown[]][] = [
      ["a Kustomization without one", kustomization({}), [{ op: "add", path: "/spec/serviceAccountName", value: "dev-team" }]],
      ["a HelmRelease without one", helmRelease({}), [{ op: "add", path: "/spec/serviceAccountName", value: "dev-team" }]],
      ["an empty one", helmRelease({ serviceAccountName: "" }), [{ op: "replace", path: "/spec/serviceAccountName", value: "dev-team" }]],
      [
        "a Kustomization with no spec at all",
        { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "x", namespace: "apps" } },
        [{ op: "add", path: "/spec", value: { serviceAccountName: "dev-team" } }],
      ],
    ];
    for (const [what, object, patch] of cases) {
      it(`sets the tenant's service account on ${what}, and nothing more on reinvocation`, () => {
        assert.deepEqual(mutate(object), patch);
        const patched = applyPatch(object, mutate(object));
        assert.deepEqual(mutate(patched), []);
        assert.deepEqual(denialsOf(RULE, patched), []);
      });
    }

    it("leaves a service account that is set alone, even one it then denies", () => {
      assert.deepEqual(mutate(kustomization({ serviceAccountName: "dev-team" })), []);
      assert.deepEqual(mutate(kustomization({ serviceAccountName: "default" })), []);
    });

    it("sets nothing on kinds whose service account is optional", () => {
      assert.deepEqual(mutate(fluxObject("source.toolkit.fluxcd.io/v1", "GitRepository", { url: "https://github.com/org/app" })), []);
    });
  });
});
