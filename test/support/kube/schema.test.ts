import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadAll } from "js-yaml";
import { FLUX_CRDS_DIR, type KubeEmulator, startKubeEmulator } from "./emulator.ts";
import { kubeClient, ksPath, kustomization, namespace } from "./kube-fetch.ts";

const EXAMPLES = join(FLUX_CRDS_DIR, "..", "examples");

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((e) => {
      const p = join(dir, e);
      return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(e) ? [p] : [];
    });
}

/** Files kustomize uses as patches (`patches: [{path}]`): partial objects, not meant to be applied. */
function patchFiles(): Set<string> {
  const out = new Set<string>();
  for (const file of yamlFiles(EXAMPLES).filter((f) => f.endsWith("/kustomization.yaml"))) {
    const k = loadAll(readFileSync(file, "utf8"))[0] as { patches?: Array<{ path?: string }> } | null;
    for (const p of k?.patches ?? []) if (p.path !== undefined) out.add(join(file, "..", p.path));
  }
  return out;
}

/** Every Flux object (`*.toolkit.fluxcd.io`) in the example repositories (kustomize patches left out), with its file. */
function fluxExampleObjects(): Array<{ file: string; obj: Obj }> {
  const out: Array<{ file: string; obj: Obj }> = [];
  const patches = patchFiles();
  for (const file of yamlFiles(EXAMPLES).filter((f) => !patches.has(f))) {
    for (const doc of loadAll(readFileSync(file, "utf8"))) {
      const o = doc as Obj | null;
      if (o !== null && typeof o === "object" && typeof o.apiVersion === "string" && o.apiVersion.includes(".toolkit.fluxcd.io/")) out.push({ file, obj: o });
    }
  }
  return out;
}

/** `actual` has everything `expected` has (and maybe more: defaults). */
function assertContains(actual: unknown, expected: unknown, path: string): void {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected)) {
    assert.ok(actual !== null && typeof actual === "object", path);
    for (const [k, v] of Object.entries(expected)) assertContains((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, path);
    expected.forEach((v, i) => assertContains((actual as unknown[])[i], v, `${path}[${i}]`));
  } else assert.deepEqual(actual, expected, path);
}

let kube: KubeEmulator;
let api: ReturnType<typeof kubeClient>;

before(async () => {
  kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
  api = kubeClient(kube.url);
  await api.post("/api/v1/namespaces", namespace("s"));
});
after(() => kube.stop());

