import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type KubeEmulator, startKubeEmulator } from "./emulator.ts";
import { KUSTOMIZATION_CRD, kubeClient, ksPath, kustomization, namespace } from "./kube-fetch.ts";

let kube: KubeEmulator;
let api: ReturnType<typeof kubeClient>;

before(async () => {
  kube = await startKubeEmulator({ crds: [KUSTOMIZATION_CRD] });
  api = kubeClient(kube.url);
  for (const ns of ["apps", "gen", "fin", "nsdel"]) assert.equal((await api.post("/api/v1/namespaces", namespace(ns))).status, 201);
});
after(() => kube.stop());

describe("namespaces", () => {
  it("has default, kube-system and kube-public from the start, each labelled kubernetes.io/metadata.name", async () => {
    for (const name of ["default", "kube-system", "kube-public"]) {
      const r = await api.get(`/api/v1/namespaces/${name}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.metadata.labels, { "kubernetes.io/metadata.name": name });
      assert.deepEqual(r.body.spec, { finalizers: ["kubernetes"] });
      assert.deepEqual(r.body.status, { phase: "Active" });
    }
  });

  it("labels every new Namespace with its name, keeping the caller's labels", async () => {
    const r = await api.post("/api/v1/namespaces", namespace("team-a", { "toolkit.fluxcd.io/tenant": "team-a" }));
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.metadata.labels, { "toolkit.fluxcd.io/tenant": "team-a", "kubernetes.io/metadata.name": "team-a" });
    assert.equal(r.body.metadata.generation, undefined, "core kinds keep no generation");
  });

  it("answers 404 namespaces \"x\" not found for a create in a namespace that does not exist", async () => {
    const r = await api.post(ksPath("missing"), kustomization("a", "missing"));
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'namespaces "missing" not found',
      reason: "NotFound",
      details: { name: "missing", kind: "namespaces" },
      code: 404,
    });
  });

  it("rejects a Namespace name that is not a DNS label with 422", async () => {
    const r = await api.post("/api/v1/namespaces", namespace("Bad.Name"));
    assert.equal(r.status, 422);
    assert.equal(r.body.reason, "Invalid");
    assert.equal(r.body.details.kind, "Namespace");
    assert.equal(r.body.details.causes[0].field, "metadata.name");
    assert.match(r.body.message, /^Namespace "Bad.Name" is invalid: metadata.name: Invalid value: "Bad.Name": a lowercase RFC 1123 label must consist of/);
  });

  it("deletes a namespace together with everything in it (watchers see DELETED for each)", async () => {
    assert.equal((await api.post(ksPath("nsdel"), kustomization("one", "nsdel"))).status, 201);
    const r = await api.delete("/api/v1/namespaces/nsdel");
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, "Namespace");
    assert.equal(r.body.status.phase, "Terminating");
    assert.equal((await api.get(ksPath("nsdel", "one"))).status, 404);
    assert.equal((await api.get("/api/v1/namespaces/nsdel")).status, 404);
  });
});

describe("create", () => {
  it("answers 201 with uid, second-precision creationTimestamp, generation 1 and a resourceVersion", async () => {
    const before = kube.revision();
    const r = await api.post(ksPath("apps"), kustomization("create-me", "apps"));
    assert.equal(r.status, 201);
    const m = r.body.metadata;
    assert.match(m.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.match(m.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(m.generation, 1);
    assert.equal(m.resourceVersion, String(before + 1));
    assert.equal(r.body.apiVersion, "kustomize.toolkit.fluxcd.io/v1");
    assert.equal(r.body.kind, "Kustomization");
    assert.deepEqual(r.body.status, { observedGeneration: -1 }, "the CRD's status default, status itself dropped");
  });

  it("ignores a client-set generation, uid and status on create", async () => {
    const body = kustomization("client-meta", "apps", {}, { generation: 7, uid: "mine", resourceVersion: "99" });
    body.status = { observedGeneration: 3 };
    const r = await api.post(ksPath("apps"), body);
    assert.equal(r.status, 201);
    assert.equal(r.body.metadata.generation, 1);
    assert.notEqual(r.body.metadata.uid, "mine");
    assert.deepEqual(r.body.status, { observedGeneration: -1 });
  });

  it("answers 409 AlreadyExists with the plural resource in details.kind", async () => {
    await api.post(ksPath("apps"), kustomization("dup", "apps"));
    const r = await api.post(ksPath("apps"), kustomization("dup", "apps"));
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'kustomizations.kustomize.toolkit.fluxcd.io "dup" already exists',
      reason: "AlreadyExists",
      details: { name: "dup", group: "kustomize.toolkit.fluxcd.io", kind: "kustomizations" },
      code: 409,
    });
  });

  it("names the object from generateName plus five characters", async () => {
    const body = kustomization("", "gen");
    body.metadata = { generateName: "apps-", namespace: "gen" };
    const r = await api.post(ksPath("gen"), body);
    assert.equal(r.status, 201);
    assert.match(r.body.metadata.name, /^apps-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.equal(r.body.metadata.generateName, "apps-");
  });

  it("answers 422 for a name that is not a DNS subdomain and for a missing name", async () => {
    const bad = await api.post(ksPath("apps"), kustomization("Not_Valid", "apps"));
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.details.causes, [
      {
        reason: "FieldValueInvalid",
        message:
          "Invalid value: \"Not_Valid\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        field: "metadata.name",
      },
    ]);
    const none = await api.post(ksPath("apps"), kustomization("", "apps"));
    assert.equal(none.status, 422);
    assert.equal(none.body.message, 'Kustomization.kustomize.toolkit.fluxcd.io "" is invalid: metadata.name: Required value: name or generateName is required');
  });

  it("answers 400 when the body's namespace differs from the URL's", async () => {
    const r = await api.post(ksPath("apps"), kustomization("x", "gen"));
    assert.equal(r.status, 400);
    assert.equal(r.body.reason, "BadRequest");
    assert.equal(r.body.message, "the namespace of the provided object does not match the namespace sent on the request");
  });

  it("validates but does not persist with dryRun=All", async () => {
    const rv = kube.revision();
    const r = await api.post(`${ksPath("apps")}?dryRun=All`, kustomization("dry", "apps"));
    assert.equal(r.status, 201);
    assert.equal(r.body.metadata.name, "dry");
    assert.equal(r.body.metadata.resourceVersion, undefined);
    assert.equal((await api.get(ksPath("apps", "dry"))).status, 404);
    assert.equal(kube.revision(), rv);
    const bad = await api.post(`${ksPath("apps")}?dryRun=All`, kustomization("dry", "apps", { interval: 5 }));
    assert.equal(bad.status, 422);
  });

  it("answers 422 for an unsupported dryRun value", async () => {
    const r = await api.post(`${ksPath("apps")}?dryRun=Some`, kustomization("dry2", "apps"));
    assert.equal(r.status, 422);
    assert.equal(r.body.message, 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{\"Some\"}: supported values: \"All\"');
  });

  it("folds a Secret's stringData into base64 data", async () => {
    const r = await api.post("/api/v1/namespaces/apps/secrets", { apiVersion: "v1", kind: "Secret", metadata: { name: "token" }, stringData: { token: "s3cr3t" } });
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.data, { token: Buffer.from("s3cr3t").toString("base64") });
    assert.equal(r.body.stringData, undefined);
    assert.equal(r.body.type, "Opaque");
  });
});

describe("get", () => {
  it("answers 404 NotFound naming the qualified resource", async () => {
    const r = await api.get(ksPath("apps", "nope"));
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'kustomizations.kustomize.toolkit.fluxcd.io "nope" not found',
      reason: "NotFound",
      details: { name: "nope", group: "kustomize.toolkit.fluxcd.io", kind: "kustomizations" },
      code: 404,
    });
  });

  it("answers 404 the server could not find the requested resource for unknown paths", async () => {
    for (const path of ["/apis/nope.io/v1/things", "/api/v2/pods", "/foo", "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/widgets"]) {
      const r = await api.get(path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.message, "the server could not find the requested resource");
      assert.equal(r.body.reason, "NotFound");
    }
  });
});

describe("update (PUT)", () => {
  it("answers 422 when metadata.resourceVersion is missing on a custom resource", async () => {
    const created = (await api.post(ksPath("apps"), kustomization("put-norv", "apps"))).body;
    delete created.metadata.resourceVersion;
    const r = await api.put(ksPath("apps", "put-norv"), created);
    assert.equal(r.status, 422);
    assert.equal(r.body.message, 'Kustomization.kustomize.toolkit.fluxcd.io "put-norv" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update');
    assert.deepEqual(r.body.details.causes, [{ reason: "FieldValueInvalid", message: "Invalid value: 0x0: must be specified for an update", field: "metadata.resourceVersion" }]);
  });

  it("answers 409 Conflict for a stale resourceVersion", async () => {
    const created = (await api.post(ksPath("apps"), kustomization("put-stale", "apps"))).body;
    const first = structuredClone(created);
    first.spec.interval = "6m";
    assert.equal((await api.put(ksPath("apps", "put-stale"), first)).status, 200);
    created.spec.interval = "7m";
    const r = await api.put(ksPath("apps", "put-stale"), created);
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message:
        'Operation cannot be fulfilled on kustomizations.kustomize.toolkit.fluxcd.io "put-stale": the object has been modified; please apply your changes to the latest version and try again',
      reason: "Conflict",
      details: { name: "put-stale", group: "kustomize.toolkit.fluxcd.io", kind: "kustomizations" },
      code: 409,
    });
  });

  it("answers 404 for a PUT of an object that does not exist (no create on update)", async () => {
    const r = await api.put(ksPath("apps", "put-missing"), { ...kustomization("put-missing", "apps"), metadata: { name: "put-missing", namespace: "apps", resourceVersion: "1" } });
    assert.equal(r.status, 404);
    assert.equal(r.body.message, 'kustomizations.kustomize.toolkit.fluxcd.io "put-missing" not found');
  });

  it("answers 400 when the body names another object than the URL", async () => {
    const created = (await api.post(ksPath("apps"), kustomization("put-name", "apps"))).body;
    created.metadata.name = "other";
    const r = await api.put(ksPath("apps", "put-name"), created);
    assert.equal(r.status, 400);
    assert.equal(r.body.message, "the name of the object (other) does not match the name on the URL (put-name)");
  });

  it("allows a ConfigMap update without resourceVersion (core types allow unconditional update)", async () => {
    await api.post("/api/v1/namespaces/apps/configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm" }, data: { a: "1" } });
    const r = await api.put("/api/v1/namespaces/apps/configmaps/cm", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm" }, data: { a: "2" } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data, { a: "2" });
  });

  it("makes a write that changes nothing a no-op: same resourceVersion, no new revision", async () => {
    const created = (await api.post(ksPath("apps"), kustomization("noop", "apps"))).body;
    const rv = kube.revision();
    const r = await api.put(ksPath("apps", "noop"), created);
    assert.equal(r.status, 200);
    assert.equal(r.body.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.equal(kube.revision(), rv);
    const p = await api.patch(ksPath("apps", "noop"), { spec: { interval: "5m" } }, "application/merge-patch+json");
    assert.equal(p.status, 200);
    assert.equal(p.body.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.equal(kube.revision(), rv);
  });
});

describe("generation (CRD strategy, admission.md §5.3)", () => {
  const mergePatch = (name: string, body: unknown) => api.patch(ksPath("apps", name), body, "application/merge-patch+json");

  it("bumps generation for spec changes only, not for labels, annotations or finalizers", async () => {
    await api.post(ksPath("apps"), kustomization("gen-rules", "apps"));
    const a = await mergePatch("gen-rules", { metadata: { labels: { a: "b" }, annotations: { "reconcile.fluxcd.io/requestedAt": "now" }, finalizers: ["x.io/f"] } });
    assert.equal(a.body.metadata.generation, 1);
    assert.equal(a.status, 200);
    const s = await mergePatch("gen-rules", { spec: { suspend: true } });
    assert.equal(s.body.metadata.generation, 2);
    assert.notEqual(s.body.metadata.resourceVersion, a.body.metadata.resourceVersion);
    await mergePatch("gen-rules", { metadata: { finalizers: null } });
  });

  it("drops status sent to the main endpoint and keeps generation", async () => {
    const created = (await api.post(ksPath("apps"), kustomization("gen-status", "apps"))).body;
    const rv = kube.revision();
    const r = await mergePatch("gen-status", { status: { observedGeneration: 5 } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.status, { observedGeneration: -1 });
    assert.equal(r.body.metadata.generation, 1);
    assert.equal(r.body.metadata.resourceVersion, created.metadata.resourceVersion, "nothing else changed: no new resourceVersion");
    assert.equal(kube.revision(), rv);
  });

  it("takes only status from the /status endpoint, without a generation bump", async () => {
    const created = (await api.post(ksPath("apps"), kustomization("gen-sub", "apps"))).body;
    const body = structuredClone(created);
    body.status = { observedGeneration: 1, conditions: [] };
    body.spec.interval = "99m";
    body.metadata.labels = { dropped: "yes" };
    const r = await api.put(`${ksPath("apps", "gen-sub")}/status`, body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.status, { observedGeneration: 1, conditions: [] });
    assert.equal(r.body.spec.interval, "5m");
    assert.equal(r.body.metadata.labels, undefined);
    assert.equal(r.body.metadata.generation, 1);
    const p = await api.patch(`${ksPath("apps", "gen-sub")}/status`, { status: { observedGeneration: 2 } }, "application/merge-patch+json");
    assert.equal(p.body.status.observedGeneration, 2);
    assert.equal(p.body.metadata.generation, 1);
  });
});

describe("delete", () => {
  it("answers 200 with a Success Status naming the plural resource and uid", async () => {
    const created = (await api.post(ksPath("apps"), kustomization("del", "apps"))).body;
    const r = await api.delete(ksPath("apps", "del"));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name: "del", group: "kustomize.toolkit.fluxcd.io", kind: "kustomizations", uid: created.metadata.uid },
    });
    assert.equal((await api.get(ksPath("apps", "del"))).status, 404);
    assert.equal((await api.delete(ksPath("apps", "del"))).status, 404);
  });

  it("marks an object with finalizers (deletionTimestamp, generation+1) and removes it with the last finalizer", async () => {
    await api.post(ksPath("fin"), kustomization("held", "fin", {}, { finalizers: ["finalizers.fluxcd.io"] }));
    const r = await api.delete(ksPath("fin", "held"));
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, "Kustomization");
    assert.match(r.body.metadata.deletionTimestamp, /Z$/);
    assert.equal(r.body.metadata.deletionGracePeriodSeconds, 0);
    assert.equal(r.body.metadata.generation, 2);
    const again = await api.delete(ksPath("fin", "held"));
    assert.equal(again.body.metadata.resourceVersion, r.body.metadata.resourceVersion, "a second delete changes nothing");
    const adding = await api.patch(ksPath("fin", "held"), { metadata: { finalizers: ["finalizers.fluxcd.io", "other.io/x"] } }, "application/merge-patch+json");
    assert.equal(adding.status, 422);
    assert.equal(adding.body.details.causes[0].message, "Forbidden: no new finalizers can be added if the object is being deleted");
    const last = await api.patch(ksPath("fin", "held"), { metadata: { finalizers: null } }, "application/merge-patch+json");
    assert.equal(last.status, 200);
    assert.equal((await api.get(ksPath("fin", "held"))).status, 404);
  });

  it("answers 409 when a uid or resourceVersion precondition fails", async () => {
    const created = (await api.post(ksPath("apps"), kustomization("pre", "apps"))).body;
    const byUid = await api.delete(ksPath("apps", "pre"), { preconditions: { uid: "other" } });
    assert.equal(byUid.status, 409);
    assert.equal(
      byUid.body.message,
      `Operation cannot be fulfilled on kustomizations.kustomize.toolkit.fluxcd.io "pre": Precondition failed: UID in precondition: other, UID in object meta: ${created.metadata.uid}`,
    );
    const byRv = await api.delete(ksPath("apps", "pre"), { preconditions: { resourceVersion: "1" } });
    assert.equal(byRv.status, 409);
    assert.equal(byRv.body.reason, "Conflict");
    const ok = await api.delete(ksPath("apps", "pre"), { preconditions: { uid: created.metadata.uid, resourceVersion: created.metadata.resourceVersion } });
    assert.equal(ok.status, 200);
  });

  it("deletes a collection by label selector and answers the list of deleted objects", async () => {
    await api.post(ksPath("gen"), kustomization("c1", "gen", {}, { labels: { batch: "x" } }));
    await api.post(ksPath("gen"), kustomization("c2", "gen", {}, { labels: { batch: "x" } }));
    await api.post(ksPath("gen"), kustomization("c3", "gen"));
    const r = await api.delete(`${ksPath("gen")}?labelSelector=batch%3Dx`);
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, "KustomizationList");
    assert.deepEqual(r.body.items.map((i: { metadata: { name: string } }) => i.metadata.name), ["c1", "c2"]);
    assert.equal((await api.get(ksPath("gen", "c3"))).status, 200);
  });
});
