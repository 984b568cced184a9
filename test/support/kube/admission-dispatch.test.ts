import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { issueCa, issueServingCert, servingDnsNames } from "../../../certs/issue.ts";
import type { CertPair } from "../../../certs/issue.ts";
import { dispatchAdmission } from "./admission-dispatch.ts";
import type { AdmissionEnv } from "./admission-dispatch.ts";
import type { AdmissionAttributes, KubeObject } from "./admission-types.ts";
import { respond, reviewUid, startTestWebhook } from "./test-webhook.ts";
import type { ReceivedReview, TestWebhook, WebhookAnswer } from "./test-webhook.ts";

const GROUP = "kustomize.toolkit.fluxcd.io";
const KS_KIND = { group: GROUP, version: "v1", kind: "Kustomization" };
const KS_RESOURCE = { group: GROUP, version: "v1", resource: "kustomizations" };
const NAMESPACES: Record<string, Record<string, string>> = {
  "dev-team": { "kubernetes.io/metadata.name": "dev-team", tenant: "dev" },
  "kube-system": { "kubernetes.io/metadata.name": "kube-system" },
};

function ks(labels: Record<string, string> = {}, apiVersion = `${GROUP}/v1`): KubeObject {
  return {
    apiVersion,
    kind: "Kustomization",
    metadata: { name: "apps", namespace: "dev-team", labels },
    spec: { interval: "5m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" } },
  };
}

function attrs(overrides: Partial<AdmissionAttributes> = {}): AdmissionAttributes {
  return {
    operation: "CREATE",
    kind: KS_KIND,
    resource: KS_RESOURCE,
    name: "apps",
    namespace: "dev-team",
    object: ks(),
    userInfo: { username: "alice", groups: ["dev", "system:authenticated"] },
    dryRun: false,
    options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "kubectl-create" },
    ...overrides,
  };
}

let ca: CertPair;
let otherCa: CertPair;
let main: TestWebhook;
let byIp: TestWebhook;
const routes = new Map<string, (review: Record<string, unknown>, r: ReceivedReview) => WebhookAnswer | Promise<WebhookAnswer>>();

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** A webhook entry calling service `webhook.webhooks` at `path`, for Kustomization CREATE/UPDATE. */
function hook(name: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    clientConfig: { service: { namespace: "webhooks", name: "webhook", path, port: 443 }, caBundle: b64(ca.certPem) },
    rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: [GROUP], apiVersions: ["v1"], resources: ["kustomizations"], scope: "Namespaced" }],
    ...extra,
  };
}

function vwc(name: string, ...webhooks: Array<Record<string, unknown>>): KubeObject {
  return { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name }, webhooks };
}

