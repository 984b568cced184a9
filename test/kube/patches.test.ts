import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { annotationsJsonPatch, annotationsMergePatch, escapePointerToken, jsonPointer } from "../../src/kube/patches.ts";
import type { KubeObject } from "../../src/kube/object.ts";

const ks = (annotations?: Record<string, string>): KubeObject => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "apps", namespace: "dev", ...(annotations === undefined ? {} : { annotations }) },
});

describe("annotation patches", () => {
  it("escapes ~ as ~0 and / as ~1 in JSON Pointer tokens, ~ first", () => {
    assert.equal(escapePointerToken("reconcile.fluxcd.io/requestedAt"), "reconcile.fluxcd.io~1requestedAt");
    assert.equal(escapePointerToken("a~1b"), "a~01b");
    assert.equal(escapePointerToken("~/"), "~0~1");
    assert.equal(jsonPointer("metadata", "annotations", "example.com/a~b"), "/metadata/annotations/example.com~1a~0b");
  });

  it("builds a merge patch that holds only the annotations", () => {
    assert.equal(
      JSON.stringify(annotationsMergePatch({ "reconcile.fluxcd.io/requestedAt": "2026-11-25T07:51:11Z", "fluxgate.io/held": null })),
      '{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"2026-11-25T07:51:11Z","fluxgate.io/held":null}}}',
    );
  });

  it("adds one escaped path per annotation when the object has annotations, removing only keys it has", () => {
    assert.deepEqual(annotationsJsonPatch(ks({ "fluxgate.io/held": "yes" }), { "reconcile.fluxcd.io/requestedAt": "t1", "fluxgate.io/held": null, "absent/key": null }), [
      { op: "add", path: "/metadata/annotations/reconcile.fluxcd.io~1requestedAt", value: "t1" },
      { op: "remove", path: "/metadata/annotations/fluxgate.io~1held" },
    ]);
  });

  it("adds the whole annotations map when the object has none (JSON Patch cannot add under a missing key)", () => {
    assert.deepEqual(annotationsJsonPatch(ks(), { "reconcile.fluxcd.io/requestedAt": "t1", gone: null }), [
      { op: "add", path: "/metadata/annotations", value: { "reconcile.fluxcd.io/requestedAt": "t1" } },
    ]);
    assert.deepEqual(annotationsJsonPatch(ks(), { gone: null }), []);
  });
});
