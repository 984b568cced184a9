import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { denialsOf, fluxObject } from "../admission-request.ts";

const RULE = "semver-range";
const TENANT = { versions: { charts: [{ name: "podinfo", range: "6.x" }, { name: "cert-*", range: ">=1.14.0 <2" }], flux: "2.9.x" } };

const beyond = (path: string, value: string, what = 'podinfo chart versions in "6.x"') => ({
  rule: RULE,
  path,
  value,
  message: `${path}: ${JSON.stringify(value)} reaches beyond the allowed range; tenant "dev-team" may use ${what} only`,
});

const release = (chartSpec: Record<string, unknown>) =>
  fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { serviceAccountName: "dev-team", chart: { spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo" }, ...chartSpec } } });
const helmChart = (spec: Record<string, unknown>) => fluxObject("source.toolkit.fluxcd.io/v1", "HelmChart", { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo" }, ...spec });
const oci = (url: string, ref: Record<string, unknown>) => fluxObject("source.toolkit.fluxcd.io/v1", "OCIRepository", { url, ref });
const fluxInstance = (version: string) =>
  fluxObject("fluxcd.controlplane.io/v1", "FluxInstance", { distribution: { version, registry: "ghcr.io/fluxcd" } }, "apps", "flux");

describe("semver-range", () => {
  it("allows a HelmRelease chart version inside the range, in semver or Helm's comma syntax", () => {
    for (const version of ["6.5.0", "6.x", "~6.5", ">= 6.1, < 7", "v6.7.1"]) assert.deepEqual(denialsOf(RULE, release({ version }), TENANT), [], version);
  });

  it("denies a HelmRelease chart version that can select versions outside the range", () => {
    assert.deepEqual(denialsOf(RULE, release({ version: ">=1.0.0" }), TENANT), [beyond("spec.chart.spec.version", ">=1.0.0")]);
    assert.deepEqual(denialsOf(RULE, release({ version: "7.0.0" }), TENANT), [beyond("spec.chart.spec.version", "7.0.0")]);
  });

  it("denies a HelmRelease without a chart version, which Flux reads as any version", () => {
    assert.deepEqual(denialsOf(RULE, release({}), TENANT), [
      { rule: RULE, path: "spec.chart.spec.version", message: 'spec.chart.spec.version: not set, so any version; tenant "dev-team" may use podinfo chart versions in "6.x" only' },
    ]);
  });

  it("denies a chart version that is not a semver range", () => {
    assert.deepEqual(denialsOf(RULE, release({ version: "latest" }), TENANT), [
      { rule: RULE, path: "spec.chart.spec.version", value: "latest", message: 'spec.chart.spec.version: "latest" is not a semver range; tenant "dev-team" may use podinfo chart versions in "6.x" only' },
    ]);
  });

  it("limits only charts a name glob matches, the first match deciding", () => {
    const cert = fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { chart: { spec: { chart: "cert-manager", version: "1.13.x", sourceRef: { kind: "HelmRepository", name: "jetstack" } } } });
    assert.deepEqual(denialsOf(RULE, cert, TENANT), [beyond("spec.chart.spec.version", "1.13.x", 'cert-manager chart versions in ">=1.14.0 <2"')]);
    const other = fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { chart: { spec: { chart: "redis", sourceRef: { kind: "HelmRepository", name: "bitnami" } } } });
    assert.deepEqual(denialsOf(RULE, other, TENANT), []);
  });

  it("ignores the version of charts from Git and Bucket sources, as Flux does", () => {
    assert.deepEqual(denialsOf(RULE, release({ chart: "./charts/podinfo", sourceRef: { kind: "GitRepository", name: "app" } }), { versions: { charts: [{ name: "**", range: "6.x" }] } }), []);
    assert.deepEqual(denialsOf(RULE, helmChart({ sourceRef: { kind: "Bucket", name: "charts" } }), TENANT), []);
  });

  it("judges a HelmChart's version", () => {
    assert.deepEqual(denialsOf(RULE, helmChart({ version: "6.2.x" }), TENANT), []);
    assert.deepEqual(denialsOf(RULE, helmChart({ version: "*" }), TENANT), [beyond("spec.version", "*")]);
    assert.deepEqual(denialsOf(RULE, helmChart({}), TENANT), [{ rule: RULE, path: "spec.version", message: 'spec.version: not set, so any version; tenant "dev-team" may use podinfo chart versions in "6.x" only' }]);
  });

  it("judges an OCIRepository's ref.semver by the chart named in its URL, and leaves tags and digests alone", () => {
    assert.deepEqual(denialsOf(RULE, oci("oci://ghcr.io/stefanprodan/charts/podinfo", { semver: "6.x" }), TENANT), []);
    assert.deepEqual(denialsOf(RULE, oci("oci://quay.io/jetstack/charts/cert-manager", { semver: "1.x" }), TENANT), [
      beyond("spec.ref.semver", "1.x", 'cert-manager chart versions in ">=1.14.0 <2"'),
    ]);
    assert.deepEqual(denialsOf(RULE, oci("oci://ghcr.io/stefanprodan/charts/podinfo", { tag: "7.0.0" }), TENANT), []);
  });

  it("judges a FluxInstance's Flux version by versions.flux", () => {
    assert.deepEqual(denialsOf(RULE, fluxInstance("2.9.x"), TENANT), []);
    assert.deepEqual(denialsOf(RULE, fluxInstance("2.x"), TENANT), [beyond("spec.distribution.version", "2.x", 'Flux versions in "2.9.x"')]);
    assert.deepEqual(denialsOf(RULE, fluxInstance("2.x"), {}), []);
  });

  it("does not judge a HelmRelease that takes its chart from chartRef (the referenced source carries the version)", () => {
    const o = fluxObject("helm.toolkit.fluxcd.io/v2", "HelmRelease", { serviceAccountName: "dev-team", chartRef: { kind: "OCIRepository", name: "podinfo" } });
    assert.deepEqual(denialsOf(RULE, o, TENANT), []);
  });
});
