import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { denialsOf, fluxObject } from "../admission-request.ts";

const RULE = "remote-kubeconfig";

describe("remote-kubeconfig", () => {
  const objects = [
    fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", { serviceAccountName: "dev-team", kubeConfig: { secretRef: { name: "prod", key: "value" } } }),
    fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { serviceAccountName: "dev-team", kubeConfig: { configMapRef: { name: "prod-cluster" } } }),
  ];

  it("denies a Kustomization whose kubeConfig secretRef points at a remote cluster", () => {
    assert.deepEqual(denialsOf(RULE, objects[0] ?? assert.fail()), [
      {
        rule: RULE,
        path: "spec.kubeConfig",
        value: { secretRef: { name: "prod", key: "value" } },
        message: 'spec.kubeConfig: {"secretRef":{"name":"prod","key":"value"}} applies to a remote cluster; tenant "dev-team" may apply only to this cluster',
      },
    ]);
  });

  it("denies a HelmRelease whose kubeConfig configMapRef points at a remote cluster", () => {
    assert.deepEqual(denialsOf(RULE, objects[1] ?? assert.fail()), [
      {
        rule: RULE,
        path: "spec.kubeConfig",
        value: { configMapRef: { name: "prod-cluster" } },
        message: 'spec.kubeConfig: {"configMapRef":{"name":"prod-cluster"}} applies to a remote cluster; tenant "dev-team" may apply only to this cluster',
      },
    ]);
  });

  it("allows remote clusters to a tenant with allowKubeConfig, and local applies to everyone", () => {
    for (const o of objects) assert.deepEqual(denialsOf(RULE, o, { allowKubeConfig: true }), []);
    assert.deepEqual(denialsOf(RULE, fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", { serviceAccountName: "dev-team" })), []);
  });
});
