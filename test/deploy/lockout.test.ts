/**
 * The lock-out analysis of deploy/README.md, shown on the API emulator: the rendered webhook configurations are
 * registered while no gate answers (the Service name does not resolve), as after a crash or before the first
 * replica is ready. Flux's controllers, the Fluxgate worker and writes in the exempt namespaces still go through;
 * a tenant's write of any Flux kind is refused (validation fails closed), while its deletions, status writes and
 * everything that is not a Flux object are untouched.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { FLUX_KINDS } from "../../src/flux/kinds.ts";
import type { FluxKindName } from "../../src/flux/kinds.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { NO_KUBECTL, find, render } from "./render.ts";

const sa = (ns: string, name: string) => ({ username: `system:serviceaccount:${ns}:${name}`, groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`] });
const TOKENS = {
  "kustomize-controller": sa("flux-system", "kustomize-controller"),
  "helm-controller": sa("flux-system", "helm-controller"),
  worker: sa("fluxgate-system", "fluxgate-worker"),
  tenant: sa("apps", "dev-team"),
  jane: { username: "jane@example.com", groups: ["developers"] },
};
type Caller = keyof typeof TOKENS | "admin";

/** A minimal object of each Flux kind that its CRD schema accepts. */
const SPECS: Record<FluxKindName, Record<string, unknown>> = {
  GitRepository: { interval: "1m", url: "https://github.com/org/app" },
  OCIRepository: { interval: "1m", url: "oci://ghcr.io/org/app" },
  HelmRepository: { interval: "1m", url: "https://charts.example.com" },
  HelmChart: { interval: "1m", chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "charts" } },
  Bucket: { interval: "1m", bucketName: "app", endpoint: "minio.example.com" },
  ExternalArtifact: { sourceRef: { apiVersion: "source.extensions.fluxcd.io/v1beta1", kind: "ArtifactGenerator", name: "gen" } },
  Kustomization: { interval: "1m", prune: true, sourceRef: { kind: "GitRepository", name: "app" } },
  HelmRelease: { interval: "1m", chart: { spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "charts" } } } },
  ImageRepository: { interval: "1m", image: "ghcr.io/org/app" },
  ImagePolicy: { imageRepositoryRef: { name: "app" }, policy: { semver: { range: "1.x" } } },
  ImageUpdateAutomation: { interval: "1m", sourceRef: { kind: "GitRepository", name: "app" }, git: { commit: { author: { name: "bot", email: "bot@example.com" } } } },
  Receiver: { type: "github", resources: [{ kind: "GitRepository", name: "app" }], secretRef: { name: "token" } },
  Alert: { eventSources: [{ kind: "GitRepository", name: "app" }], providerRef: { name: "slack" } },
  Provider: { type: "slack" },
};

const fluxKind = (name: FluxKindName) => FLUX_KINDS.find((k) => k.kind === name)!;