function mwc(name: string, ...webhooks: Array<Record<string, unknown>>): KubeObject {
  return { apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", metadata: { name }, webhooks };
}

function env(overrides: Partial<AdmissionEnv> = {}): AdmissionEnv {
  return {
    validating: [],
    mutating: [],
    namespaceLabels: (ns) => NAMESPACES[ns],
    resolveService: (ref) => (ref.namespace === "webhooks" ? `https://127.0.0.1:${main.port}` : undefined),
    ...overrides,
  };
}

function received(path: string): ReceivedReview[] {
  return main.received.filter((r) => r.path === path);
}

function request(r: ReceivedReview): Record<string, unknown> {
  return r.review["request"] as Record<string, unknown>;
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const address = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return typeof address === "object" && address !== null ? address.port : 0;
}

before(async () => {
  ca = await issueCa({ commonName: "webhook-ca" });
  otherCa = await issueCa({ commonName: "other-ca" });
  // DNS names only: connecting to 127.0.0.1 verifies only if the client checks the <svc>.<ns>.svc name it sent as SNI.
  main = await startTestWebhook(await issueServingCert(ca, { dnsNames: servingDnsNames("webhook", "webhooks"), ipAddresses: [] }), (review, r) => {
    const handler = routes.get(r.path);
    return handler === undefined ? { status: 404, text: "no route" } : handler(review, r);
  });
  byIp = await startTestWebhook(await issueServingCert(ca, { dnsNames: [], ipAddresses: ["127.0.0.1"] }), (review) => respond(review, { allowed: true }));
});

after(async () => {
  await Promise.all([main.close(), byIp.close()]);
});

describe("dispatchAdmission: the call", () => {
  it("POSTs the AdmissionReview kube-apiserver sends, with its headers and ?timeout, to <svc>.<ns>.svc over TLS", async () => {
    routes.set("/call/validate", (review) => respond(review, { allowed: true }));
    const out = await dispatchAdmission(attrs(), env({ validating: [vwc("fluxgate", hook("validate.fluxgate.example.io", "/call/validate"))] }));
    assert.deepEqual(out, { allowed: true, object: ks(), warnings: [], auditAnnotations: {} });
    const [r] = received("/call/validate");
    assert.ok(r);
    assert.equal(r.method, "POST");
    assert.deepEqual(r.query, { timeout: "10s" });
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.headers["accept"], "application/json, */*");
    assert.equal(r.headers["user-agent"], "kube-apiserver-admission");
    assert.equal(r.headers["host"], "webhook.webhooks.svc:443");
    const uid = reviewUid(r.review);
    assert.match(uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(r.review, {
      kind: "AdmissionReview",
      apiVersion: "admission.k8s.io/v1",
      request: {
        uid,
        kind: KS_KIND,
        resource: KS_RESOURCE,
        requestKind: KS_KIND,
        requestResource: KS_RESOURCE,
        name: "apps",
        namespace: "dev-team",
        operation: "CREATE",
        userInfo: { username: "alice", groups: ["dev", "system:authenticated"] },
        object: ks(),
        oldObject: null,
        dryRun: false,
        options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "kubectl-create" },
      },
    });
    assert.deepEqual(Object.keys(request(r)), ["uid", "kind", "resource", "requestKind", "requestResource", "name", "namespace", "operation", "userInfo", "object", "oldObject", "dryRun", "options"]);
  });

  it("calls clientConfig.url directly, verifying the certificate against the URL's host", async () => {
    const cfg = vwc("by-url", { ...hook("url.example.io", "/"), clientConfig: { url: `https://127.0.0.1:${byIp.port}/admit`, caBundle: b64(ca.certPem) } });
    const out = await dispatchAdmission(attrs(), env({ validating: [cfg] }));
    assert.equal(out.allowed, true);
    assert.deepEqual(
      byIp.received.map((r) => [r.path, r.query]),
      [["/admit", { timeout: "10s" }]],
    );
  });

  it("sends UPDATE with oldObject, and DELETE with object null, oldObject and DeleteOptions", async () => {
    routes.set("/call/ops", (review) => respond(review, { allowed: true }));
    const rules = [{ operations: ["*"], apiGroups: [GROUP], apiVersions: ["*"], resources: ["kustomizations"] }];
    const e = env({ validating: [vwc("ops", hook("ops.example.io", "/call/ops", { rules }))] });
    const old = ks({ v: "1" });
    await dispatchAdmission(attrs({ operation: "UPDATE", object: ks({ v: "2" }), oldObject: old, options: { kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "kubectl-patch" } }), e);
    const out = await dispatchAdmission(attrs({ operation: "DELETE", object: undefined, oldObject: old, options: { kind: "DeleteOptions", apiVersion: "meta.k8s.io/v1", propagationPolicy: "Background" } }), e);
    assert.deepEqual(out, { allowed: true, warnings: [], auditAnnotations: {} });
    const [update, del] = received("/call/ops").map(request);
    assert.deepEqual([update!["operation"], update!["object"], update!["oldObject"], update!["options"]], [
      "UPDATE",
      ks({ v: "2" }),
      old,
      { kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "kubectl-patch" },
    ]);
    assert.deepEqual([del!["operation"], del!["object"], del!["oldObject"], del!["options"]], ["DELETE", null, old, { kind: "DeleteOptions", apiVersion: "meta.k8s.io/v1", propagationPolicy: "Background" }]);
  });

  it("passes dryRun through, and answers 400 without calling a webhook whose sideEffects are not None", async () => {
    routes.set("/call/dry", (review) => respond(review, { allowed: true }));
    const out = await dispatchAdmission(attrs({ dryRun: true }), env({ validating: [vwc("dry", hook("dry.example.io", "/call/dry"))] }));
    assert.equal(out.allowed, true);
    assert.deepEqual(received("/call/dry").map((r) => request(r)["dryRun"]), [true]);
    const refused = await dispatchAdmission(attrs({ dryRun: true }), env({ validating: [vwc("dry", hook("side.example.io", "/call/dry", { sideEffects: "Some" }))] }));
    assert.deepEqual(refused, {
      allowed: false,
      warnings: [],
      status: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'admission webhook "side.example.io" does not support dry run', reason: "BadRequest", code: 400 },
    });
    assert.equal(received("/call/dry").length, 1);
  });
});

