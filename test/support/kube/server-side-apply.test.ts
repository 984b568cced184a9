import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplyBadRequestError, applyConflictMessage, recordUpdate, serverSideApply } from "./server-side-apply.ts";
import type { ApplyConflict } from "./server-side-apply.ts";

const V1 = "kustomize.toolkit.fluxcd.io/v1";
const T0 = new Date("2026-11-25T07:51:11.250Z");
const T1 = new Date("2026-11-25T08:00:00Z");
const T2 = new Date("2026-11-25T09:00:00Z");

type Obj = Record<string, unknown>;

function ks(spec: Obj, metadata: Obj = {}): Obj {
  return { apiVersion: V1, kind: "Kustomization", metadata: { name: "apps", namespace: "dev-team", ...metadata }, spec };
}

/** What the emulator adds when it stores a created object. */
function stored(obj: Obj): Obj {
  const meta = obj["metadata"] as Obj;
  return { ...obj, metadata: { ...meta, uid: "6b1c", resourceVersion: "7", generation: 1, creationTimestamp: "2026-11-25T07:51:11Z" } };
}

function apply(live: Obj | undefined, applied: Obj, manager: string, now: Date, force = false): Obj {
  const r = serverSideApply({ live, applied, manager, force, now, apiVersion: V1 });
  if (!r.ok) throw new Error(applyConflictMessage(r.conflicts));
  return r.object;
}

function managed(obj: Obj): unknown {
  return (obj["metadata"] as Obj)["managedFields"];
}

function spec(obj: Obj): unknown {
  return obj["spec"];
}

const BASE_SPEC = { interval: "5m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" } };