describe("Flux CRDs", () => {
  it("serves every kind of every Flux CRD with its short names, categories and status subresource", async () => {
    const expected: Record<string, string[]> = {
      "helm.toolkit.fluxcd.io/v2": ["helmreleases", "helmreleases/status"],
      "image.toolkit.fluxcd.io/v1": ["imagepolicies", "imagepolicies/status", "imagerepositories", "imagerepositories/status", "imageupdateautomations", "imageupdateautomations/status"],
      "kustomize.toolkit.fluxcd.io/v1": ["kustomizations", "kustomizations/status"],
      "notification.toolkit.fluxcd.io/v1beta3": ["alerts", "providers"],
      "notification.toolkit.fluxcd.io/v1": ["receivers", "receivers/status"],
      "source.toolkit.fluxcd.io/v1": [
        "buckets",
        "buckets/status",
        "externalartifacts",
        "externalartifacts/status",
        "gitrepositories",
        "gitrepositories/status",
        "helmcharts",
        "helmcharts/status",
        "helmrepositories",
        "helmrepositories/status",
        "ocirepositories",
        "ocirepositories/status",
      ],
    };
    for (const [gv, resources] of Object.entries(expected)) {
      const r = await api.get(`/apis/${gv}`);
      assert.equal(r.status, 200, gv);
      assert.deepEqual(r.body.resources.map((x: { name: string }) => x.name).sort(), resources, gv);
    }
    const ks = (await api.get("/apis/kustomize.toolkit.fluxcd.io/v1")).body.resources[0];
    assert.deepEqual(ks, {
      name: "kustomizations",
      singularName: "kustomization",
      namespaced: true,
      kind: "Kustomization",
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
      shortNames: ["ks"],
      categories: ["all", "fluxcd", "fluxcd-appliers"],
    });
    const crds = (await api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")).body.items;
    assert.equal(crds.length, 14);
    const established = crds[0].status.conditions.find((c: { type: string }) => c.type === "Established");
    assert.equal(established.status, "True");
  });

  it("accepts every Flux object of the example repositories without warnings, pruning or errors", async () => {
    const objects = fluxExampleObjects();
    assert.ok(objects.length >= 15, `found ${objects.length} Flux objects`);
    const namespaces = new Set(objects.map((o) => o.obj.metadata.namespace ?? "default"));
    for (const ns of namespaces) await api.post("/api/v1/namespaces", namespace(ns));
    const unserved: string[] = [];
    for (const { file, obj } of objects) {
      const [group, version] = obj.apiVersion.split("/") as [string, string];
      const found = await api.get(`/apis/${group}/${version}`);
      if (found.status === 404) {
        unserved.push(`${file.slice(EXAMPLES.length + 1)} ${obj.apiVersion} ${obj.kind}`);
        continue;
      }
      const discovery = found.body;
      const resource = discovery.resources.find((r: { kind: string; name: string }) => r.kind === obj.kind && !r.name.includes("/")).name;
      const ns = obj.metadata.namespace ?? "default";
      // staging and production define the same names: replace the earlier one.
      await api.delete(`/apis/${obj.apiVersion}/namespaces/${ns}/${resource}/${obj.metadata.name}`);
      const r = await api.post(`/apis/${obj.apiVersion}/namespaces/${ns}/${resource}?fieldValidation=Strict`, obj);
      assert.equal(r.status, 201, `${file} ${obj.kind}/${obj.metadata.name}: ${r.text}`);
      assert.deepEqual(r.warnings, [], file);
      // Nothing the author wrote was dropped (the server only adds defaults and status).
      assertContains(r.body.spec, obj.spec, `${file} spec`);
    }
    // The fixture CRDs (source-controller v1.9) no longer serve v1beta2, so a real cluster refuses this one too.
    assert.deepEqual(unserved, ["flux2-multi-tenancy/infrastructure/kyverno/source.yaml source.toolkit.fluxcd.io/v1beta2 OCIRepository"]);
  });

  it("keeps arbitrary fields under x-kubernetes-preserve-unknown-fields (HelmRelease spec.values)", async () => {
    const hr = {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "hr", namespace: "s" },
      spec: { interval: "5m", chartRef: { kind: "OCIRepository", name: "x" }, values: { any: { nested: [1, { deep: true }] } } },
    };
    const r = await api.post("/apis/helm.toolkit.fluxcd.io/v2/namespaces/s/helmreleases", hr);
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.spec.values, { any: { nested: [1, { deep: true }] } });
  });

  it("applies schema defaults (spec.force: false, status.observedGeneration: -1)", async () => {
    const r = await api.post(ksPath("s"), kustomization("defaults", "s"));
    assert.equal(r.body.spec.force, false);
    assert.deepEqual(r.body.status, { observedGeneration: -1 });
  });
});