describe("dispatchAdmission: decisions", () => {
  it("denies with the webhook's Status, the message prefixed with the webhook's name", async () => {
    const message = 'spec.sourceRef.namespace: cross-namespace reference to "flux-system" is not allowed for tenant "dev-team"';
    routes.set("/deny", (review) => respond(review, { allowed: false, status: { code: 403, reason: "Forbidden", message }, warnings: ["window closed"] }));
    const out = await dispatchAdmission(attrs(), env({ validating: [vwc("fluxgate", hook("validate.fluxgate.example.io", "/deny"))] }));
    assert.deepEqual(out, {
      allowed: false,
      warnings: ["window closed"],
      status: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `admission webhook "validate.fluxgate.example.io" denied the request: ${message}`,
        reason: "Forbidden",
        code: 403,
      },
    });
  });

  it("forces a denial's code to 400 when missing or below 400, and words it from the reason or 'without explanation'", async () => {
    routes.set("/deny/reason", (review) => respond(review, { allowed: false, status: { code: 200, reason: "NotAllowed" } }));
    routes.set("/deny/bare", (review) => respond(review, { allowed: false }));
    const byReason = await dispatchAdmission(attrs(), env({ validating: [vwc("a", hook("reason.example.io", "/deny/reason"))] }));
    const bare = await dispatchAdmission(attrs(), env({ validating: [vwc("b", hook("bare.example.io", "/deny/bare"))] }));
    assert.deepEqual(byReason.allowed ? undefined : byReason.status, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'admission webhook "reason.example.io" denied the request: NotAllowed',
      reason: "NotAllowed",
      code: 400,
    });
    assert.deepEqual(bare.allowed ? undefined : bare.status, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'admission webhook "bare.example.io" denied the request without explanation',
      code: 400,
    });
  });

  it("applies a mutating webhook's JSONPatch and collects warnings and audit annotations under the webhook's name", async () => {
    routes.set("/mutate/owner", (review) =>
      respond(review, {
        allowed: true,
        patch: [{ op: "add", path: "/metadata/annotations", value: { "example.com/owner": "team-a" } }],
        warnings: ["owner defaulted"],
        auditAnnotations: { rule: "default-owner" },
      }),
    );
    const out = await dispatchAdmission(attrs(), env({ mutating: [mwc("fluxgate", hook("mutate.fluxgate.example.io", "/mutate/owner"))] }));
    const expected = ks();
    (expected["metadata"] as Record<string, unknown>)["annotations"] = { "example.com/owner": "team-a" };
    assert.deepEqual(out, { allowed: true, object: expected, warnings: ["owner defaulted"], auditAnnotations: { "mutate.fluxgate.example.io/rule": "default-owner" } });
  });

  it("runs mutating webhooks, then the server's validation, then validating webhooks that see the final object", async () => {
    routes.set("/order/mutate", (review) => respond(review, { allowed: true, patch: [{ op: "add", path: "/metadata/labels/team", value: "a" }] }));
    routes.set("/order/validate", (review) => {
      const obj = (review["request"] as Record<string, unknown>)["object"] as KubeObject;
      const meta = obj["metadata"] as Record<string, unknown>;
      const ok = (meta["labels"] as Record<string, string>)["team"] === "a" && meta["uid"] === "uid-1";
      return respond(review, { allowed: ok, ...(ok ? {} : { status: { message: "saw the object before mutation" } }) });
    });
    const seenByValidate: KubeObject[] = [];
    const out = await dispatchAdmission(
      attrs(),
      env({
        mutating: [mwc("m", hook("m.example.io", "/order/mutate"))],
        validating: [vwc("v", hook("v.example.io", "/order/validate"))],
        validate: (o) => {
          seenByValidate.push(o);
          return { ok: true, object: { ...o, metadata: { ...(o["metadata"] as Record<string, unknown>), uid: "uid-1" } }, warnings: ["spec.x: unknown field"] };
        },
      }),
    );
    assert.deepEqual(seenByValidate.map((o) => (o["metadata"] as Record<string, unknown>)["labels"]), [{ team: "a" }]);
    assert.equal(out.allowed, true);
    assert.deepEqual(out.warnings, ["spec.x: unknown field"]);
    assert.equal(((out as { object: KubeObject }).object["metadata"] as Record<string, unknown>)["uid"], "uid-1");
  });

  it("stops with the server's validation Status before any validating webhook is called", async () => {
    routes.set("/order/never", (review) => respond(review, { allowed: true }));
    const invalid = { kind: "Status" as const, apiVersion: "v1" as const, metadata: {}, status: "Failure" as const, message: "spec.interval: Required value", reason: "Invalid", code: 422 };
    const out = await dispatchAdmission(attrs(), env({ validating: [vwc("v", hook("v.example.io", "/order/never"))], validate: () => ({ ok: false, status: invalid }) }));
    assert.deepEqual(out, { allowed: false, status: invalid, warnings: [] });
    assert.equal(received("/order/never").length, 0);
  });

  it("reinvokes an IfNeeded webhook once when a later webhook changed the object", async () => {
    routes.set("/reinvoke/a", (review) => {
      const labels = (((review["request"] as Record<string, unknown>)["object"] as KubeObject)["metadata"] as Record<string, unknown>)["labels"] as Record<string, string>;
      return respond(review, { allowed: true, ...(labels["a"] ? {} : { patch: [{ op: "add", path: "/metadata/labels/a", value: "1" }] }) });
    });
    routes.set("/reinvoke/b", (review) => respond(review, { allowed: true, patch: [{ op: "add", path: "/metadata/labels/b", value: "1" }] }));
    const out = await dispatchAdmission(
      attrs(),
      env({ mutating: [mwc("b-second", hook("b.example.io", "/reinvoke/b")), mwc("a-first", hook("a.example.io", "/reinvoke/a", { reinvocationPolicy: "IfNeeded" }))] }),
    );
    assert.deepEqual(((out as { object: KubeObject }).object["metadata"] as Record<string, unknown>)["labels"], { a: "1", b: "1" });
    const calls = received("/reinvoke/a").map((r) => ((request(r)["object"] as KubeObject)["metadata"] as Record<string, unknown>)["labels"]);
    assert.deepEqual(calls, [{}, { a: "1", b: "1" }]);
    assert.equal(received("/reinvoke/b").length, 1);
    assert.notEqual(reviewUid(received("/reinvoke/a")[0]!.review), reviewUid(received("/reinvoke/a")[1]!.review));
  });

  it("never calls webhooks for webhook configurations themselves", async () => {
    routes.set("/exempt", (review) => respond(review, { allowed: false }));
    const rules = [{ operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"], scope: "*" }];
    const cfg = vwc("x", hook("x.example.io", "/exempt", { rules }));
    const out = await dispatchAdmission(
      attrs({
        kind: { group: "admissionregistration.k8s.io", version: "v1", kind: "ValidatingWebhookConfiguration" },
        resource: { group: "admissionregistration.k8s.io", version: "v1", resource: "validatingwebhookconfigurations" },
        namespace: undefined,
        name: "x",
        object: cfg,
        operation: "DELETE",
      }),
      env({ validating: [cfg] }),
    );
    assert.equal(out.allowed, true);
    assert.equal(received("/exempt").length, 0);
  });
});

