import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { load } from "js-yaml";
import { FIELD_PATHS, fieldPathsFor, jsonPointer, valueAt, valuesAt } from "../../src/flux/field-paths.ts";
import type { KindFieldPaths } from "../../src/flux/field-paths.ts";
import { FLUX_KIND_NAMES, fluxKind } from "../../src/flux/kinds.ts";

const CRDS_DIR = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "flux", "crds");

type Schema = { properties?: Record<string, Schema>; items?: Schema; "x-kubernetes-preserve-unknown-fields"?: boolean };
type Crd = { spec: { names: { kind: string }; versions: { served: boolean; schema: { openAPIV3Schema: Schema } }[] } };

/** The served version's OpenAPI schema of each CRD in the fixtures, by kind. */
const SCHEMAS = new Map(
  readdirSync(CRDS_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => {
      const crd = load(readFileSync(join(CRDS_DIR, f), "utf8")) as Crd;
      const served = crd.spec.versions.find((v) => v.served);
      assert.ok(served !== undefined);
      return [crd.spec.names.kind, served.schema.openAPIV3Schema] as const;
    }),
);

/** Whether a table path (`spec.dependsOn[]`, `spec.sourceRef`) names a field the schema declares. */
function declared(schema: Schema, path: string): boolean {
  let node: Schema | undefined = schema;
  for (const segment of path.split(".")) {
    const list = segment.endsWith("[]");
    node = node?.properties?.[list ? segment.slice(0, -2) : segment];
    if (list) node = node?.items;
    if (node === undefined) return false;
  }
  return true;
}

/** Every path an entry names. */
function pathsOf(p: KindFieldPaths): string[] {
  return [
    ...p.crossNamespaceRefs.flatMap((r) => [r.path, `${r.path}.namespace`]),
    ...(p.impersonatedServiceAccount === undefined ? [] : [p.impersonatedServiceAccount]),
    ...p.otherServiceAccounts,
    ...(p.kubeConfig === undefined ? [] : [p.kubeConfig]),
    ...p.sources.flatMap((s) => [s.path, ...(s.bucketNamePath === undefined ? [] : [s.bucketNamePath])]),
    ...p.insecure,
    ...p.targetNamespaces,
    ...(p.createNamespace === undefined ? [] : [p.createNamespace]),
    ...p.versions.flatMap((v) => [
      v.path,
      ...(v.chartName === undefined ? [] : ["path" in v.chartName ? v.chartName.path : v.chartName.lastSegmentOf]),
      ...(v.ignoredForSources === undefined ? [] : [v.ignoredForSources.path]),
    ]),
    ...(p.suspend === undefined ? [] : [p.suspend]),
  ];
}

