import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { RequestError } from "../../src/errors.ts";
import { effectivePatch, parseReview, pointerSegment, reviewResponse, toAdmissionInput, warningTexts } from "../../src/admission/review.ts";
import type { AdmissionReview } from "../../src/admission/review.ts";
import type { Decision, KubeObject, Violation } from "../../src/admission/rule.ts";

const UID = "705ab4f5-6393-11e8-b7cc-42010a800002";

const kustomization = (extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "apps", namespace: "dev-team", ...extra },
  spec: { interval: "5m", sourceRef: { kind: "GitRepository", name: "apps" } },
});

/** The §1.2 example of admission.md, as kube-apiserver sends it. */
function reviewBody(request: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: UID,
      kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
      resource: { group: "kustomize.toolkit.fluxcd.io", version: "v1", resource: "kustomizations" },
      requestKind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
      requestResource: { group: "kustomize.toolkit.fluxcd.io", version: "v1", resource: "kustomizations" },
      name: "apps",
      namespace: "dev-team",
      operation: "UPDATE",
      userInfo: { username: "alice", groups: ["dev", "system:authenticated"], extra: {} },
      object: kustomization(),
      oldObject: kustomization(),
      dryRun: false,
      options: { kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "kubectl-patch" },
      ...request,
    },
    ...top,
  };
}