describe("serverSideApply", () => {
  it("creates the object with one Apply entry whose fieldsV1 lists every applied leaf (no '.' on struct fields)", () => {
    const r = serverSideApply({ live: undefined, applied: ks(BASE_SPEC, { labels: { app: "web" } }), manager: "kubectl", force: false, now: T0, apiVersion: V1 });
    assert.ok(r.ok);
    assert.deepEqual(r.object, {
      apiVersion: V1,
      kind: "Kustomization",
      metadata: {
        name: "apps",
        namespace: "dev-team",
        labels: { app: "web" },
        managedFields: [
          {
            manager: "kubectl",
            operation: "Apply",
            apiVersion: V1,
            time: "2026-11-25T07:51:11Z",
            fieldsType: "FieldsV1",
            fieldsV1: {
              "f:metadata": { "f:labels": { "f:app": {} } },
              "f:spec": { "f:interval": {}, "f:path": {}, "f:prune": {}, "f:sourceRef": { "f:kind": {}, "f:name": {} } },
            },
          },
        ],
      },
      spec: BASE_SPEC,
    });
  });

  it("writes entry keys in kube-apiserver's order and fieldsV1 keys sorted, whatever order the config used", () => {
    const obj = apply(undefined, ks({ sourceRef: { name: "x", kind: "GitRepository" }, interval: "1m" }), "kubectl", T0);
    assert.equal(
      JSON.stringify(managed(obj)),
      '[{"manager":"kubectl","operation":"Apply","apiVersion":"kustomize.toolkit.fluxcd.io/v1","time":"2026-11-25T07:51:11Z","fieldsType":"FieldsV1",' +
        '"fieldsV1":{"f:spec":{"f:interval":{},"f:sourceRef":{"f:kind":{},"f:name":{}}}}}]',
    );
  });

  it("removes a field the same manager applied before and no longer applies", () => {
    const live = stored(apply(undefined, ks(BASE_SPEC, { labels: { app: "web" } }), "kubectl", T0));
    const { prune: _drop, ...rest } = BASE_SPEC;
    const next = apply(live, ks(rest), "kubectl", T1);
    assert.deepEqual(spec(next), { interval: "5m", path: "./apps", sourceRef: { kind: "GitRepository", name: "flux-system" } });
    assert.equal((next["metadata"] as Obj)["labels"], undefined, "the labels map goes with its only label");
    assert.equal((next["metadata"] as Obj)["uid"], "6b1c", "server-set metadata is never pruned");
    assert.deepEqual(managed(next), [
      {
        manager: "kubectl",
        operation: "Apply",
        apiVersion: V1,
        time: "2026-11-25T08:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:spec": { "f:interval": {}, "f:path": {}, "f:sourceRef": { "f:kind": {}, "f:name": {} } } },
      },
    ]);
  });

  it("lets two appliers share a field they set to the same value, and keeps it when one of them drops it", () => {
    const live = stored(apply(undefined, ks(BASE_SPEC), "kubectl", T0));
    const shared = apply(live, ks({ interval: "5m", timeout: "2m" }), "fluxgate", T1);
    assert.deepEqual(spec(shared), { ...BASE_SPEC, timeout: "2m" });
    assert.deepEqual(
      (managed(shared) as Obj[]).map((e) => [e["manager"], e["fieldsV1"]]),
      [
        ["kubectl", { "f:spec": { "f:interval": {}, "f:path": {}, "f:prune": {}, "f:sourceRef": { "f:kind": {}, "f:name": {} } } }],
        ["fluxgate", { "f:spec": { "f:interval": {}, "f:timeout": {} } }],
      ],
    );
    const dropped = apply(shared, ks({ path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" } }), "kubectl", T2);
    assert.deepEqual(spec(dropped), { ...BASE_SPEC, timeout: "2m" }, "fluxgate still owns interval, so it stays");
  });

  it("refuses to change a field another applier owns and names the manager and the field", () => {
    const live = stored(apply(undefined, ks(BASE_SPEC), "kubectl", T0));
    const r = serverSideApply({ live, applied: ks({ interval: "10m" }), manager: "fluxgate", force: false, now: T1, apiVersion: V1 });
    assert.deepEqual(r, {
      ok: false,
      conflicts: [{ manager: "kubectl", field: ".spec.interval", operation: "Apply", apiVersion: V1, description: '"kubectl"' }],
    });
    assert.equal(applyConflictMessage((r as { conflicts: ApplyConflict[] }).conflicts), 'Apply failed with 1 conflict: conflict with "kubectl": .spec.interval');
  });

  it("conflicts with an Update manager that changed the field, printed with the apiVersion it used", () => {
    const live = stored(apply(undefined, ks({ ...BASE_SPEC, suspend: false }), "kubectl", T0));
    const patched = recordUpdate({ before: live, after: { ...live, spec: { ...BASE_SPEC, suspend: true } }, manager: "kubectl-patch", operation: "Update", now: T1, apiVersion: V1 });
    const r = serverSideApply({ live: patched, applied: ks({ ...BASE_SPEC, suspend: false }), manager: "kubectl", force: false, now: T2, apiVersion: V1 });
    assert.equal(r.ok, false);
    const conflicts = (r as { conflicts: ApplyConflict[] }).conflicts;
    assert.deepEqual(conflicts, [
      { manager: "kubectl-patch", field: ".spec.suspend", operation: "Update", apiVersion: V1, description: `"kubectl-patch" using ${V1}` },
    ]);
    assert.equal(applyConflictMessage(conflicts), `Apply failed with 1 conflict: conflict with "kubectl-patch" using ${V1}: .spec.suspend`);
  });

  it("does not conflict when the applied value equals the live one, whoever owns it", () => {
    const live = stored(apply(undefined, ks({ ...BASE_SPEC, suspend: false }), "kubectl", T0));
    const patched = recordUpdate({ before: live, after: { ...live, spec: { ...BASE_SPEC, suspend: true } }, manager: "kubectl-patch", operation: "Update", now: T1, apiVersion: V1 });
    const r = serverSideApply({ live: patched, applied: ks({ ...BASE_SPEC, suspend: true }), manager: "kubectl", force: false, now: T2, apiVersion: V1 });
    assert.ok(r.ok);
    assert.deepEqual(spec(r.object), { ...BASE_SPEC, suspend: true });
  });

  it("with force takes the field: the value changes and the field leaves the other entry (dropped when empty)", () => {
    const live = stored(apply(undefined, ks({ interval: "5m" }), "kubectl", T0));
    const r = serverSideApply({ live, applied: ks({ interval: "10m" }), manager: "fluxgate", force: true, now: T1, apiVersion: V1 });
    assert.ok(r.ok);
    assert.deepEqual(spec(r.object), { interval: "10m" });
    assert.deepEqual(managed(r.object), [
      { manager: "fluxgate", operation: "Apply", apiVersion: V1, time: "2026-11-25T08:00:00Z", fieldsType: "FieldsV1", fieldsV1: { "f:spec": { "f:interval": {} } } },
    ]);
  });

  it("lists several conflicts grouped by manager, managers sorted", () => {
    const live = stored(apply(undefined, ks({ interval: "5m", path: "./a" }), "kubectl", T0));
    const patched = recordUpdate({ before: live, after: { ...live, spec: { interval: "5m", path: "./a", suspend: true } }, manager: "kubectl-patch", operation: "Update", now: T1, apiVersion: V1 });
    const r = serverSideApply({ live: patched, applied: ks({ interval: "1m", path: "./b", suspend: false }), manager: "fluxgate", force: false, now: T2, apiVersion: V1 });
    assert.equal(r.ok, false);
    assert.equal(
      applyConflictMessage((r as { conflicts: ApplyConflict[] }).conflicts),
      `Apply failed with 3 conflicts: conflicts with "kubectl":\n- .spec.interval\n- .spec.path\nconflicts with "kubectl-patch" using ${V1}:\n- .spec.suspend`,
    );
  });

  it("keeps the entry time on a no-op re-apply and stamps it when something changes", () => {
    const live = stored(apply(undefined, ks({ interval: "5m" }), "kubectl", T0));
    const same = apply(live, ks({ interval: "5m" }), "kubectl", T1);
    assert.equal((managed(same) as Obj[])[0]!["time"], "2026-11-25T07:51:11Z");
    const changed = apply(live, ks({ interval: "6m" }), "kubectl", T1);
    assert.equal((managed(changed) as Obj[])[0]!["time"], "2026-11-25T08:00:00Z");
  });

  it("treats lists as atomic: one owner, replaced whole", () => {
    const live = stored(apply(undefined, ks({ components: ["a", "b"] }), "kubectl", T0));
    const next = apply(live, ks({ components: ["c"] }), "kubectl", T1);
    assert.deepEqual(spec(next), { components: ["c"] });
    assert.deepEqual((managed(next) as Obj[])[0]!["fieldsV1"], { "f:spec": { "f:components": {} } });
  });

  it("merges metadata.finalizers as a set with one v: item per finalizer", () => {
    const live = stored(apply(undefined, ks({ interval: "5m" }, { finalizers: ["a.example.io"] }), "kubectl", T0));
    const next = apply(live, ks({ interval: "5m" }, { finalizers: ["b.example.io"] }), "other", T1);
    assert.deepEqual((next["metadata"] as Obj)["finalizers"], ["a.example.io", "b.example.io"]);
    assert.deepEqual((managed(next) as Obj[])[1]!["fieldsV1"], {
      "f:metadata": { "f:finalizers": { 'v:"b.example.io"': {} } },
      "f:spec": { "f:interval": {} },
    });
  });

  it("first records fields of an object nobody tracked as 'before-first-apply', so a different value conflicts", () => {
    const untracked = stored(ks({ interval: "5m" }));
    const r = serverSideApply({ live: untracked, applied: ks({ interval: "1m" }), manager: "kubectl", force: false, now: T1, apiVersion: V1 });
    assert.deepEqual(r, {
      ok: false,
      conflicts: [{ manager: "before-first-apply", field: ".spec.interval", operation: "Update", apiVersion: V1, description: `"before-first-apply" using ${V1}` }],
    });
  });

  it("leaves reset fields alone: status in an apply to the main resource is neither merged nor owned", () => {
    const live = stored({ ...ks({ interval: "5m" }), status: { observedGeneration: 1 } });
    const r = serverSideApply({
      live: recordUpdate({ before: undefined, after: live, manager: "kubectl-create", operation: "Update", now: T0, apiVersion: V1, resetFields: ["status"] }),
      applied: { ...ks({ interval: "5m" }), status: { observedGeneration: 9 } },
      manager: "kubectl",
      force: false,
      now: T1,
      apiVersion: V1,
      resetFields: ["status"],
    });
    assert.ok(r.ok);
    assert.deepEqual(r.object["status"], { observedGeneration: 1 });
    assert.deepEqual((managed(r.object) as Obj[])[0]!["fieldsV1"], { "f:spec": { "f:interval": {} } });
  });

  it("answers metadata.managedFields in the applied configuration with a bad request", () => {
    assert.throws(
      () => serverSideApply({ live: undefined, applied: ks({}, { managedFields: [] }), manager: "kubectl", force: false, now: T0, apiVersion: V1 }),
      new ApplyBadRequestError("metadata.managedFields must be nil"),
    );
  });

  it("records applies to a subresource under their own entry", () => {
    const live = stored(apply(undefined, ks({ interval: "5m" }), "kubectl", T0));
    const r = serverSideApply({ live, applied: { ...ks({}), status: { ready: true } }, manager: "ctrl", force: false, now: T1, apiVersion: V1, subresource: "status", resetFields: ["spec"] });
    assert.ok(r.ok);
    assert.deepEqual((managed(r.object) as Obj[])[1], {
      manager: "ctrl",
      operation: "Apply",
      apiVersion: V1,
      time: "2026-11-25T08:00:00Z",
      fieldsType: "FieldsV1",
      fieldsV1: { "f:status": { "f:ready": {} } },
      subresource: "status",
    });
  });
});

describe("recordUpdate", () => {
  it("records a create as an Update entry where added maps carry '.' (metadata itself and its name are never owned)", () => {
    const created = stored(ks(BASE_SPEC, { labels: { app: "web" }, finalizers: ["finalizers.fluxcd.io"] }));
    const out = recordUpdate({ before: undefined, after: created, manager: "kubectl-create", operation: "Update", now: T0, apiVersion: V1 });
    assert.deepEqual(managed(out), [
      {
        manager: "kubectl-create",
        operation: "Update",
        apiVersion: V1,
        time: "2026-11-25T07:51:11Z",
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:metadata": { "f:finalizers": { ".": {}, 'v:"finalizers.fluxcd.io"': {} }, "f:labels": { ".": {}, "f:app": {} } },
          "f:spec": { ".": {}, "f:interval": {}, "f:path": {}, "f:prune": {}, "f:sourceRef": { ".": {}, "f:kind": {}, "f:name": {} } },
        },
      },
    ]);
  });

  it("moves changed fields to the updating manager without conflict and sorts Apply entries before Update entries", () => {
    const live = stored(apply(undefined, ks(BASE_SPEC), "kubectl", T0));
    const out = recordUpdate({
      before: live,
      after: { ...live, metadata: { ...(live["metadata"] as Obj), annotations: { "reconcile.fluxcd.io/requestedAt": "now" } }, spec: { ...BASE_SPEC, interval: "1m" } },
      manager: "fluxgate",
      operation: "Update",
      now: T1,
      apiVersion: V1,
    });
    assert.deepEqual(
      (managed(out) as Obj[]).map((e) => [e["manager"], e["operation"], e["fieldsV1"]]),
      [
        ["kubectl", "Apply", { "f:spec": { "f:path": {}, "f:prune": {}, "f:sourceRef": { "f:kind": {}, "f:name": {} } } }],
        ["fluxgate", "Update", { "f:metadata": { "f:annotations": { ".": {}, "f:reconcile.fluxcd.io/requestedAt": {} } }, "f:spec": { "f:interval": {} } }],
      ],
    );
  });

  it("adds nothing and keeps times when the write changes no owned field (only resourceVersion and generation)", () => {
    const live = stored(apply(undefined, ks(BASE_SPEC), "kubectl", T0));
    const bumped = { ...live, metadata: { ...(live["metadata"] as Obj), resourceVersion: "8", generation: 2 } };
    const out = recordUpdate({ before: live, after: bumped, manager: "kubectl-edit", operation: "Update", now: T1, apiVersion: V1 });
    assert.deepEqual(managed(out), managed(live));
  });

  it("takes removed fields out of every entry", () => {
    const live = stored(apply(undefined, ks(BASE_SPEC), "kubectl", T0));
    const { prune: _drop, ...rest } = BASE_SPEC;
    const out = recordUpdate({ before: live, after: { ...live, spec: rest }, manager: "kubectl-patch", operation: "Update", now: T1, apiVersion: V1 });
    assert.deepEqual(managed(out), [
      {
        manager: "kubectl",
        operation: "Apply",
        apiVersion: V1,
        time: "2026-11-25T07:51:11Z",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:spec": { "f:interval": {}, "f:path": {}, "f:sourceRef": { "f:kind": {}, "f:name": {} } } },
      },
    ]);
  });

  it("merges later writes of the same manager into its entry and restamps it", () => {
    const live = stored(ks({ interval: "5m" }));
    const one = recordUpdate({ before: undefined, after: live, manager: "m", operation: "Update", now: T0, apiVersion: V1 });
    const two = recordUpdate({ before: one, after: { ...one, spec: { interval: "5m", suspend: true } }, manager: "m", operation: "Update", now: T1, apiVersion: V1 });
    assert.deepEqual(managed(two), [
      { manager: "m", operation: "Update", apiVersion: V1, time: "2026-11-25T08:00:00Z", fieldsType: "FieldsV1", fieldsV1: { "f:spec": { ".": {}, "f:interval": {}, "f:suspend": {} } } },
    ]);
  });

  it("resets tracking when the body sends managedFields: [] and keeps the stored entries when it omits them", () => {
    const live = stored(apply(undefined, ks(BASE_SPEC), "kubectl", T0));
    const reset = recordUpdate({ before: live, after: { ...live, metadata: { ...(live["metadata"] as Obj), managedFields: [] } }, manager: "m", operation: "Update", now: T1, apiVersion: V1 });
    assert.equal(managed(reset), undefined);
    const { managedFields: _mf, ...meta } = live["metadata"] as Obj;
    const kept = recordUpdate({ before: live, after: { ...live, metadata: meta }, manager: "m", operation: "Update", now: T1, apiVersion: V1 });
    assert.deepEqual(managed(kept), managed(live));
  });

  it("gives status writes their own entry with subresource: status", () => {
    const live = stored(apply(undefined, ks({ interval: "5m" }), "kubectl", T0));
    const out = recordUpdate({ before: live, after: { ...live, status: { observedGeneration: 1 } }, manager: "kustomize-controller", operation: "Update", now: T1, apiVersion: V1, subresource: "status" });
    assert.deepEqual((managed(out) as Obj[])[1], {
      manager: "kustomize-controller",
      operation: "Update",
      apiVersion: V1,
      time: "2026-11-25T08:00:00Z",
      fieldsType: "FieldsV1",
      fieldsV1: { "f:status": { ".": {}, "f:observedGeneration": {} } },
      subresource: "status",
    });
  });
});