describe("FIELD_PATHS", () => {
  it("covers every Flux 2.9 kind with its group, plus ArtifactGenerator and FluxInstance", () => {
    assert.deepEqual(
      FIELD_PATHS.map((p) => `${p.kind}.${p.group}`),
      [...FLUX_KIND_NAMES.map((k) => `${k}.${fluxKind(k).group}`), "ArtifactGenerator.source.extensions.fluxcd.io", "FluxInstance.fluxcd.controlplane.io"],
    );
  });

  for (const entry of FIELD_PATHS.filter((p) => SCHEMAS.has(p.kind))) {
    it(`names only fields the ${entry.kind} CRD declares`, () => {
      const schema = SCHEMAS.get(entry.kind) ?? assert.fail();
      assert.deepEqual(pathsOf(entry).filter((p) => !declared(schema, p)), []);
    });
  }

  it("lists the references that can name another namespace, per kind (flux-policy.md §2.3 a)", () => {
    const refs = FIELD_PATHS.filter((p) => p.crossNamespaceRefs.length > 0).map(
      (p) => `${p.kind}: ${p.crossNamespaceRefs.map((r) => `${r.path}${r.defaultKind === undefined ? "" : ` (${r.defaultKind})`}${r.blockedByFlag ? " [flag]" : ""}`).join(", ")}`,
    );
    assert.deepEqual(refs, [
      "ExternalArtifact: spec.sourceRef",
      "Kustomization: spec.sourceRef [flag], spec.dependsOn[] (Kustomization), spec.healthChecks[]",
      "HelmRelease: spec.chart.spec.sourceRef [flag], spec.chartRef [flag], spec.dependsOn[] (HelmRelease)",
      "ImagePolicy: spec.imageRepositoryRef (ImageRepository) [flag]",
      "ImageUpdateAutomation: spec.sourceRef (GitRepository) [flag]",
      "Receiver: spec.resources[] [flag]",
      "Alert: spec.eventSources[] [flag]",
      "ArtifactGenerator: spec.sources[] [flag]",
    ]);
  });

  it("lists service accounts, kubeconfigs, sources, plain-HTTP switches, targets, versions and suspend, per kind (§2.3 b–g)", () => {
    const line = (p: KindFieldPaths) =>
      [
        p.impersonatedServiceAccount === undefined ? "" : `impersonates ${p.impersonatedServiceAccount}`,
        p.otherServiceAccounts.length === 0 ? "" : `SA ${p.otherServiceAccounts.join(" ")}`,
        p.kubeConfig === undefined ? "" : `remote ${p.kubeConfig}`,
        p.sources.length === 0 ? "" : `source ${p.sources.map((s) => `${s.path}(${s.form})`).join(" ")}`,
        p.insecure.length === 0 ? "" : `insecure ${p.insecure.join(" ")}`,
        p.targetNamespaces.length === 0 ? "" : `targets ${p.targetNamespaces.join(" ")}`,
        p.createNamespace === undefined ? "" : `creates ${p.createNamespace}`,
        p.versions.length === 0 ? "" : `version ${p.versions.map((v) => `${v.path}(${v.subject}${v.default === undefined ? "" : ` default ${v.default}`})`).join(" ")}`,
        p.suspend === undefined ? "" : "suspend",
      ]
        .filter((s) => s !== "")
        .join("; ");
    assert.deepEqual(Object.fromEntries(FIELD_PATHS.map((p) => [p.kind, line(p)])), {
      GitRepository: "SA spec.serviceAccountName; source spec.url(url); suspend",
      OCIRepository: "SA spec.serviceAccountName; source spec.url(url); insecure spec.insecure; version spec.ref.semver(chart); suspend",
      HelmRepository: "source spec.url(url); insecure spec.insecure; suspend",
      HelmChart: "version spec.version(chart default *); suspend",
      Bucket: "SA spec.serviceAccountName; source spec.endpoint(bucket); insecure spec.insecure; suspend",
      ExternalArtifact: "",
      Kustomization: "impersonates spec.serviceAccountName; SA spec.decryption.serviceAccountName; remote spec.kubeConfig; targets spec.targetNamespace; suspend",
      HelmRelease:
        "impersonates spec.serviceAccountName; remote spec.kubeConfig; targets spec.targetNamespace spec.storageNamespace; creates spec.install.createNamespace; version spec.chart.spec.version(chart default *); suspend",
      ImageRepository: "SA spec.serviceAccountName; source spec.image(image); insecure spec.insecure; suspend",
      ImagePolicy: "suspend",
      ImageUpdateAutomation: "suspend",
      Receiver: "suspend",
      Alert: "suspend",
      Provider: "SA spec.serviceAccountName; suspend",
      ArtifactGenerator: "",
      FluxInstance: "version spec.distribution.version(flux)",
    });
  });
});

describe("fieldPathsFor", () => {
  it("finds a kind by group and kind, whatever the version, and nothing for other groups", () => {
    assert.equal(fieldPathsFor("kustomize.toolkit.fluxcd.io", "Kustomization")?.kubeConfig, "spec.kubeConfig");
    assert.equal(fieldPathsFor("kustomize.config.k8s.io", "Kustomization"), undefined);
    assert.equal(fieldPathsFor("", "ConfigMap"), undefined);
  });
});

describe("valuesAt", () => {
  const object = { spec: { sourceRef: { name: "a" }, dependsOn: [{ name: "x" }, { name: "y", namespace: "infra" }], empty: null } };

  it("reads a field with its path, and expands lists with their indexes", () => {
    assert.deepEqual(valuesAt(object, "spec.sourceRef"), [{ path: "spec.sourceRef", value: { name: "a" } }]);
    assert.deepEqual(valuesAt(object, "spec.dependsOn[]"), [
      { path: "spec.dependsOn[0]", value: { name: "x" } },
      { path: "spec.dependsOn[1]", value: { name: "y", namespace: "infra" } },
    ]);
  });

  it("gives nothing for missing or null fields, and for a list path over a non-list", () => {
    assert.deepEqual([valuesAt(object, "spec.kubeConfig"), valuesAt(object, "spec.empty"), valuesAt(object, "spec.sourceRef[]"), valuesAt("text", "spec")], [[], [], [], []]);
    assert.equal(valueAt(object, "spec.sourceRef.name"), "a");
    assert.equal(valueAt(object, "spec.chart.spec.version"), undefined);
  });
});

describe("jsonPointer", () => {
  it("turns a dotted path into an escaped JSON Pointer", () => {
    assert.equal(jsonPointer("spec.serviceAccountName"), "/spec/serviceAccountName");
    assert.equal(jsonPointer("metadata.labels.team/x~y"), "/metadata/labels/team~1x~0y");
  });
});
