/**
 * End to end: `fluxgate serve`'s admission listener (the real server, its generated certificate and the configured
 * policy) registered in the Kubernetes API emulator through a ValidatingWebhookConfiguration and a
 * MutatingWebhookConfiguration with the caBundle, called over TLS as kube-apiserver calls it, driven by kubectl.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { localConfig } from "../support/local-config.ts";
import { parsePrometheusText } from "../support/prometheus-text.ts";
import { capturingLogger } from "../support/quiet-logger.ts";
import { enableAdmission } from "../support/kube/admission-wiring.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";

const KUBECTL = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].find((p) => existsSync(p));
const skip = KUBECTL === undefined ? "kubectl is not installed (Debian package kubectl)" : false;

const KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/dev-team/kustomizations";
const GIT = "/apis/source.toolkit.fluxcd.io/v1/namespaces/dev-team/gitrepositories";

const POLICY = [
  "policy:",
  "  tenants:",
  "    - name: dev-team",
  "      namespaces: [dev-team]",
  "      serviceAccountName: dev-team",
  "      sources: {urls: [https://github.com/dev-team/*]}",
  "      rules: {source-url: audit}",
];

const kustomization = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace: "dev-team" },
  spec: { interval: "5m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "apps" }, ...spec },
});

const CROSS_NS_MESSAGE =
  'admission webhook "validate.fluxgate.io" denied the request: Kustomization dev-team/cross: spec.sourceRef.namespace: "flux-system" is another namespace; tenant "dev-team" may not reference other namespaces [cross-namespace-refs]';

function webhookConfiguration(kind: "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration", caPem: string) {
  const validate = kind === "ValidatingWebhookConfiguration";
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind,
    metadata: { name: "fluxgate" },
    webhooks: [
      {
        name: validate ? "validate.fluxgate.io" : "mutate.fluxgate.io",
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: "Fail",
        timeoutSeconds: 5,
        matchPolicy: "Equivalent",
        ...(validate ? {} : { reinvocationPolicy: "IfNeeded" }),
        clientConfig: { service: { namespace: "fluxgate-system", name: "fluxgate", path: validate ? "/validate" : "/mutate" }, caBundle: Buffer.from(caPem).toString("base64") },
        rules: [
          {
            apiGroups: ["source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io"],
            apiVersions: ["*"],
            operations: ["CREATE", "UPDATE"],
            resources: ["*"],
            scope: "Namespaced",
          },
        ],
        namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["flux-system", "kube-system", "fluxgate-system"] }] },
      },
    ],
  };
}

describe("admission end to end: kube API emulator → Fluxgate over TLS", { skip }, () => {
  let dir: string;
  let server: RunningServer;
  let kube: KubeEmulator;
  let lines: Array<Record<string, unknown>>;

  const api = async (method: string, path: string, body?: unknown, contentType = "application/json") => {
    const r = await fetch(`${kube.url}${path}`, { method, headers: { "content-type": contentType }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown>, warning: r.headers.get("warning") };
  };
  const kubectl = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      // Asynchronous: the emulator and Fluxgate answer from this very process.
      execFile(KUBECTL ?? "kubectl", [...kube.kubectlArgs(), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
      });
    });
  const manifest = async (name: string, object: unknown) => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, JSON.stringify(object));
    return file;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-e2e-"));
    const captured = capturingLogger("info");
    lines = captured.lines;
    server = await startServer(localConfig(dir, ["roles: [admission]", "tls: {dir: certs}", ...POLICY]), { log: captured.log, baseDir: dir });
    const caPem = await readFile(join(dir, "certs", "ca.crt"), "utf8");
    kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
    const port = server.listeners.admission?.port ?? 0;
    enableAdmission(kube, { resolveService: (ref) => (ref.namespace === "fluxgate-system" && ref.name === "fluxgate" ? `https://127.0.0.1:${port}` : undefined) });
    for (const [path, body] of [
      ["/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "dev-team" } }],
      ["/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", webhookConfiguration("ValidatingWebhookConfiguration", caPem)],
      ["/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", webhookConfiguration("MutatingWebhookConfiguration", caPem)],
    ] as const) {
      const r = await api("POST", path, body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });
  after(async () => {
    await kube?.stop();
    await server?.shutdown();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("fails kubectl apply of a violating tenant manifest with Fluxgate's message, and stores nothing", async () => {
    const file = await manifest("cross", kustomization("cross", { serviceAccountName: "dev-team", sourceRef: { kind: "GitRepository", name: "apps", namespace: "flux-system" } }));
    const r = await kubectl("apply", "--validate=false", "-f", file);
    assert.deepEqual(r, { code: 1, stdout: "", stderr: `Error from server (Forbidden): error when creating "${file}": ${CROSS_NS_MESSAGE}\n` });
    assert.equal((await api("GET", `${KS}/cross`)).status, 404);
    const denial = lines.find((l) => l.msg === "admission denied" && l.object === "Kustomization dev-team/cross" && l.dryRun === false);
    assert.deepEqual(denial?.rules, ["cross-namespace-refs"]);
  });

  it("runs kubectl apply --dry-run=server through both webhooks and writes nothing", async () => {
    const file = await manifest("dry", kustomization("dry", {}));
    const r = await kubectl("apply", "--dry-run=server", "--validate=false", "-f", file, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    const shown = JSON.parse(r.stdout) as { spec: Record<string, unknown> };
    assert.equal(shown.spec["serviceAccountName"], "dev-team", "the mutating webhook filled in the tenant's service account");
    assert.equal((await api("GET", `${KS}/dry`)).status, 404, "a dry run stores nothing");
    const denied = await kubectl("apply", "--dry-run=server", "--validate=false", "-f", await manifest("cross", kustomization("cross", { sourceRef: { kind: "GitRepository", name: "apps", namespace: "flux-system" } })));
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /admission webhook "validate\.fluxgate\.io" denied the request: Kustomization dev-team\/cross: spec\.sourceRef\.namespace: /, "dry runs are judged like real requests");
  });

  it("mutates on apply: a Kustomization without serviceAccountName is stored with the tenant's", async () => {
    const r = await kubectl("apply", "--validate=false", "-f", await manifest("apps", kustomization("apps", {})));
    assert.deepEqual(r, { code: 0, stdout: "kustomization.kustomize.toolkit.fluxcd.io/apps created\n", stderr: "" });
    const stored = await api("GET", `${KS}/apps`);
    assert.equal((stored.body["spec"] as Record<string, unknown>)["serviceAccountName"], "dev-team");
    const again = await kubectl("apply", "--validate=false", "-f", await manifest("apps", kustomization("apps", {})));
    assert.deepEqual(again, { code: 0, stdout: "kustomization.kustomize.toolkit.fluxcd.io/apps unchanged\n", stderr: "" });
  });

  it("passes audit-mode findings to kubectl as warnings", async () => {
    const repo = { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", metadata: { name: "apps", namespace: "dev-team" }, spec: { interval: "1m", url: "https://gitlab.com/other/apps" } };
    const r = await kubectl("apply", "--validate=false", "-f", await manifest("repo", repo));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "gitrepository.source.toolkit.fluxcd.io/apps created\n");
    assert.equal(
      r.stderr,
      'Warning: GitRepository dev-team/apps: spec.url: "https://gitlab.com/other/apps" (gitlab.com/other/apps) is not an allowed source; tenant "dev-team" may use only "https://github.com/dev-team/*" [source-url, audit]\n',
    );
    assert.equal((await api("GET", `${GIT}/apps`)).status, 200);
  });

  it("never blocks metadata-only updates or deletes of an object that breaks the policy, so Flux can finalize it", async () => {
    // Stored before the webhook knew better (as when a policy tightens).
    kube.setAdmission(undefined);
    assert.equal((await api("POST", KS, kustomization("legacy", { sourceRef: { kind: "GitRepository", name: "apps", namespace: "flux-system" } }))).status, 201);
    enableAdmission(kube, { resolveService: () => `https://127.0.0.1:${server.listeners.admission?.port ?? 0}` });
    const finalizer = await api("PATCH", `${KS}/legacy`, { metadata: { finalizers: ["finalizers.fluxcd.io"], labels: { team: "dev" } } }, "application/merge-patch+json");
    assert.equal(finalizer.status, 200, JSON.stringify(finalizer.body));
    const specChange = await api("PATCH", `${KS}/legacy`, { spec: { interval: "10m" } }, "application/merge-patch+json");
    assert.equal(specChange.status, 403, "a spec change is judged");
    const deleted = await kubectl("delete", "ks", "legacy", "-n", "dev-team", "--wait=false");
    assert.deepEqual(deleted, { code: 0, stdout: 'kustomization.kustomize.toolkit.fluxcd.io "legacy" deleted\n', stderr: "" });
  });

  it("counts what it decided in /metrics", async () => {
    const r = await fetch(`http://127.0.0.1:${server.listeners.metrics?.port ?? 0}/metrics`);
    const families = parsePrometheusText(await r.text());
    const requests = families.get("fluxgate_admission_requests_total")?.samples ?? [];
    const value = (labels: Record<string, string>) => requests.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;
    assert.ok(value({ webhook: "validate", kind: "Kustomization", operation: "CREATE", decision: "denied" }) >= 2);
    assert.ok(value({ webhook: "mutate", kind: "Kustomization", operation: "CREATE", decision: "patched" }) >= 2);
    assert.ok(value({ webhook: "validate", kind: "Kustomization", operation: "UPDATE", decision: "exempt" }) >= 1);
  });
});