const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const parse = (request: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => parseReview(bytes(reviewBody(request, top)));

function rejection(body: Uint8Array | string): { status: number; reason: string; message: string } {
  try {
    parseReview(typeof body === "string" ? bytes(body) : body);
  } catch (e) {
    assert.ok(e instanceof RequestError, `expected a RequestError, got ${String(e)}`);
    return { status: e.status, reason: e.reason, message: e.message };
  }
  assert.fail("expected the review to be rejected");
}

const decision = (d: Partial<Decision> = {}): Decision => ({ denials: [], warnings: [], patch: [], auditAnnotations: {}, ...d });

const crossNs: Violation = {
  rule: "cross-namespace-refs",
  path: "spec.sourceRef.namespace",
  value: "flux-system",
  message: 'spec.sourceRef.namespace: cross-namespace reference to "flux-system" is not allowed for tenant "dev-team"',
};
const noSa: Violation = { rule: "service-account", path: "spec.serviceAccountName", message: "spec.serviceAccountName: required for tenant \"dev-team\"; allowed: dev-team" };

const decodePatch = (p: string | undefined) => JSON.parse(Buffer.from(p ?? "", "base64").toString("utf8")) as unknown;

describe("parseReview", () => {
  it("reads the request of a v1 AdmissionReview and what the rules judge from it", () => {
    const review = parse();
    assert.deepEqual(review, {
      apiVersion: "admission.k8s.io/v1",
      request: {
        uid: UID,
        kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
        resource: { group: "kustomize.toolkit.fluxcd.io", version: "v1", resource: "kustomizations" },
        name: "apps",
        namespace: "dev-team",
        operation: "UPDATE",
        userInfo: { username: "alice", groups: ["dev", "system:authenticated"] },
        object: kustomization(),
        oldObject: kustomization(),
        dryRun: false,
      },
    });
    const now = new Date("2026-11-25T10:00:00Z");
    assert.deepEqual(toAdmissionInput(review.request, now), {
      operation: "UPDATE",
      kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
      namespace: "dev-team",
      user: { username: "alice", groups: ["dev", "system:authenticated"] },
      dryRun: false,
      now,
      object: kustomization(),
      oldObject: kustomization(),
    });
  });

  it("treats null objects, groups and dryRun like absent ones (RawExtension null) and takes dryRun: true", () => {
    const review = parse({ operation: "CREATE", oldObject: null, options: null, dryRun: true, userInfo: { username: "bob", groups: null } });
    assert.equal(review.request.oldObject, undefined);
    assert.equal(review.request.dryRun, true);
    assert.deepEqual(review.request.userInfo, { username: "bob", groups: [] });
    const del = parse({ operation: "DELETE", object: null, dryRun: null });
    assert.equal(del.request.object, undefined);
    assert.equal(del.request.dryRun, false);
    assert.deepEqual(toAdmissionInput(del.request, new Date(0)).oldObject, kustomization());
  });

  it("takes the namespace from the object when the request has none", () => {
    const review = parse({ namespace: undefined, operation: "CREATE", oldObject: null });
    assert.equal(toAdmissionInput(review.request, new Date(0)).namespace, "dev-team");
  });

  it("accepts admission.k8s.io/v1beta1 and echoes that version in the answer", () => {
    const review = parse({}, { apiVersion: "admission.k8s.io/v1beta1" });
    assert.equal(review.apiVersion, "admission.k8s.io/v1beta1");
    assert.equal(reviewResponse(review, decision(), "validate").apiVersion, "admission.k8s.io/v1beta1");
  });

  it("does not require a Kubernetes object on CONNECT, whose object is the options", () => {
    const review = parse({ operation: "CONNECT", object: { kind: "PodExecOptions", apiVersion: "v1", command: ["sh"] }, oldObject: null });
    assert.equal(review.request.object, undefined);
  });

  const cases: Array<[string, Uint8Array | string, string]> = [
    ["an empty body", "", "the body is empty; expected an AdmissionReview"],
    ["bytes that are not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "the body is not valid UTF-8"],
    ["a JSON array", "[]", "(body): Invalid input: expected object, received array"],
    ["another apiVersion", JSON.stringify(reviewBody({}, { apiVersion: "admission.k8s.io/v2" })), "apiVersion: expected one of admission.k8s.io/v1, admission.k8s.io/v1beta1"],
    ["another kind", JSON.stringify(reviewBody({}, { kind: "TokenReview" })), 'kind: expected "AdmissionReview"'],
    ["no request", JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }), "request: required (object)"],
    ["no uid", JSON.stringify(reviewBody({ uid: undefined })), "request.uid: required (string)"],
    ["an empty uid", JSON.stringify(reviewBody({ uid: "" })), "request.uid: must not be empty"],
    ["an unknown operation", JSON.stringify(reviewBody({ operation: "PATCH" })), 'request.operation: Invalid option: expected one of "CREATE"|"UPDATE"|"DELETE"|"CONNECT"'],
    ["a CREATE without object", JSON.stringify(reviewBody({ operation: "CREATE", object: null, oldObject: null })), "request.object: required for CREATE"],
    ["an object without metadata", JSON.stringify(reviewBody({ object: { apiVersion: "v1", kind: "X" } })), "request.object.metadata: required (object)"],
    ["a label that is not a string", JSON.stringify(reviewBody({ object: kustomization({ labels: { a: 1 } }) })), "request.object.metadata.labels.a: Invalid input: expected string, received number"],
    ["a spec that is a list", JSON.stringify(reviewBody({ oldObject: { ...kustomization(), spec: [] } })), "request.oldObject.spec: expected a mapping"],
    ["groups that are not strings", JSON.stringify(reviewBody({ userInfo: { username: "a", groups: [1, 2] } })), "request.userInfo.groups[0]: Invalid input: expected string, received number (and 1 more problem)"],
    ["nesting deeper than 256 levels", `${"[".repeat(300)}${"]".repeat(300)}`, "the body is nested more than 256 levels deep"],
  ];
  for (const [what, body, message] of cases) {
    it(`answers 400 MalformedReview for ${what}`, () => {
      assert.deepEqual(rejection(body), { status: 400, reason: "MalformedReview", message: `malformed AdmissionReview: ${message}` });
    });
  }

  it("answers 400 for a body that is not JSON, naming the parser's complaint", () => {
    const r = rejection("{\"apiVersion\":");
    assert.equal(r.status, 400);
    assert.match(r.message, /^malformed AdmissionReview: the body is not valid JSON: /);
  });

  it("answers 400, not a crash, for a million nested arrays", () => {
    const r = rejection(`${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`);
    assert.equal(r.status, 400);
  });
});

