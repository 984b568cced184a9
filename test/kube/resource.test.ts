import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fluxKind } from "../../src/flux/kinds.ts";
import { apiVersionOf, resourceName, resourcePath } from "../../src/kube/resource.ts";

const namespaces = { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false };
const secrets = { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true };
const ks = fluxKind("Kustomization");

describe("resource paths and names", () => {
  it("builds collection, object and status paths under /apis for groups and /api for core", () => {
    assert.equal(resourcePath(ks), "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations");
    assert.equal(resourcePath(ks, "dev"), "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/dev/kustomizations");
    assert.equal(resourcePath(ks, "dev", "apps", "status"), "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/dev/kustomizations/apps/status");
    assert.equal(resourcePath(secrets, "flux-system", "webhook-token"), "/api/v1/namespaces/flux-system/secrets/webhook-token");
    assert.equal(resourcePath(namespaces, "ignored", "dev"), "/api/v1/namespaces/dev");
  });

  it("escapes names that are not URL-safe", () => {
    assert.equal(resourcePath(ks, "dev", "a b/c"), "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/dev/kustomizations/a%20b%2Fc");
  });

  it("names resources as plural.group, with /status for the subresource", () => {
    assert.equal(resourceName(ks), "kustomizations.kustomize.toolkit.fluxcd.io");
    assert.equal(resourceName(fluxKind("HelmRelease"), "status"), "helmreleases.helm.toolkit.fluxcd.io/status");
    assert.equal(resourceName(secrets), "secrets");
    assert.deepEqual([apiVersionOf(ks), apiVersionOf(secrets)], ["kustomize.toolkit.fluxcd.io/v1", "v1"]);
  });
});