describe("schema validation (422 Invalid)", () => {
  it("names a missing required field: spec.interval: Required value", async () => {
    const body = kustomization("apps", "s");
    delete (body.spec as Record<string, unknown>).interval;
    const r = await api.post(ksPath("s"), body);
    assert.equal(r.status, 422);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'Kustomization.kustomize.toolkit.fluxcd.io "apps" is invalid: spec.interval: Required value',
      reason: "Invalid",
      details: {
        name: "apps",
        group: "kustomize.toolkit.fluxcd.io",
        kind: "Kustomization",
        causes: [{ reason: "FieldValueRequired", message: "Required value", field: "spec.interval" }],
      },
      code: 422,
    });
  });

  it("lists the supported values for an enum: FieldValueNotSupported", async () => {
    const r = await api.post(ksPath("s"), kustomization("enum", "s", { sourceRef: { kind: "Foo", name: "x" } }));
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.details.causes, [
      { reason: "FieldValueNotSupported", message: 'Unsupported value: "Foo": supported values: "OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"', field: "spec.sourceRef.kind" },
    ]);
  });

  it("reports a wrong type: FieldValueTypeInvalid", async () => {
    const r = await api.post(ksPath("s"), kustomization("type", "s", { prune: "yes" }));
    assert.equal(r.status, 422);
    assert.equal(r.body.message, 'Kustomization.kustomize.toolkit.fluxcd.io "type" is invalid: spec.prune: Invalid value: "string": spec.prune in body must be of type boolean: "string"');
    assert.equal(r.body.details.causes[0].reason, "FieldValueTypeInvalid");
  });

  it("reports a pattern mismatch with the pattern", async () => {
    const r = await api.post(ksPath("s"), kustomization("pattern", "s", { interval: "often" }));
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.details.causes, [
      { reason: "FieldValueInvalid", message: "Invalid value: \"often\": spec.interval in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'", field: "spec.interval" },
    ]);
  });

  it("aggregates several errors as [a, b] and indexes list items", async () => {
    const r = await api.post(ksPath("s"), kustomization("many", "s", { interval: 5, dependsOn: [{ namespace: "x" }] }));
    assert.equal(r.status, 422);
    assert.equal(
      r.body.message,
      'Kustomization.kustomize.toolkit.fluxcd.io "many" is invalid: [spec.dependsOn[0].name: Required value, spec.interval: Invalid value: "integer": spec.interval in body must be of type string: "integer"]',
    );
  });

  it("checks formats on the status subresource (date-time)", async () => {
    const created = (await api.post(ksPath("s"), kustomization("fmt", "s"))).body;
    created.status = { conditions: [{ type: "Ready", status: "True", reason: "R", message: "", lastTransitionTime: "yesterday" }] };
    const r = await api.put(`${ksPath("s", "fmt")}/status`, created);
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.details.causes, [
      {
        reason: "FieldValueInvalid",
        message: 'Invalid value: "yesterday": status.conditions[0].lastTransitionTime in body must be of type date-time: "yesterday"',
        field: "status.conditions[0].lastTransitionTime",
      },
    ]);
  });

  it("prunes unknown fields with a Warning header (fieldValidation Warn, the default)", async () => {
    const body = kustomization("unknown", "s", { surprise: 1 }, { extra: "x" });
    const r = await api.post(ksPath("s"), body);
    assert.equal(r.status, 201);
    assert.deepEqual(r.warnings, ['unknown field "metadata.extra"', 'unknown field "spec.surprise"']);
    assert.equal(r.body.spec.surprise, undefined);
    assert.equal(r.body.metadata.extra, undefined);
  });

  it("prunes silently with fieldValidation=Ignore and refuses with 400 under Strict", async () => {
    const quiet = await api.post(`${ksPath("s")}?fieldValidation=Ignore`, kustomization("ignored", "s", { surprise: 1 }));
    assert.equal(quiet.status, 201);
    assert.deepEqual(quiet.warnings, []);
    const strict = await api.post(`${ksPath("s")}?fieldValidation=Strict`, kustomization("strict", "s", { surprise: 1 }));
    assert.equal(strict.status, 400);
    assert.equal(strict.body.message, 'Kustomization in version "v1" cannot be handled as a Kustomization: strict decoding error: unknown field "spec.surprise"');
  });

  it("evaluates the CRD's x-kubernetes-validations rules (HelmRelease needs chart or chartRef)", async () => {
    const hr = (spec: Record<string, unknown>) => ({ apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease", metadata: { name: "rules", namespace: "s" }, spec: { interval: "5m", ...spec } });
    const neither = await api.post("/apis/helm.toolkit.fluxcd.io/v2/namespaces/s/helmreleases", hr({}));
    assert.equal(neither.status, 422);
    assert.equal(neither.body.message, 'HelmRelease.helm.toolkit.fluxcd.io "rules" is invalid: spec: Invalid value: "object": either chart or chartRef must be set');
    assert.deepEqual(neither.body.details.causes, [{ reason: "FieldValueInvalid", message: 'Invalid value: "object": either chart or chartRef must be set', field: "spec" }]);
    const both = await api.post(
      "/apis/helm.toolkit.fluxcd.io/v2/namespaces/s/helmreleases",
      hr({ chartRef: { kind: "OCIRepository", name: "x" }, chart: { spec: { chart: "c", sourceRef: { kind: "HelmRepository", name: "r" } } } }),
    );
    assert.equal(both.status, 422);
    const one = await api.post("/apis/helm.toolkit.fluxcd.io/v2/namespaces/s/helmreleases", hr({ chartRef: { kind: "OCIRepository", name: "x" } }));
    assert.equal(one.status, 201);
  });

  it("answers 422 kind: Invalid value for a body of another kind", async () => {
    const r = await api.post(ksPath("s"), { ...kustomization("k", "s"), kind: "GitRepository" });
    assert.equal(r.status, 422);
    assert.equal(r.body.details.causes[0].message, 'Invalid value: "GitRepository": must be Kustomization');
  });
});