describe("the webhook configurations while no gate answers", { skip: NO_KUBECTL }, () => {
  let kube: KubeEmulator;

  /** One request as `caller`; returns the status and the parsed body. */
  const call = async (caller: Caller, method: string, path: string, body?: unknown, contentType = "application/json"): Promise<{ status: number; body: Record<string, any> }> => {
    const headers: Record<string, string> = { "content-type": contentType };
    if (caller !== "admin") headers["authorization"] = `Bearer ${caller}`;
    const r = await fetch(`${kube.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: r.status, body: (await r.json()) as Record<string, any> };
  };
  const collection = (kind: FluxKindName, ns: string) => {
    const k = fluxKind(kind);
    return `/apis/${k.group}/${k.version}/namespaces/${ns}/${k.plural}`;
  };
  const object = (kind: FluxKindName, ns: string, name: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: fluxKind(kind).apiVersion,
    kind,
    metadata: { name, namespace: ns, ...extra },
    spec: SPECS[kind],
  });
  const refused = (path: string) =>
    `Internal error occurred: failed calling webhook "validate.fluxgate.io": failed to call webhook: Post "https://fluxgate.fluxgate-system.svc:443${path}?timeout=5s": dial tcp: lookup fluxgate.fluxgate-system.svc: no such host`;

  before(async () => {
    kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR], tokens: TOKENS });
    for (const ns of ["flux-system", "fluxgate-system", "apps"]) assert.equal((await call("admin", "POST", "/api/v1/namespaces", { metadata: { name: ns } })).status, 201);
    // An object of the tenant's, from before the gate was registered.
    assert.equal((await call("admin", "POST", collection("Kustomization", "apps"), object("Kustomization", "apps", "existing"))).status, 201);
    const objects = await render("base");
    for (const kind of ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]) {
      const plural = `${kind.toLowerCase()}s`;
      assert.equal((await call("admin", "POST", `/apis/admissionregistration.k8s.io/v1/${plural}`, find(objects, kind, "fluxgate"))).status, 201);
    }
  });
  after(async () => {
    await kube?.stop();
  });

  it("refuses a tenant's new Kustomization: validation fails closed", async () => {
    const r = await call("tenant", "POST", collection("Kustomization", "apps"), object("Kustomization", "apps", "by-tenant"));
    assert.equal(r.status, 500);
    assert.equal(r.body["message"], refused("/validate"));
  });

  it("refuses every Flux kind at its served version, whoever writes it outside the exempt namespaces", async () => {
    for (const k of FLUX_KINDS) {
      const r = await call("jane", "POST", collection(k.kind, "apps"), object(k.kind, "apps", "by-jane"));
      assert.deepEqual([k.kind, r.status, r.body["message"]], [k.kind, 500, refused("/validate")]);
    }
  });

  it("lets kustomize-controller create, update (finalizers) and dry-run Flux objects in a tenant's namespace", async () => {
    const created = await call("kustomize-controller", "POST", collection("Kustomization", "apps"), object("Kustomization", "apps", "by-flux"));
    assert.equal(created.status, 201);
    const withFinalizer = { ...created.body, metadata: { ...created.body["metadata"], finalizers: ["finalizers.fluxcd.io"] } };
    assert.equal((await call("kustomize-controller", "PUT", `${collection("Kustomization", "apps")}/by-flux`, withFinalizer)).status, 200);
    const dryRun = await call("kustomize-controller", "POST", `${collection("HelmRelease", "apps")}?dryRun=All`, object("HelmRelease", "apps", "dry"));
    assert.equal(dryRun.status, 201);
    assert.equal((await call("helm-controller", "POST", collection("HelmChart", "apps"), object("HelmChart", "apps", "apps-podinfo"))).status, 201);
  });

  it("lets the Fluxgate worker request a reconcile of a tenant's object", async () => {
    const patch = { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "2026-01-02T03:04:05.000000000Z" } } };
    const r = await call("worker", "PATCH", `${collection("Kustomization", "apps")}/existing`, patch, "application/merge-patch+json");
    assert.equal(r.status, 200);
    assert.equal(r.body["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"], "2026-01-02T03:04:05.000000000Z");
  });

  it("lets anyone write Flux objects in kube-system and flux-system (flux bootstrap keeps working)", async () => {
    assert.equal((await call("admin", "POST", collection("HelmRelease", "kube-system"), object("HelmRelease", "kube-system", "cilium"))).status, 201);
    assert.equal((await call("admin", "POST", collection("GitRepository", "flux-system"), object("GitRepository", "flux-system", "flux-system"))).status, 201);
    assert.equal((await call("jane", "POST", collection("Kustomization", "flux-system"), object("Kustomization", "flux-system", "flux-system"))).status, 201);
  });

  it("never stands between a tenant and its deletions, status writes or objects that are not Flux kinds", async () => {
    const status = await call("tenant", "PUT", `${collection("Kustomization", "apps")}/existing/status`, {
      ...(await call("admin", "GET", `${collection("Kustomization", "apps")}/existing`)).body,
      status: { observedGeneration: 1 },
    });
    assert.equal(status.status, 200);
    assert.equal((await call("tenant", "POST", "/api/v1/namespaces/apps/configmaps", { metadata: { name: "values" }, data: { a: "b" } })).status, 201);
    assert.equal((await call("tenant", "DELETE", `${collection("Kustomization", "apps")}/existing`)).status, 200);
  });
});
