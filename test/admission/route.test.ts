import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { admissionApp } from "../../src/admission/route.ts";
import type { AdmissionInput, Decision, Phase } from "../../src/admission/rule.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { httpsGet } from "../support/https-get.ts";
import { localConfig } from "../support/local-config.ts";
import { parsePrometheusText } from "../support/prometheus-text.ts";
import { capturingLogger } from "../support/quiet-logger.ts";

const NOW = new Date("2026-11-25T10:00:00Z");

/** A stand-in for the rules: denies cross-namespace sourceRefs, warns on `spec.suspend`, patches a label in. */
function fakeEvaluate(input: AdmissionInput, phase: Phase): Decision {
  calls.push({ input, phase });
  const spec = input.object?.spec ?? {};
  if (input.user.username === "crash") throw new Error("rule bug with password=hunter2");
  if (input.user.username === "system:serviceaccount:flux-system:kustomize-controller") {
    return { exempt: { kind: "service-account", reason: "Flux controller" }, denials: [], warnings: [], patch: [], auditAnnotations: {} };
  }
  const d: Decision = { tenant: "dev-team", denials: [], warnings: [], patch: [], auditAnnotations: {} };
  const ref = spec["sourceRef"] as { namespace?: string } | undefined;
  if (ref?.namespace !== undefined && ref.namespace !== input.namespace) {
    d.denials.push({ rule: "cross-namespace-refs", path: "spec.sourceRef.namespace", value: ref.namespace, message: `spec.sourceRef.namespace: cross-namespace reference to "${ref.namespace}" is not allowed for tenant "dev-team"` });
  }
  if (spec["suspend"] === true) d.warnings.push({ rule: "suspend", path: "spec.suspend", value: true, message: "spec.suspend: suspended objects are not reconciled" });
  if (phase === "mutate") d.patch.push({ op: "add", path: "/metadata/labels/fluxgate.io~1tenant", value: "dev-team" });
  return d;
}
let calls: Array<{ input: AdmissionInput; phase: Phase }> = [];

function review(o: { uid?: string; operation?: string; sourceNamespace?: string; username?: string; dryRun?: boolean; labels?: Record<string, string>; suspend?: boolean; subResource?: string } = {}) {
  const object = {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name: "apps", namespace: "dev-team", ...(o.labels === undefined ? {} : { labels: o.labels }) },
    spec: { interval: "5m", sourceRef: { kind: "GitRepository", name: "apps", ...(o.sourceNamespace === undefined ? {} : { namespace: o.sourceNamespace }) }, ...(o.suspend === undefined ? {} : { suspend: o.suspend }) },
  };
  const operation = o.operation ?? "CREATE";
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: o.uid ?? "uid-1",
      kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
      resource: { group: "kustomize.toolkit.fluxcd.io", version: "v1", resource: "kustomizations" },
      ...(o.subResource === undefined ? {} : { subResource: o.subResource }),
      name: "apps",
      namespace: "dev-team",
      operation,
      userInfo: { username: o.username ?? "alice", groups: ["dev", "system:authenticated"] },
      object: operation === "DELETE" ? null : object,
      oldObject: operation === "CREATE" ? null : object,
      dryRun: o.dryRun ?? false,
    },
  });
}

