import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { denialsOf, fluxObject } from "../admission-request.ts";

const RULE = "cross-namespace-refs";
const NONE = 'tenant "dev-team" may not reference other namespaces';

/** The violation for a reference at `path` into `namespace`. */
const into = (path: string, namespace: string, allowed = NONE) => ({ rule: RULE, path, value: namespace, message: `${path}: ${JSON.stringify(namespace)} is another namespace; ${allowed}` });

describe("cross-namespace-refs", () => {
  const cases = [
    {
      kind: "Kustomization sourceRef, dependsOn and healthChecks",
      object: fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", {
        serviceAccountName: "dev-team",
        sourceRef: { kind: "GitRepository", name: "fleet", namespace: "flux-system" },
        dependsOn: [{ name: "same" }, { name: "infra", namespace: "infra" }],
        healthChecks: [{ apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "apps" }, { apiVersion: "apps/v1", kind: "Deployment", name: "db", namespace: "data" }],
      }),
      expected: [into("spec.sourceRef.namespace", "flux-system"), into("spec.dependsOn[1].namespace", "infra"), into("spec.healthChecks[1].namespace", "data")],
    },
    {
      kind: "HelmRelease chart sourceRef and dependsOn",
      object: fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", {
        chart: { spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo", namespace: "shared" } } },
        dependsOn: [{ name: "db", namespace: "data" }],
      }),
      expected: [into("spec.chart.spec.sourceRef.namespace", "shared"), into("spec.dependsOn[0].namespace", "data")],
    },
    {
      kind: "HelmRelease chartRef",
      object: fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { chartRef: { kind: "OCIRepository", name: "podinfo", namespace: "shared" } }),
      expected: [into("spec.chartRef.namespace", "shared")],
    },
    {
      kind: "ImagePolicy imageRepositoryRef",
      object: fluxObject("image.toolkit.fluxcd.io/v1", "ImagePolicy", { imageRepositoryRef: { name: "app", namespace: "images" }, policy: { semver: { range: "1.x" } } }),
      expected: [into("spec.imageRepositoryRef.namespace", "images")],
    },
    {
      kind: "ImageUpdateAutomation sourceRef",
      object: fluxObject("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation", { sourceRef: { kind: "GitRepository", name: "fleet", namespace: "flux-system" } }),
      expected: [into("spec.sourceRef.namespace", "flux-system")],
    },
    {
      kind: "Receiver resources",
      object: fluxObject("notification.toolkit.fluxcd.io/v1", "Receiver", {
        type: "github",
        resources: [{ kind: "GitRepository", name: "app" }, { kind: "GitRepository", name: "*", namespace: "flux-system", matchLabels: { team: "dev" } }],
      }),
      expected: [into("spec.resources[1].namespace", "flux-system")],
    },
    {
      kind: "Alert eventSources",
      object: fluxObject("notification.toolkit.fluxcd.io/v1beta3", "Alert", {
        providerRef: { name: "slack" },
        eventSources: [{ kind: "Kustomization", name: "*", namespace: "flux-system" }, { kind: "HelmRelease", name: "web", namespace: "apps" }],
      }),
      expected: [into("spec.eventSources[0].namespace", "flux-system")],
    },
    {
      kind: "ExternalArtifact sourceRef",
      object: fluxObject("source.toolkit.fluxcd.io/v1", "ExternalArtifact", { sourceRef: { apiVersion: "source.extensions.fluxcd.io/v1beta1", kind: "ArtifactGenerator", name: "gen", namespace: "flux-system" } }),
      expected: [into("spec.sourceRef.namespace", "flux-system")],
    },
    {
      kind: "ArtifactGenerator sources",
      object: fluxObject("source.extensions.fluxcd.io/v1beta1", "ArtifactGenerator", {
        sources: [{ alias: "mono", kind: "GitRepository", name: "fleet", namespace: "flux-system" }],
        artifacts: [],
      }),
      expected: [into("spec.sources[0].namespace", "flux-system")],
    },
  ];
  for (const { kind, object, expected } of cases) {
    it(`denies references into another namespace: ${kind}`, () => {
      assert.deepEqual(denialsOf(RULE, object), expected);
    });
  }

  it("allows references that name the object's own namespace or none", () => {
    const o = fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", {
      sourceRef: { kind: "GitRepository", name: "app", namespace: "apps" },
      dependsOn: [{ name: "a" }, { name: "b", namespace: "" }],
    });
    assert.deepEqual(denialsOf(RULE, o), []);
  });

  it("allows a listed (namespace, kind) pair and names the pairs when another kind is referenced there", () => {
    const tenant = { crossNamespaceRefs: [{ namespace: "flux-system", kind: "HelmRepository" }, { namespace: "shared", kind: "OCIRepository" }] };
    const release = (sourceRef: object) => fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { chart: { spec: { chart: "podinfo", sourceRef } } });
    assert.deepEqual(denialsOf(RULE, release({ kind: "HelmRepository", name: "bitnami", namespace: "flux-system" }), tenant), []);
    assert.deepEqual(denialsOf(RULE, release({ kind: "GitRepository", name: "charts", namespace: "flux-system" }), tenant), [
      into("spec.chart.spec.sourceRef.namespace", "flux-system", 'tenant "dev-team" may reference only HelmRepository in flux-system or OCIRepository in shared'),
    ]);
  });

  it("takes the kind a reference implies when it names none: dependsOn of a Kustomization, an automation's GitRepository", () => {
    const tenant = { crossNamespaceRefs: [{ namespace: "infra", kind: "Kustomization" }, { namespace: "flux-system", kind: "GitRepository" }] };
    const kustomization = fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", { serviceAccountName: "dev-team", sourceRef: { kind: "GitRepository", name: "app" }, dependsOn: [{ name: "infra", namespace: "infra" }] });
    const automation = fluxObject("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation", { sourceRef: { name: "fleet", namespace: "flux-system" } });
    assert.deepEqual(denialsOf(RULE, kustomization, tenant), []);
    assert.deepEqual(denialsOf(RULE, automation, tenant), []);
  });

  it("denies a reference into another of the tenant's own namespaces, as Flux's --no-cross-namespace-refs would", () => {
    const o = fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", { sourceRef: { kind: "GitRepository", name: "app", namespace: "apps-db" } });
    assert.deepEqual(denialsOf(RULE, o, { namespaces: ["apps", "apps-db"] }), [into("spec.sourceRef.namespace", "apps-db")]);
  });

  it("judges objects at an older served version the same way", () => {
    const o = fluxObject("kustomize.toolkit.fluxcd.io/v1beta2", "Kustomization", { sourceRef: { kind: "GitRepository", name: "fleet", namespace: "flux-system" } });
    assert.deepEqual(denialsOf(RULE, o), [into("spec.sourceRef.namespace", "flux-system")]);
  });
});
