import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Buffer } from "node:buffer";
import { issueCa, issueServingCert, servingDnsNames } from "../../../certs/issue.ts";
import { enableAdmission } from "./admission-wiring.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "./emulator.ts";
import type { KubeEmulator } from "./emulator.ts";
import { respond, startTestWebhook } from "./test-webhook.ts";
import type { TestWebhook } from "./test-webhook.ts";

const KS_PATH = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/dev-team/kustomizations";
const DENIAL = 'spec.sourceRef.namespace: cross-namespace reference to "flux-system" is not allowed for tenant "dev-team"';

let kube: KubeEmulator;
let webhook: TestWebhook;
let dir: string;

/** kubectl on PATH (`.ci/run` installs it); the kubectl cases are skipped without it. */
const kubectl = await new Promise<boolean>((resolve) => execFile("kubectl", ["version", "--client"], (err) => resolve(err === null)));

function runKubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // Asynchronous on purpose: the emulator and the webhook answer from this very process.
  return new Promise((resolve) => {
    execFile("kubectl", [...kube.kubectlArgs(), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; warning: string | null }> {
  const r = await fetch(`${kube.url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown>, warning: r.headers.get("warning") };
}

function kustomization(name: string, sourceRef: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: "dev-team" },
    spec: { interval: "5m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", ...sourceRef } },
  };
}

function configuration(kind: string, hookName: string, path: string): Record<string, unknown> {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind,
    metadata: { name: "fluxgate" },
    webhooks: [
      {
        name: hookName,
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: "Fail",
        timeoutSeconds: 5,
        clientConfig: { service: { namespace: "fluxgate-system", name: "fluxgate", path, port: 443 }, caBundle: Buffer.from(caPem).toString("base64") },
        rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: ["kustomize.toolkit.fluxcd.io"], apiVersions: ["*"], resources: ["kustomizations"], scope: "Namespaced" }],
        namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", "fluxgate-system"] }] },
      },
    ],
  };
}

let caPem = "";

before(async () => {
  const ca = await issueCa({ commonName: "fluxgate-ca" });
  caPem = ca.certPem;
  webhook = await startTestWebhook(await issueServingCert(ca, { dnsNames: servingDnsNames("fluxgate", "fluxgate-system"), ipAddresses: ["127.0.0.1"] }), (review, r) => {
    if (r.path === "/deny-all") return respond(review, { allowed: false, status: { message: "no" } });
    const request = review["request"] as Record<string, unknown>;
    const object = request["object"] as Record<string, unknown>;
    if (r.path === "/mutate") {
      const labels = (object["metadata"] as Record<string, unknown>)["labels"];
      const patch =
        labels === undefined
          ? [{ op: "add", path: "/metadata/labels", value: { "fluxgate.example.io/tenant": String(request["namespace"]) } }]
          : [{ op: "add", path: "/metadata/labels/fluxgate.example.io~1tenant", value: String(request["namespace"]) }];
      return respond(review, { allowed: true, patch });
    }
    const sourceNs = ((object["spec"] as Record<string, unknown>)["sourceRef"] as Record<string, unknown>)["namespace"];
    if (sourceNs !== undefined && sourceNs !== request["namespace"]) return respond(review, { allowed: false, status: { code: 403, reason: "Forbidden", message: DENIAL } });
    return respond(review, { allowed: true, warnings: ["deployment window closes at 18:00"] });
  });
  kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
  enableAdmission(kube, { resolveService: (ref) => (ref.namespace === "fluxgate-system" && ref.name === "fluxgate" ? `https://127.0.0.1:${webhook.port}` : undefined) });
  for (const [path, body] of [
    ["/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", configuration("ValidatingWebhookConfiguration", "validate.fluxgate.example.io", "/validate")],
    ["/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", configuration("MutatingWebhookConfiguration", "mutate.fluxgate.example.io", "/mutate")],
    ["/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "dev-team" } }],
  ] as const) {
    const r = await call("POST", path, body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  dir = mkdtempSync(join(tmpdir(), "admission-e2e-"));
});

after(async () => {
  await kube?.stop();
  await webhook?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("emulator with webhook admission", () => {
  it("honours a stored configuration with clientConfig.url from the start, and setAdmission(undefined) turns admission off", async () => {
    await using fresh = await startKubeEmulator();
    const cfg = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: "deny-namespaces" },
      webhooks: [
        {
          name: "deny.example.io",
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          clientConfig: { url: `https://127.0.0.1:${webhook.port}/deny-all`, caBundle: Buffer.from(caPem).toString("base64") },
          rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["namespaces"] }],
        },
      ],
    };
    const post = (path: string, body: unknown) => fetch(`${fresh.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal((await post("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", cfg)).status, 201);
    const denied = await post("/api/v1/namespaces", { metadata: { name: "team-b" } });
    assert.deepEqual([denied.status, ((await denied.json()) as Record<string, unknown>)["message"]], [400, 'admission webhook "deny.example.io" denied the request: no']);
    fresh.setAdmission(undefined);
    assert.equal((await post("/api/v1/namespaces", { metadata: { name: "team-b" } })).status, 201);
  });

  it("mutates, then admits a Kustomization created through the REST API, passing the webhook's warning on", async () => {
    const r = await call("POST", KS_PATH, kustomization("apps", { name: "flux-system" }));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual((r.body["metadata"] as Record<string, unknown>)["labels"], { "fluxgate.example.io/tenant": "dev-team" });
    assert.equal(r.warning, '299 - "deployment window closes at 18:00"');
    const validated = webhook.received.filter((x) => x.path === "/validate").at(-1)!;
    const seen = (validated.review["request"] as Record<string, unknown>)["object"] as Record<string, unknown>;
    assert.deepEqual((seen["metadata"] as Record<string, unknown>)["labels"], { "fluxgate.example.io/tenant": "dev-team" }, "validating webhooks see the mutated object");
    const stored = await call("GET", `${KS_PATH}/apps`);
    assert.deepEqual((stored.body["metadata"] as Record<string, unknown>)["labels"], { "fluxgate.example.io/tenant": "dev-team" });
  });

  it("answers a denied create with the webhook's Status and stores nothing", async () => {
    const r = await call("POST", KS_PATH, kustomization("cross", { name: "flux-system", namespace: "flux-system" }));
    assert.deepEqual(r, {
      status: 403,
      warning: null,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `admission webhook "validate.fluxgate.example.io" denied the request: ${DENIAL}`,
        reason: "Forbidden",
        code: 403,
      },
    });
    assert.equal((await call("GET", `${KS_PATH}/cross`)).status, 404);
  });

  it("shows kubectl create the denial the way kubectl prints it", { skip: !kubectl }, async () => {
    const file = join(dir, "cross.yaml");
    writeFileSync(file, JSON.stringify(kustomization("cross", { name: "flux-system", namespace: "flux-system" })));
    const r = await runKubectl(["create", "--validate=false", "-f", file]);
    assert.deepEqual(r, {
      code: 1,
      stdout: "",
      stderr: `Error from server (Forbidden): error when creating "${file}": admission webhook "validate.fluxgate.example.io" denied the request: ${DENIAL}\n`,
    });
  });

  it("runs kubectl apply --server-side through both webhooks", { skip: !kubectl }, async () => {
    const file = join(dir, "infra.yaml");
    writeFileSync(file, JSON.stringify(kustomization("infra", { name: "flux-system" })));
    const r = await runKubectl(["apply", "--server-side", "--validate=false", "-f", file]);
    assert.deepEqual(r, { code: 0, stdout: "kustomization.kustomize.toolkit.fluxcd.io/infra serverside-applied\n", stderr: "Warning: deployment window closes at 18:00\n" });
    const stored = await call("GET", `${KS_PATH}/infra`);
    assert.deepEqual((stored.body["metadata"] as Record<string, unknown>)["labels"], { "fluxgate.example.io/tenant": "dev-team" });
    const denied = await runKubectl(["apply", "--server-side", "--validate=false", "-f", join(dir, "cross.yaml")]);
    // kubectl apply --server-side (v1.32) prints the Status message without naming the file.
    assert.deepEqual(denied, { code: 1, stdout: "", stderr: `Error from server (Forbidden): admission webhook "validate.fluxgate.example.io" denied the request: ${DENIAL}\n` });
  });
});
