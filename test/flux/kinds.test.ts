import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { load } from "js-yaml";
import { z } from "zod";
import { FLUX_KIND_NAMES, FLUX_KINDS, findFluxKind, fluxKind } from "../../src/flux/kinds.ts";

const CRDS_DIR = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "flux", "crds");

const crdSchema = z.object({
  kind: z.literal("CustomResourceDefinition"),
  spec: z.object({
    group: z.string(),
    names: z.object({ kind: z.string(), plural: z.string() }),
    scope: z.enum(["Namespaced", "Cluster"]),
    versions: z.array(
      z.object({ name: z.string(), served: z.boolean(), storage: z.boolean(), subresources: z.object({ status: z.unknown().optional() }).optional() }),
    ),
  }),
});

/** What the CRD files say, in the registry's shape. */
function fromCrds() {
  return readdirSync(CRDS_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => {
      const crd = crdSchema.parse(load(readFileSync(join(CRDS_DIR, f), "utf8")));
      const served = crd.spec.versions.filter((v) => v.served);
      assert.equal(served.length, 1, `${f}: Flux 2.9 serves one version per kind`);
      const v = served[0];
      assert.ok(v !== undefined && v.storage, `${f}: the served version is the storage version`);
      return {
        kind: crd.spec.names.kind,
        group: crd.spec.group,
        version: v.name,
        apiVersion: `${crd.spec.group}/${v.name}`,
        plural: crd.spec.names.plural,
        namespaced: crd.spec.scope === "Namespaced",
        statusSubresource: v.subresources?.status !== undefined,
      };
    })
    .sort((a, b) => a.kind.localeCompare(b.kind));
}

describe("the Flux kinds registry", () => {
  it("matches the group, served version, plural, scope and status subresource of every CRD in the fixtures", () => {
    const registry = FLUX_KINDS.map((k) => ({ ...k })).sort((a, b) => a.kind.localeCompare(b.kind));
    assert.deepEqual(registry, fromCrds());
  });

  it("lists every kind once, in the order of FLUX_KIND_NAMES", () => {
    assert.deepEqual(FLUX_KINDS.map((k) => k.kind), [...FLUX_KIND_NAMES]);
  });

  it("serves Alert and Provider at v1beta3 (no v1 exists) without a status subresource", () => {
    assert.deepEqual(
      [fluxKind("Alert"), fluxKind("Provider")].map((k) => [k.apiVersion, k.statusSubresource]),
      [["notification.toolkit.fluxcd.io/v1beta3", false], ["notification.toolkit.fluxcd.io/v1beta3", false]],
    );
  });

  it("finds a kind by name, and by name and apiVersion only at the version Flux 2.9 serves", () => {
    assert.equal(findFluxKind("Kustomization")?.plural, "kustomizations");
    assert.equal(findFluxKind("HelmRelease", "helm.toolkit.fluxcd.io/v2")?.plural, "helmreleases");
    assert.equal(findFluxKind("HelmRelease", "helm.toolkit.fluxcd.io/v2beta2"), undefined);
    assert.equal(findFluxKind("Deployment"), undefined);
  });

  it("hands out frozen entries", () => {
    assert.equal(Object.isFrozen(fluxKind("GitRepository")), true);
    assert.equal(Object.isFrozen(FLUX_KINDS), true);
  });
});