describe("reviewResponse for /validate", () => {
  it("allows with the request's uid and says so in the audit annotations", () => {
    assert.deepEqual(reviewResponse(parse(), decision({ tenant: "dev-team" }), "validate"), {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: UID, allowed: true, auditAnnotations: { decision: "allowed", tenant: "dev-team" } },
    });
  });

  it("denies with 403 Forbidden and every denial in one message, audit findings as warnings", () => {
    const d = decision({ tenant: "dev-team", denials: [crossNs, noSa], warnings: [{ rule: "source-url", path: "spec.url", message: 'spec.url: "http://x" is not https' }], auditAnnotations: { "break-glass": "none" } });
    assert.deepEqual(reviewResponse(parse(), d, "validate"), {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: UID,
        allowed: false,
        status: {
          code: 403,
          reason: "Forbidden",
          message:
            'Kustomization dev-team/apps: spec.sourceRef.namespace: cross-namespace reference to "flux-system" is not allowed for tenant "dev-team" [cross-namespace-refs]; spec.serviceAccountName: required for tenant "dev-team"; allowed: dev-team [service-account]',
        },
        warnings: ['Kustomization dev-team/apps: spec.url: "http://x" is not https [source-url, audit]'],
        auditAnnotations: { decision: "denied", tenant: "dev-team", "denied-rules": "cross-namespace-refs,service-account", "audit-rules": "source-url", "break-glass": "none" },
      },
    });
  });

  it("allows with warnings when only audit-mode rules are violated", () => {
    const r = reviewResponse(parse(), decision({ warnings: [crossNs] }), "validate").response;
    assert.deepEqual(r, {
      uid: UID,
      allowed: true,
      warnings: ['Kustomization dev-team/apps: spec.sourceRef.namespace: cross-namespace reference to "flux-system" is not allowed for tenant "dev-team" [cross-namespace-refs, audit]'],
      auditAnnotations: { decision: "warned", "audit-rules": "cross-namespace-refs" },
    });
  });

  it("says why an exempt request was let through", () => {
    const r = reviewResponse(parse(), decision({ exempt: { kind: "spec-unchanged", reason: "the spec did not change" } }), "validate").response;
    assert.deepEqual(r, { uid: UID, allowed: true, auditAnnotations: { decision: "exempt", exemption: "spec-unchanged: the spec did not change" } });
  });

  it("names a generateName object by its prefix", () => {
    const review = parse({ name: "", operation: "CREATE", oldObject: null, object: { ...kustomization(), metadata: { generateName: "apps-", namespace: "dev-team" } } });
    assert.equal(reviewResponse(review, decision({ denials: [noSa] }), "validate").response.status?.message.split(": ")[0], "Kustomization dev-team/apps-<generated>");
  });

  it("lists at most 20 denials and says how many more there are", () => {
    const many = Array.from({ length: 25 }, (_, i): Violation => ({ rule: "cross-namespace-refs", path: `spec.dependsOn[${i}].namespace`, message: `spec.dependsOn[${i}].namespace: "x" is another namespace` }));
    const message = reviewResponse(parse(), decision({ denials: many }), "validate").response.status?.message ?? "";
    assert.ok(message.startsWith('Kustomization dev-team/apps: spec.dependsOn[0].namespace: "x" is another namespace [cross-namespace-refs]; spec.dependsOn[1]'));
    assert.ok(message.endsWith('spec.dependsOn[19].namespace: "x" is another namespace [cross-namespace-refs]; and 5 more violations'), message);
  });

  it("keeps each warning within 256 characters and all of them within 4,096", () => {
    const long: Violation = { rule: "r", path: "spec.x", message: `spec.x: ${"y".repeat(400)}` };
    const texts = warningTexts(parse().request, Array.from({ length: 30 }, () => long));
    assert.equal(texts[0]?.length, 256);
    assert.ok(texts[0]?.endsWith("yyy..."));
    assert.ok(texts.reduce((n, t) => n + t.length, 0) <= 4096);
    assert.equal(texts.length, 16);
    assert.equal(texts.at(-1), "Kustomization dev-team/apps: 15 more audit findings not shown (see the audit annotations)");
  });

  it("never puts control characters into a warning (it becomes an HTTP header)", () => {
    assert.deepEqual(warningTexts(parse().request, [{ rule: "r", path: "spec", message: "a\r\nb\u0000c" }]), ["Kustomization dev-team/apps: a b c [r, audit]"]);
  });
});

