import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type KubeEmulator, startKubeEmulator } from "./emulator.ts";
import { KUSTOMIZATION_CRD, kubeClient, ksPath, kustomization, namespace } from "./kube-fetch.ts";

let kube: KubeEmulator;
let api: ReturnType<typeof kubeClient>;

const MERGE = "application/merge-patch+json";
const JSON_PATCH = "application/json-patch+json";
const SMP = "application/strategic-merge-patch+json";
const APPLY = "application/apply-patch+yaml";

before(async () => {
  kube = await startKubeEmulator({ crds: [KUSTOMIZATION_CRD] });
  api = kubeClient(kube.url);
  await api.post("/api/v1/namespaces", namespace("p"));
});
after(() => kube.stop());

describe("merge patch (RFC 7386)", () => {
  it("merges maps, deletes keys set to null and replaces lists; the reconcile annotation does not bump generation", async () => {
    await api.post(ksPath("p"), kustomization("m", "p", { dependsOn: [{ name: "a" }, { name: "b" }], path: "./x" }));
    const r = await api.patch(ksPath("p", "m"), { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "2026-11-25T07:51:11Z" } } }, MERGE);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.metadata.annotations, { "reconcile.fluxcd.io/requestedAt": "2026-11-25T07:51:11Z" });
    assert.equal(r.body.metadata.generation, 1);
    const s = await api.patch(ksPath("p", "m"), { spec: { path: null, dependsOn: [{ name: "c" }] } }, MERGE);
    assert.equal(s.body.spec.path, undefined);
    assert.deepEqual(s.body.spec.dependsOn, [{ name: "c" }]);
    assert.equal(s.body.metadata.generation, 2);
  });

  it("answers 404 for a patch of a missing object", async () => {
    const r = await api.patch(ksPath("p", "missing"), { spec: {} }, MERGE);
    assert.equal(r.status, 404);
    assert.equal(r.body.message, 'kustomizations.kustomize.toolkit.fluxcd.io "missing" not found');
  });

  it("answers 409 when the patch carries a stale metadata.resourceVersion", async () => {
    const created = (await api.post(ksPath("p"), kustomization("rv", "p"))).body;
    await api.patch(ksPath("p", "rv"), { spec: { suspend: true } }, MERGE);
    const r = await api.patch(ksPath("p", "rv"), { metadata: { resourceVersion: created.metadata.resourceVersion }, spec: { suspend: false } }, MERGE);
    assert.equal(r.status, 409);
    assert.equal(r.body.reason, "Conflict");
  });

  it("answers 422 with causes when the patched object breaks the schema", async () => {
    await api.post(ksPath("p"), kustomization("bad", "p"));
    const r = await api.patch(ksPath("p", "bad"), { spec: { interval: null, timeout: "soon" } }, MERGE);
    assert.equal(r.status, 422);
    assert.deepEqual(
      r.body.details.causes.map((c: { field: string; reason: string }) => `${c.reason} ${c.field}`),
      ["FieldValueRequired spec.interval", "FieldValueInvalid spec.timeout"],
    );
  });

  it("records the fieldManager in managedFields as an Update entry", async () => {
    await api.post(`${ksPath("p")}?fieldManager=creator`, kustomization("mf", "p"));
    const r = await api.patch(`${ksPath("p", "mf")}?fieldManager=flux-client`, { spec: { suspend: true } }, MERGE);
    const entries = r.body.metadata.managedFields.map((e: { manager: string; operation: string }) => `${e.manager}/${e.operation}`);
    assert.deepEqual(entries, ["creator/Update", "flux-client/Update"]);
    const mine = r.body.metadata.managedFields.find((e: { manager: string }) => e.manager === "flux-client");
    assert.deepEqual(mine.fieldsV1, { "f:spec": { "f:suspend": {} } });
    assert.equal(mine.apiVersion, "kustomize.toolkit.fluxcd.io/v1");
  });
});

describe("JSON patch (RFC 6902)", () => {
  it("applies add, replace, remove and a test that holds", async () => {
    await api.post(ksPath("p"), kustomization("j", "p", { path: "./a", suspend: false }));
    const r = await api.patch(
      ksPath("p", "j"),
      [
        { op: "test", path: "/spec/path", value: "./a" },
        { op: "replace", path: "/spec/path", value: "./b" },
        { op: "add", path: "/metadata/labels", value: { x: "y" } },
        { op: "remove", path: "/spec/suspend" },
      ],
      JSON_PATCH,
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.spec.path, "./b");
    assert.deepEqual(r.body.metadata.labels, { x: "y" });
    assert.equal(r.body.spec.suspend, undefined);
  });

  it("answers 422 when an operation fails (a test that does not hold, a path that is missing)", async () => {
    const expected = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server rejected our request due to an error in our request", reason: "Invalid", details: {}, code: 422 };
    const failedTest = await api.patch(ksPath("p", "j"), [{ op: "test", path: "/spec/path", value: "./nope" }], JSON_PATCH);
    assert.equal(failedTest.status, 422);
    assert.deepEqual(failedTest.body, expected);
    const missing = await api.patch(ksPath("p", "j"), [{ op: "remove", path: "/spec/nothing" }], JSON_PATCH);
    assert.deepEqual(missing.body, expected);
    assert.equal((await api.get(ksPath("p", "j"))).body.spec.path, "./b", "nothing of a failed patch is applied");
  });

  it("answers 400 for a body that is not a list of operations", async () => {
    const r = await api.patch(ksPath("p", "j"), { op: "add" }, JSON_PATCH);
    assert.equal(r.status, 400);
    assert.equal(r.body.reason, "BadRequest");
  });
});