describe("admission webhook over TLS", () => {
  let dir: string;
  let server: RunningServer;
  let ca: string;
  let lines: Array<Record<string, unknown>>;
  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    httpsGet({ port: server.listeners.admission?.port ?? 0, ca, servername: "fluxgate.fluxgate-system.svc", method: "POST", path, body, headers: { "content-type": "application/json", ...headers } });
  const metrics = async () => parsePrometheusText(await (await fetch(`http://127.0.0.1:${server.listeners.metrics?.port ?? 0}/metrics`)).text());
  const sample = (families: Awaited<ReturnType<typeof metrics>>, name: string, labels: Record<string, string>) =>
    families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-admission-"));
    const config = localConfig(dir, ["roles: [admission]", "tls: {dir: certs}", "http:", "  bodyLimit: 64Ki"]);
    const captured = capturingLogger("info");
    lines = captured.lines;
    const { registry } = createMetrics();
    const app = admissionApp({ log: captured.log, registry, evaluate: fakeEvaluate, bodyLimit: () => config.http.bodyLimit, now: () => NOW });
    server = await startServer(config, { log: captured.log, baseDir: dir, registry, routes: { admission: app } });
    ca = await readFile(join(dir, "certs", "ca.crt"), "utf8");
  });
  after(async () => {
    await server?.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it("allows a compliant object, echoing the uid, as kube-apiserver calls it (?timeout=10s)", async () => {
    calls = [];
    const r = await post("/validate?timeout=10s", review({ uid: "a1" }));
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(r.body), {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "a1", allowed: true, auditAnnotations: { decision: "allowed", tenant: "dev-team" } },
    });
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.phase, "validate");
    assert.deepEqual({ ...calls[0]?.input, object: undefined }, {
      operation: "CREATE",
      kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
      namespace: "dev-team",
      user: { username: "alice", groups: ["dev", "system:authenticated"] },
      dryRun: false,
      now: NOW,
      object: undefined,
    });
  });

  it("denies a violating object with 403 and the rule's message, and logs the denial without the object", async () => {
    const r = await post("/validate?timeout=10s", review({ uid: "d1", sourceNamespace: "flux-system", suspend: true }), { "x-request-id": "deny-1" });
    assert.equal(r.status, 200);
    const message = 'Kustomization dev-team/apps: spec.sourceRef.namespace: cross-namespace reference to "flux-system" is not allowed for tenant "dev-team" [cross-namespace-refs]';
    assert.deepEqual(JSON.parse(r.body), {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: "d1",
        allowed: false,
        status: { code: 403, reason: "Forbidden", message },
        warnings: ["Kustomization dev-team/apps: spec.suspend: suspended objects are not reconciled [suspend, audit]"],
        auditAnnotations: { decision: "denied", tenant: "dev-team", "denied-rules": "cross-namespace-refs", "audit-rules": "suspend" },
      },
    });
    const line = lines.find((l) => l.msg === "admission denied" && l.requestId === "deny-1");
    assert.deepEqual(
      { level: line?.level, uid: line?.uid, object: line?.object, operation: line?.operation, user: line?.user, tenant: line?.tenant, rules: line?.rules, dryRun: line?.dryRun, message: line?.message },
      { level: "info", uid: "d1", object: "Kustomization dev-team/apps", operation: "CREATE", user: "alice", tenant: "dev-team", rules: ["cross-namespace-refs"], dryRun: false, message },
    );
    assert.doesNotMatch(JSON.stringify(line), /GitRepository/, "the object is not logged");
  });

  it("answers a dry run exactly like the real request", async () => {
    const real = JSON.parse((await post("/validate", review({ uid: "same", sourceNamespace: "flux-system" }))).body);
    const dry = JSON.parse((await post("/validate", review({ uid: "same", sourceNamespace: "flux-system", dryRun: true }))).body);
    assert.deepEqual(dry, real);
    assert.equal(calls.at(-1)?.input.dryRun, true);
  });

  it("patches on /mutate with a base64 JSONPatch, and sends none once the object carries it (reinvocation)", async () => {
    const first = JSON.parse((await post("/mutate?timeout=10s", review({ uid: "m1", labels: { team: "a" } }))).body);
    assert.deepEqual(first, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: "m1",
        allowed: true,
        patchType: "JSONPatch",
        patch: Buffer.from(JSON.stringify([{ op: "add", path: "/metadata/labels/fluxgate.io~1tenant", value: "dev-team" }])).toString("base64"),
        auditAnnotations: { decision: "patched", tenant: "dev-team" },
      },
    });
    const again = JSON.parse((await post("/mutate", review({ uid: "m2", labels: { team: "a", "fluxgate.io/tenant": "dev-team" } }))).body);
    assert.deepEqual(again.response, { uid: "m2", allowed: true, auditAnnotations: { decision: "unchanged", tenant: "dev-team" } });
  });

  it("never denies on /mutate, whatever the rules find", async () => {
    const r = JSON.parse((await post("/mutate", review({ uid: "m3", sourceNamespace: "flux-system", labels: { "fluxgate.io/tenant": "dev-team" } }))).body);
    assert.deepEqual(r.response, { uid: "m3", allowed: true, auditAnnotations: { decision: "unchanged", tenant: "dev-team" } });
  });

  it("allows DELETE, CONNECT and subresource requests without asking the rules", async () => {
    calls = [];
    for (const [uid, o] of [
      ["x1", { operation: "DELETE" }],
      ["x2", { operation: "UPDATE", subResource: "status", sourceNamespace: "flux-system" }],
    ] as const) {
      for (const path of ["/validate", "/mutate"]) {
        const r = JSON.parse((await post(path, review({ uid, ...o }))).body);
        assert.deepEqual(r.response, { uid, allowed: true, auditAnnotations: { decision: "exempt", exemption: `${o.operation === "DELETE" ? "delete" : "subresource"}: not judged by fluxgate` } });
      }
    }
    assert.equal(calls.length, 0);
  });

  it("answers 400 with a reason for a malformed review, never a crash", async () => {
    const r = await post("/validate", JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { kind: { group: "", version: "v1", kind: "Pod" } } }), { "x-request-id": "bad-1" });
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { reason: "MalformedReview", message: "malformed AdmissionReview: request.uid: required (string) (and 2 more problems)", requestId: "bad-1" });
  });

  it("answers 413 for a review over the body limit", async () => {
    const r = await post("/validate", new Uint8Array(64 * 1024 + 1));
    assert.equal(r.status, 413);
    assert.equal(JSON.parse(r.body).reason, "RequestEntityTooLarge");
  });

  it("answers 500 when a rule throws, so the webhook's failurePolicy decides; the details go to the log only", async () => {
    const r = await post("/validate", review({ username: "crash" }), { "x-request-id": "crash-1" });
    assert.equal(r.status, 500);
    assert.deepEqual(JSON.parse(r.body), { reason: "InternalError", message: "internal error; the log has the details under requestId crash-1", requestId: "crash-1" });
    assert.doesNotMatch(r.body, /hunter2/);
    assert.ok(lines.some((l) => l.msg === "request failed" && l.requestId === "crash-1"));
  });

  it("answers 404 for other paths and 404 for GET on the webhook paths", async () => {
    assert.equal((await post("/admit", review())).status, 404);
    const r = await httpsGet({ port: server.listeners.admission?.port ?? 0, ca, servername: "localhost", path: "/validate" });
    assert.equal(r.status, 404);
  });

  it("gives up on a body that is still arriving shortly before kube-apiserver's timeout", async () => {
    const started = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        { host: "127.0.0.1", port: server.listeners.admission?.port ?? 0, method: "POST", path: "/validate?timeout=1s", ca, servername: "localhost", agent: false, headers: { "content-type": "application/json", "content-length": "1000" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on("error", reject);
      req.write("{\"apiVersion\":");
    });
    assert.equal(status, 503);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 700 && elapsed < 1000, `answered after ${elapsed} ms; expected before the 1 s timeout`);
  });

  it("counts requests by webhook, kind, operation and decision, violations by rule and mode, exemptions, latency", async () => {
    const before = await metrics();
    const count = (f: typeof before, decision: string, webhook = "validate") => sample(f, "fluxgate_admission_requests_total", { webhook, kind: "Kustomization", operation: "CREATE", decision });
    await post("/validate", review({ sourceNamespace: "flux-system" }));
    await post("/validate", review({ sourceNamespace: "flux-system", dryRun: true }));
    await post("/validate", review({ username: "system:serviceaccount:flux-system:kustomize-controller" }));
    await post("/mutate", review({ labels: {} }));
    await post("/validate", "{}");
    const after = await metrics();
    assert.equal(count(after, "denied") - count(before, "denied"), 2, "dry runs are requests too");
    assert.equal(count(after, "exempt") - count(before, "exempt"), 1);
    assert.equal(count(after, "patched", "mutate") - count(before, "patched", "mutate"), 1);
    const invalid = (f: typeof before) => sample(f, "fluxgate_admission_requests_total", { webhook: "validate", kind: "", operation: "", decision: "invalid" });
    assert.equal(invalid(after) - invalid(before), 1);
    const violations = (f: typeof before) => sample(f, "fluxgate_admission_violations_total", { rule: "cross-namespace-refs", mode: "enforce" });
    assert.equal(violations(after) - violations(before), 1, "a dry run does not count as a violation");
    const exempt = (f: typeof before) => sample(f, "fluxgate_admission_exemptions_total", { kind: "service-account" });
    assert.equal(exempt(after) - exempt(before), 1);
    assert.equal(after.get("fluxgate_admission_duration_seconds")?.type, "histogram");
    const buckets = after.get("fluxgate_admission_duration_seconds")?.samples.filter((s) => s.name === "fluxgate_admission_duration_seconds_bucket" && s.labels.webhook === "validate").map((s) => s.labels.le);
    assert.deepEqual(buckets, ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "+Inf"]);
  });
});