describe("reviewResponse for /mutate", () => {
  const withAnnotations = (annotations?: Record<string, string>) =>
    parse({ operation: "CREATE", oldObject: null, object: kustomization(annotations === undefined ? {} : { annotations }) });
  const ownerPatch = decision({ patch: [{ op: "add", path: `/metadata/annotations/${pointerSegment("example.com/owner")}`, value: "team-a" }] });

  it("answers admission.md's mutating example byte for byte: an escaped (~1) annotation key, base64", () => {
    const answer = reviewResponse(withAnnotations({ other: "x" }), ownerPatch, "mutate");
    assert.deepEqual(answer, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: UID,
        allowed: true,
        patchType: "JSONPatch",
        patch: "W3sib3AiOiJhZGQiLCJwYXRoIjoiL21ldGFkYXRhL2Fubm90YXRpb25zL2V4YW1wbGUuY29tfjFvd25lciIsInZhbHVlIjoidGVhbS1hIn1d",
        auditAnnotations: { decision: "patched" },
      },
    });
    assert.deepEqual(decodePatch(answer.response.patch), [{ op: "add", path: "/metadata/annotations/example.com~1owner", value: "team-a" }]);
  });

  it("adds the whole annotations map when the object has none, since a JSONPatch add needs the parent", () => {
    const answer = reviewResponse(withAnnotations(undefined), ownerPatch, "mutate");
    assert.deepEqual(decodePatch(answer.response.patch), [{ op: "add", path: "/metadata/annotations", value: { "example.com/owner": "team-a" } }]);
  });

  it("sends no patch (and no patchType) on reinvocation with its own output", () => {
    const answer = reviewResponse(withAnnotations({ "example.com/owner": "team-a" }), ownerPatch, "mutate");
    assert.deepEqual(answer.response, { uid: UID, allowed: true, auditAnnotations: { decision: "unchanged" } });
  });

  it("never denies, even with enforce violations: validation is /validate's job", () => {
    const answer = reviewResponse(withAnnotations(undefined), decision({ denials: [crossNs], warnings: [noSa] }), "mutate");
    assert.deepEqual(answer.response, { uid: UID, allowed: true, auditAnnotations: { decision: "unchanged" } });
  });

  it("never patches a DELETE", () => {
    const review = parse({ operation: "DELETE", object: null });
    assert.deepEqual(reviewResponse(review, ownerPatch, "mutate").response, { uid: UID, allowed: true, auditAnnotations: { decision: "unchanged" } });
  });
});

describe("effectivePatch", () => {
  const object = kustomization({ labels: { team: "a" }, annotations: { "a~b/c": "1" } });

  it("escapes ~ as ~0 before / as ~1", () => {
    assert.equal(pointerSegment("a~b/c"), "a~0b~1c");
    assert.deepEqual(effectivePatch(object, [{ op: "replace", path: "/metadata/annotations/a~0b~1c", value: "2" }]), [{ op: "replace", path: "/metadata/annotations/a~0b~1c", value: "2" }]);
  });

  it("drops what changes nothing: a value already there, a remove of something absent, a test", () => {
    assert.deepEqual(
      effectivePatch(object, [
        { op: "add", path: "/metadata/labels/team", value: "a" },
        { op: "replace", path: "/metadata/annotations/a~0b~1c", value: "1" },
        { op: "remove", path: "/metadata/labels/absent" },
        { op: "test", path: "/metadata/name", value: "apps" },
      ]),
      [],
    );
  });

  it("turns a replace of a missing member into an add, and drops operations that cannot apply", () => {
    assert.deepEqual(
      effectivePatch(object, [
        { op: "replace", path: "/spec/suspend", value: true },
        { op: "add", path: "/spec/interval/x", value: 1 },
        { op: "add", path: "", value: {} },
        { op: "add", path: "/spec/dependsOn/3", value: {} },
      ]),
      [{ op: "add", path: "/spec/suspend", value: true }],
    );
  });

  it("creates a missing map once and adds further keys under it by key", () => {
    const bare = kustomization();
    assert.deepEqual(
      effectivePatch(bare, [
        { op: "add", path: "/metadata/labels/a", value: "1" },
        { op: "add", path: "/metadata/labels/b", value: "2" },
      ]),
      [
        { op: "add", path: "/metadata/labels", value: { a: "1" } },
        { op: "add", path: "/metadata/labels/b", value: "2" },
      ],
    );
    assert.equal(bare.metadata.labels, undefined, "the received object is not modified");
  });

  it("appends to and removes from lists", () => {
    const withList: KubeObject = { ...kustomization(), spec: { dependsOn: [{ name: "a" }] } };
    assert.deepEqual(
      effectivePatch(withList, [
        { op: "add", path: "/spec/dependsOn/-", value: { name: "b" } },
        { op: "remove", path: "/spec/dependsOn/0" },
        { op: "remove", path: "/spec/dependsOn/5" },
      ]),
      [
        { op: "add", path: "/spec/dependsOn/-", value: { name: "b" } },
        { op: "remove", path: "/spec/dependsOn/0" },
      ],
    );
  });
});

// Type-level check that a parsed review is what the helpers take.
const _typed: (r: AdmissionReview) => unknown = (r) => toAdmissionInput(r.request, new Date());
void _typed;