describe("dispatchAdmission: matching", () => {
  it("calls only the webhooks whose namespaceSelector, objectSelector and rules all match", async () => {
    routes.set("/match", (review) => respond(review, { allowed: true }));
    const hooks = [
      hook("match.example.io", "/match", { namespaceSelector: { matchLabels: { tenant: "dev" } }, objectSelector: { matchExpressions: [{ key: "skip", operator: "DoesNotExist" }] } }),
      hook("other-namespace.example.io", "/match", { namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["dev-team"] }] } }),
      hook("other-object.example.io", "/match", { objectSelector: { matchLabels: { app: "web" } } }),
      hook("delete-only.example.io", "/match", { rules: [{ operations: ["DELETE"], apiGroups: [GROUP], apiVersions: ["v1"], resources: ["kustomizations"] }] }),
      hook("status-only.example.io", "/match", { rules: [{ operations: ["*"], apiGroups: [GROUP], apiVersions: ["v1"], resources: ["kustomizations/status"] }] }),
      hook("cluster-scope.example.io", "/match", { rules: [{ operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"], scope: "Cluster" }] }),
      hook("other-group.example.io", "/match", { rules: [{ operations: ["*"], apiGroups: ["helm.toolkit.fluxcd.io"], apiVersions: ["*"], resources: ["*"] }] }),
    ];
    await dispatchAdmission(attrs(), env({ validating: [vwc("many", ...hooks)] }));
    assert.equal(received("/match").length, 1);
  });

  it("matches objectSelector against the old object too, and */status and x/* against subresources", async () => {
    routes.set("/match/old", (review) => respond(review, { allowed: true }));
    routes.set("/match/sub", (review) => respond(review, { allowed: true }));
    const update = attrs({ operation: "UPDATE", object: ks(), oldObject: ks({ app: "web" }) });
    await dispatchAdmission(update, env({ validating: [vwc("old", hook("old.example.io", "/match/old", { objectSelector: { matchLabels: { app: "web" } } }))] }));
    assert.equal(received("/match/old").length, 1);
    const status = attrs({ operation: "UPDATE", subResource: "status", oldObject: ks() });
    const rules = (resources: string[]) => [{ operations: ["UPDATE"], apiGroups: [GROUP], apiVersions: ["v1"], resources }];
    await dispatchAdmission(
      status,
      env({
        validating: [
          vwc("sub", hook("star-status.example.io", "/match/sub", { rules: rules(["*/status"]) }), hook("ks-star.example.io", "/match/sub", { rules: rules(["kustomizations/*"]) }), hook("star.example.io", "/match/sub", { rules: rules(["*"]) })),
        ],
      }),
    );
    const subCalls = received("/match/sub").map(request);
    assert.deepEqual(
      subCalls.map((r) => [r["subResource"], r["requestSubResource"]]),
      [
        ["status", "status"],
        ["status", "status"],
      ],
    );
  });

  it("answers 404 when a namespaceSelector needs a namespace that does not exist", async () => {
    routes.set("/match/ns", (review) => respond(review, { allowed: true }));
    const out = await dispatchAdmission(attrs({ namespace: "gone" }), env({ validating: [vwc("ns", hook("ns.example.io", "/match/ns", { namespaceSelector: { matchLabels: { tenant: "dev" } } }))] }));
    assert.deepEqual(out, {
      allowed: false,
      warnings: [],
      status: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'namespaces "gone" not found', reason: "NotFound", details: { name: "gone", kind: "namespaces" }, code: 404 },
    });
  });

  it("under matchPolicy Equivalent sends a v1beta2 request to a v1 webhook as v1, and converts its patch back", async () => {
    routes.set("/equivalent", (review) => respond(review, { allowed: true, patch: [{ op: "add", path: "/metadata/labels/seen", value: "v1" }] }));
    const beta = { ...KS_KIND, version: "v1beta2" };
    const betaResource = { ...KS_RESOURCE, version: "v1beta2" };
    const e = env({ mutating: [mwc("eq", hook("eq.example.io", "/equivalent"))], servedVersions: () => ["v1", "v1beta2"] });
    const out = await dispatchAdmission(attrs({ kind: beta, resource: betaResource, object: ks({}, `${GROUP}/v1beta2`) }), e);
    const [r] = received("/equivalent").map(request);
    assert.deepEqual([r!["kind"], r!["resource"], r!["requestKind"], r!["requestResource"]], [KS_KIND, KS_RESOURCE, beta, betaResource]);
    assert.equal((r!["object"] as KubeObject)["apiVersion"], `${GROUP}/v1`);
    assert.deepEqual((out as { object: KubeObject }).object, ks({ seen: "v1" }, `${GROUP}/v1beta2`));
    const exact = env({ mutating: [mwc("eq", hook("eq.example.io", "/equivalent", { matchPolicy: "Exact" }))], servedVersions: () => ["v1", "v1beta2"] });
    await dispatchAdmission(attrs({ kind: beta, resource: betaResource, object: ks({}, `${GROUP}/v1beta2`) }), exact);
    assert.equal(received("/equivalent").length, 1);
  });

  it("skips a webhook whose matchConditions are false, and with failurePolicy Fail forbids on a CEL error", async () => {
    routes.set("/cel", (review) => respond(review, { allowed: true }));
    const notFlux = { matchConditions: [{ name: "not-flux", expression: '!request.userInfo.username.startsWith("system:serviceaccount:flux-system:")' }] };
    const e = env({ validating: [vwc("cel", hook("cel.example.io", "/cel", notFlux))] });
    await dispatchAdmission(attrs(), e);
    await dispatchAdmission(attrs({ userInfo: { username: "system:serviceaccount:flux-system:kustomize-controller", groups: [] } }), e);
    assert.deepEqual(received("/cel").map((r) => (request(r)["userInfo"] as Record<string, unknown>)["username"]), ["alice"]);
    const broken = env({ validating: [vwc("cel", hook("cel.example.io", "/cel", { matchConditions: [{ name: "team", expression: 'object.metadata.labels.team == "x"' }] }))] });
    const out = await dispatchAdmission(attrs(), broken);
    assert.deepEqual(out.allowed ? undefined : out.status, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `kustomizations.${GROUP} "apps" is forbidden: expression 'object.metadata.labels.team == "x"' resulted in error: no such key: team`,
      reason: "Forbidden",
      details: { name: "apps", group: GROUP, kind: "kustomizations" },
      code: 403,
    });
  });
});