describe("the admission listener of startServer", () => {
  it("judges with the configured policy and applies a reloaded policy to the next review", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-admission-reload-"));
    const tenant = (sa: string) => ["policy:", "  tenants:", "    - {name: dev-team, namespaces: [dev-team], serviceAccountName: " + sa + "}"];
    const base = ["roles: [admission]", "tls: {dir: certs}"];
    const { log } = capturingLogger("info");
    const server = await startServer(localConfig(dir, [...base, ...tenant("apps")]), { log, baseDir: dir });
    try {
      const ca = await readFile(join(dir, "certs", "ca.crt"), "utf8");
      const body = review({ uid: "r1" }).replace('"spec":{', '"spec":{"serviceAccountName":"apps",');
      const call = async () => JSON.parse((await httpsGet({ port: server.listeners.admission?.port ?? 0, ca, servername: "fluxgate.fluxgate-system.svc", method: "POST", path: "/validate?timeout=10s", body })).body).response;
      assert.deepEqual(await call(), { uid: "r1", allowed: true, auditAnnotations: { decision: "allowed", tenant: "dev-team" } });
      server.reconfigure(localConfig(dir, [...base, ...tenant("deployer")]));
      const after = await call();
      assert.equal(after.allowed, false);
      assert.equal(after.status.code, 403);
      assert.match(after.status.message, /^Kustomization dev-team\/apps: spec\.serviceAccountName: "apps" is not a service account of the tenant; .*\[service-account\]$/);
      const identity = await httpsGet({ port: server.listeners.admission?.port ?? 0, ca, servername: "localhost", path: "/" });
      assert.equal(JSON.parse(identity.body).listener, "admission", "the listener still says who it is at /");
    } finally {
      await server.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