describe("strategic merge patch", () => {
  it("answers 415 on custom resources with the accepted media types", async () => {
    const r = await api.patch(ksPath("p", "j"), { spec: { suspend: true } }, SMP);
    assert.equal(r.status, 415);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
      reason: "UnsupportedMediaType",
      code: 415,
    });
  });

  it("is taken as a merge patch on built-in kinds (directives dropped, lists replaced)", async () => {
    await api.post("/api/v1/namespaces/p/configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm", labels: { a: "1" } }, data: { k: "v" } });
    const r = await api.patch("/api/v1/namespaces/p/configmaps/cm", { $setElementOrder: [], metadata: { labels: { b: "2" } }, data: { k: null, n: "m" } }, SMP);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.metadata.labels, { a: "1", b: "2" });
    assert.deepEqual(r.body.data, { n: "m" });
  });

  it("answers 415 listing all four types for an unknown patch type on a built-in kind", async () => {
    const r = await api.patch("/api/v1/namespaces/p/configmaps/cm", {}, "text/plain");
    assert.equal(r.status, 415);
    assert.equal(
      r.body.message,
      "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
    );
  });
});

describe("server-side apply", () => {
  const applyYaml = (name: string, interval: string) =>
    `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: ${name}\n  namespace: p\nspec:\n  interval: ${interval}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: repo\n`;

  it("creates a missing object with 201, then updates it with 200", async () => {
    const created = await api.patch(`${ksPath("p", "ssa")}?fieldManager=kubectl`, applyYaml("ssa", "5m"), APPLY);
    assert.equal(created.status, 201);
    assert.equal(created.body.metadata.generation, 1);
    assert.deepEqual(created.body.metadata.managedFields.map((e: { manager: string; operation: string }) => `${e.manager}/${e.operation}`), ["kubectl/Apply"]);
    const updated = await api.patch(`${ksPath("p", "ssa")}?fieldManager=kubectl`, applyYaml("ssa", "10m"), APPLY);
    assert.equal(updated.status, 200);
    assert.equal(updated.body.spec.interval, "10m");
    assert.equal(updated.body.metadata.generation, 2);
  });

  it("accepts a JSON body as apply configuration", async () => {
    const r = await api.patch(`${ksPath("p", "ssa-json")}?fieldManager=ctrl`, kustomization("ssa-json", "p"), APPLY);
    assert.equal(r.status, 201);
  });

  it("answers 409 with FieldManagerConflict causes when another manager owns a changed field, and takes it with force=true", async () => {
    const r = await api.patch(`${ksPath("p", "ssa")}?fieldManager=other`, applyYaml("ssa", "1m"), APPLY);
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'Apply failed with 1 conflict: conflict with "kubectl": .spec.interval',
      reason: "Conflict",
      details: { causes: [{ reason: "FieldManagerConflict", message: 'conflict with "kubectl"', field: ".spec.interval" }] },
      code: 409,
    });
    const forced = await api.patch(`${ksPath("p", "ssa")}?fieldManager=other&force=true`, applyYaml("ssa", "1m"), APPLY);
    assert.equal(forced.status, 200);
    assert.equal(forced.body.spec.interval, "1m");
  });

  it("answers 422 when fieldManager is missing for apply", async () => {
    const r = await api.patch(ksPath("p", "ssa"), applyYaml("ssa", "2m"), APPLY);
    assert.equal(r.status, 422);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      reason: "Invalid",
      details: { group: "meta.k8s.io", kind: "PatchOptions", causes: [{ reason: "FieldValueRequired", message: "Required value: is required for apply patch", field: "fieldManager" }] },
      code: 422,
    });
  });

  it("answers 422 for force on a non-apply patch", async () => {
    const r = await api.patch(`${ksPath("p", "ssa")}?force=true`, { spec: {} }, MERGE);
    assert.equal(r.status, 422);
    assert.equal(r.body.message, 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch');
  });

  it("answers 404 for an apply to /status of a missing object", async () => {
    const r = await api.patch(`${ksPath("p", "nothing")}/status?fieldManager=ctrl`, { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", status: {} }, APPLY);
    assert.equal(r.status, 404);
  });
});