describe("dispatchAdmission: failures", () => {
  const failed = (name: string, reason: string) => ({
    allowed: false,
    warnings: [],
    status: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `Internal error occurred: failed calling webhook "${name}": ${reason}`,
      reason: "InternalError",
      details: { causes: [{ message: `failed calling webhook "${name}": ${reason}` }] },
      code: 500,
    },
  });

  it("on an unreachable webhook answers 500 with failurePolicy Fail and admits with Ignore", async () => {
    const port = await closedPort();
    const down = (failurePolicy: string) => env({ validating: [vwc("down", hook("down.example.io", "/down", { failurePolicy }))], resolveService: () => `https://127.0.0.1:${port}` });
    assert.deepEqual(
      await dispatchAdmission(attrs(), down("Fail")),
      failed("down.example.io", `failed to call webhook: Post "https://webhook.webhooks.svc:443/down?timeout=10s": dial tcp 127.0.0.1:${port}: connect: connection refused`),
    );
    assert.deepEqual(await dispatchAdmission(attrs(), down("Ignore")), { allowed: true, object: ks(), warnings: [], auditAnnotations: {} });
  });

  it("gives up after timeoutSeconds (sent as ?timeout=1s): 500 with Fail, admitted with Ignore", async () => {
    routes.set("/slow", () => ({ hang: true }));
    const slow = (failurePolicy: string) => env({ validating: [vwc("slow", hook("slow.example.io", "/slow", { failurePolicy, timeoutSeconds: 1 }))] });
    const [fail, ignore] = await Promise.all([dispatchAdmission(attrs(), slow("Fail")), dispatchAdmission(attrs(), slow("Ignore"))]);
    assert.deepEqual(fail, failed("slow.example.io", 'failed to call webhook: Post "https://webhook.webhooks.svc:443/slow?timeout=1s": context deadline exceeded'));
    assert.equal(ignore.allowed, true);
    assert.deepEqual(received("/slow").map((r) => r.query), [{ timeout: "1s" }, { timeout: "1s" }]);
  });

  it("fails the call when the serving certificate does not chain to caBundle, or does not name <svc>.<ns>.svc", async () => {
    routes.set("/tls", (review) => respond(review, { allowed: true }));
    const wrongCa = hook("tls.example.io", "/tls", { clientConfig: { service: { namespace: "webhooks", name: "webhook", path: "/tls" }, caBundle: b64(otherCa.certPem) } });
    assert.deepEqual(
      await dispatchAdmission(attrs(), env({ validating: [vwc("tls", wrongCa)] })),
      failed("tls.example.io", 'failed to call webhook: Post "https://webhook.webhooks.svc:443/tls?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority'),
    );
    const wrongName = hook("tls.example.io", "/tls", { clientConfig: { service: { namespace: "webhooks", name: "other", path: "/tls" }, caBundle: b64(ca.certPem) } });
    assert.deepEqual(
      await dispatchAdmission(attrs(), env({ validating: [vwc("tls", wrongName)] })),
      failed(
        "tls.example.io",
        'failed to call webhook: Post "https://other.webhooks.svc:443/tls?timeout=10s": tls: failed to verify certificate: x509: certificate is valid for ' +
          "webhook, webhook.webhooks, webhook.webhooks.svc, webhook.webhooks.svc.cluster.local, not other.webhooks.svc",
      ),
    );
    assert.equal(received("/tls").length, 0);
  });

  it("fails the call when no client can be built or the service does not resolve", async () => {
    const notPem = hook("pem.example.io", "/pem", { clientConfig: { service: { namespace: "webhooks", name: "webhook", path: "/pem" }, caBundle: b64("not a certificate") } });
    assert.deepEqual(
      await dispatchAdmission(attrs(), env({ validating: [vwc("pem", notPem)] })),
      failed("pem.example.io", "could not get REST client: unable to load root certificates: unable to parse bytes as PEM block"),
    );
    const nowhere = hook("dns.example.io", "/dns", { clientConfig: { service: { namespace: "elsewhere", name: "webhook", path: "/dns" }, caBundle: b64(ca.certPem) } });
    assert.deepEqual(
      await dispatchAdmission(attrs(), env({ validating: [vwc("dns", nowhere)] })),
      failed("dns.example.io", 'failed to call webhook: Post "https://webhook.elsewhere.svc:443/dns?timeout=10s": dial tcp: lookup webhook.elsewhere.svc: no such host'),
    );
  });

  it("treats malformed answers as call errors: uid mismatch, wrong kind, patch from a validating webhook, non-2xx", async () => {
    routes.set("/bad/uid", () => ({ json: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "not-the-uid", allowed: true } } }));
    routes.set("/bad/kind", (review) => ({ json: { apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview", response: { uid: reviewUid(review), allowed: true } } }));
    routes.set("/bad/patch", (review) => respond(review, { allowed: true, patch: [{ op: "add", path: "/x", value: 1 }] }));
    routes.set("/bad/500", () => ({ status: 500, text: "boom" }));
    routes.set("/bad/absent", () => ({ json: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" } }));
    const run = (path: string) => dispatchAdmission(attrs(), env({ validating: [vwc("bad", hook("bad.example.io", path))] }));
    const uid = await run("/bad/uid");
    const sentUid = reviewUid(received("/bad/uid")[0]!.review);
    assert.deepEqual(uid, failed("bad.example.io", `received invalid webhook response: expected response.uid="${sentUid}", got "not-the-uid"`));
    assert.deepEqual(
      await run("/bad/kind"),
      failed("bad.example.io", "received invalid webhook response: expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, Kind=AdmissionReview"),
    );
    assert.deepEqual(await run("/bad/patch"), failed("bad.example.io", "received invalid webhook response: validating webhook may not return response.patch"));
    assert.deepEqual(await run("/bad/500"), failed("bad.example.io", 'failed to call webhook: an error on the server ("boom") has prevented the request from succeeding'));
    assert.deepEqual(await run("/bad/absent"), failed("bad.example.io", "received invalid webhook response: webhook response was absent"));
  });

  it("rejects mutating answers with a patch but no patchType, or another patchType, as call errors (Ignore admits)", async () => {
    routes.set("/bad/no-type", (review) => ({ json: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: reviewUid(review), allowed: true, patch: b64("[]") } } }));
    routes.set("/bad/merge", (review) => ({
      json: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: reviewUid(review), allowed: true, patchType: "JSONMergePatch", patch: b64('[{"op":"add","path":"/x","value":1}]') } },
    }));
    const run = (path: string, failurePolicy = "Fail") => dispatchAdmission(attrs(), env({ mutating: [mwc("bad", hook("bad.example.io", path, { failurePolicy }))] }));
    assert.deepEqual(await run("/bad/no-type"), failed("bad.example.io", "received invalid webhook response: webhook returned response.patch but not response.patchType"));
    assert.deepEqual(await run("/bad/merge"), failed("bad.example.io", 'unsupported patch type "JSONMergePatch"'));
    assert.equal((await run("/bad/merge", "Ignore")).allowed, true);
  });

  it("answers 500 for a patch that does not apply or patches a DELETE, even with failurePolicy Ignore", async () => {
    routes.set("/bad/apply", (review) => respond(review, { allowed: true, patch: [{ op: "replace", path: "/spec/missing", value: 1 }] }));
    const ignore = { failurePolicy: "Ignore", rules: [{ operations: ["*"], apiGroups: [GROUP], apiVersions: ["v1"], resources: ["kustomizations"] }] };
    const e = env({ mutating: [mwc("bad", hook("bad.example.io", "/bad/apply", ignore))] });
    const internal = (message: string) => ({
      allowed: false,
      warnings: [],
      status: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `Internal error occurred: ${message}`, reason: "InternalError", details: { causes: [{ message }] }, code: 500 },
    });
    assert.deepEqual(await dispatchAdmission(attrs(), e), internal("replace operation does not apply: doc is missing key: /spec/missing: missing value"));
    assert.deepEqual(
      await dispatchAdmission(attrs({ operation: "DELETE", object: undefined, oldObject: ks() }), e),
      internal('admission webhook "bad.example.io" attempted to modify the object, which is not supported for this operation'),
    );
  });
});