describe("CRDs created through the API", () => {
  const widgetCrd = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "widgets.test.example.com" },
    spec: {
      group: "test.example.com",
      scope: "Cluster",
      names: { plural: "widgets", singular: "widget", kind: "Widget", shortNames: ["wd"] },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: {
                  type: "object",
                  properties: {
                    port: { "x-kubernetes-int-or-string": true },
                    note: { type: "string", nullable: true },
                    labels: { type: "object", additionalProperties: { type: "string" } },
                  },
                },
                status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
              },
            },
          },
        },
        { name: "v1beta1", served: true, storage: false, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } },
      ],
    },
  };

  it("serves a CRD POSTed to the API at all served versions, v1 preferred, without a status subresource", async () => {
    const r = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widgetCrd);
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.status.storedVersions, ["v1"]);
    const group = (await api.get("/apis/test.example.com")).body;
    assert.deepEqual(group, {
      kind: "APIGroup",
      apiVersion: "v1",
      name: "test.example.com",
      versions: [
        { groupVersion: "test.example.com/v1", version: "v1" },
        { groupVersion: "test.example.com/v1beta1", version: "v1beta1" },
      ],
      preferredVersion: { groupVersion: "test.example.com/v1", version: "v1" },
    });
    const list = (await api.get("/apis/test.example.com/v1")).body;
    assert.deepEqual(list.resources.map((x: { name: string; namespaced: boolean }) => `${x.name} ${x.namespaced}`), ["widgets false"]);
  });

  it("validates x-kubernetes-int-or-string and nullable, keeps additionalProperties maps, bumps generation on status", async () => {
    const ok = await api.post("/apis/test.example.com/v1/widgets", { apiVersion: "test.example.com/v1", kind: "Widget", metadata: { name: "w1" }, spec: { port: "http", note: null, labels: { a: "b" } } });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body.spec, { port: "http", note: null, labels: { a: "b" } });
    const num = await api.post("/apis/test.example.com/v1/widgets", { apiVersion: "test.example.com/v1", kind: "Widget", metadata: { name: "w2" }, spec: { port: 8080 } });
    assert.equal(num.status, 201);
    const bad = await api.post("/apis/test.example.com/v1/widgets", { apiVersion: "test.example.com/v1", kind: "Widget", metadata: { name: "w3" }, spec: { port: true } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details.causes[0].field, "spec.port");
    // Without a status subresource, status is an ordinary field: it is kept and bumps generation (§5.3).
    const st = await api.patch("/apis/test.example.com/v1/widgets/w1", { status: { ready: true } }, "application/merge-patch+json");
    assert.equal(st.body.metadata.generation, 2);
  });

  it("serves the same objects at every version (None conversion)", async () => {
    const r = await api.get("/apis/test.example.com/v1beta1/widgets/w1");
    assert.equal(r.status, 200);
    assert.equal(r.body.apiVersion, "test.example.com/v1beta1");
    assert.equal(r.body.spec.port, "http");
  });

  it("answers 422 for a CRD whose name is not <plural>.<group>", async () => {
    const r = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", { ...widgetCrd, metadata: { name: "gadgets.test.example.com" } });
    assert.equal(r.status, 422);
    assert.equal(r.body.details.causes[0].message, 'Invalid value: "gadgets.test.example.com": must be spec.names.plural+"."+spec.group');
  });

  it("stops serving the resource and drops its objects when the CRD is deleted", async () => {
    const r = await api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.example.com");
    assert.equal(r.status, 200);
    assert.equal((await api.get("/apis/test.example.com/v1/widgets")).status, 404);
    assert.equal((await api.get("/apis/test.example.com")).status, 404);
  });
});
