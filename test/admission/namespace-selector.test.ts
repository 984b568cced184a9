/**
 * Tenants that own namespaces by label, through the real server against the API emulator: the review carries only
 * the namespace's name, so the gate watches namespaces, and reads one the watch has not delivered yet.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { httpsGet } from "../support/https-get.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { localConfig } from "../support/local-config.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";

describe("tenants owning namespaces by label", () => {
  let dir = "";
  let kube: KubeEmulator | undefined;
  let server: RunningServer | undefined;
  let ca = "";

  const createNamespace = async (name: string, labels: Record<string, string>) => {
    const r = await fetch(`${kube?.url}/api/v1/namespaces`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } }) });
    assert.equal(r.status, 201);
  };
  /** `/validate` of a Kustomization in `namespace` reaching into flux-system. */
  const validate = async (namespace: string) => {
    const object = { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "app", namespace }, spec: { interval: "5m", path: "./", prune: true, serviceAccountName: "team", sourceRef: { kind: "GitRepository", name: "x", namespace: "flux-system" } } };
    const review = {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "u-1",
        kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
        resource: { group: "kustomize.toolkit.fluxcd.io", version: "v1", resource: "kustomizations" },
        name: "app",
        namespace,
        operation: "CREATE",
        userInfo: { username: "jane@example.com", groups: ["system:authenticated"] },
        object,
        dryRun: false,
      },
    };
    const r = await httpsGet({ port: server?.listeners.admission?.port ?? 0, path: "/validate", method: "POST", ca, body: JSON.stringify(review), headers: { "content-type": "application/json" } });
    assert.equal(r.status, 200, r.body);
    return (JSON.parse(r.body) as { response: { allowed: boolean; status?: { message: string } } }).response;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-ns-selector-"));
    kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
    await createNamespace("team-blue", { "fluxgate.io/tenant": "blue" });
    await createNamespace("sandbox", {});
    // The namespace watch never gets going: what the gate knows of a later namespace, it must read itself.
    kube.faults.inject({ verb: "watch", resource: "namespaces", count: 1_000, response: { status: 503 } });
    const config = localConfig(dir, [
      "roles: [admission]",
      "tls: {dir: certs}",
      `kube: {mode: on, kubeconfig: "${await kube.kubeconfigPath()}"}`,
      "policy:",
      "  tenants:",
      "    - {name: blue, namespaceSelector: {matchLabels: {fluxgate.io/tenant: blue}}, serviceAccountName: team}",
    ]);
    server = await startServer(config, { log: quietLogger(), baseDir: dir });
    ca = await readFile(join(dir, "certs", "ca.crt"), "utf8");
    await until(() => server?.readiness.ready === true, { timeoutMs: 10_000, what: "readiness (namespaces listed)" });
  });
  after(async () => {
    await server?.shutdown();
    await kube?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("judges objects in a namespace the tenant's selector matches", async () => {
    const r = await validate("team-blue");
    assert.equal(r.allowed, false);
    assert.match(r.status?.message ?? "", /tenant "blue" may not reference other namespaces \[cross-namespace-refs\]/);
  });

  it("leaves namespaces no tenant owns alone", async () => {
    assert.equal((await validate("sandbox")).allowed, true);
  });

  it("judges a namespace created a moment ago, before the watch could deliver it", async () => {
    await createNamespace("team-blue-2", { "fluxgate.io/tenant": "blue" });
    // The watch is down (see before): the gate reads the namespace because it does not know it.
    const r = await validate("team-blue-2");
    assert.equal(r.allowed, false);
    assert.match(r.status?.message ?? "", /tenant "blue"/);
  });
});
