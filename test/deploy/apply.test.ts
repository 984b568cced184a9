/**
 * The rendered overlays applied with `kubectl apply --server-side` to the API emulator with the Flux CRDs: every
 * kind the emulator serves is stored and passes its validation (the Flux objects and FluxgatePolicies against their
 * CRD schemas, unknown fields included); the kinds it does not serve are checked against the Kubernetes schemas in
 * render.test.ts.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { NO_KUBECTL, kubectl, render } from "./render.ts";
import type { Manifest } from "./render.ts";

/** Kinds the emulator does not serve (no apps, batch, policy, networking or cert-manager groups). */
const NOT_SERVED = new Set(["Service", "Deployment", "PodDisruptionBudget", "NetworkPolicy", "Job", "CronJob", "Certificate", "Issuer"]);

describe("deploy/ applied to the API emulator", { skip: NO_KUBECTL }, () => {
  let kube: KubeEmulator;
  let dir: string;

  /** Applies the served objects of an overlay server-side; returns kubectl's output. */
  const apply = async (overlay: string): Promise<{ stdout: string; stderr: string; code: number }> => {
    const objects = (await render(overlay)).filter((m: Manifest) => !NOT_SERVED.has(m.kind));
    const file = join(dir, `${overlay.replaceAll("/", "-")}.yaml`);
    await writeFile(file, objects.map((o) => dump(o)).join("---\n"));
    return kubectl([...kube.kubectlArgs(), "apply", "--server-side", "--validate=false", "-f", file]);
  };

  before(async () => {
    kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
    dir = await mkdtemp(join(tmpdir(), "fluxgate-deploy-apply-"));
  });
  after(async () => {
    await kube?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // NATS first: once the webhook configurations are in, Flux objects outside the exempt namespaces go through the
  // gate, and no gate runs here.
  it("applies the nats overlay: the HelmRepository and HelmRelease pass the Flux CRD schemas", async () => {
    const r = await apply("overlays/nats");
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, ["namespace/nats serverside-applied", "helmrelease.helm.toolkit.fluxcd.io/nats serverside-applied", "helmrepository.source.toolkit.fluxcd.io/nats serverside-applied", ""].join("\n"));
  });

  it("applies the cert-manager overlay's namespace, CRD, accounts, RBAC, ConfigMap and webhook configurations", async () => {
    const r = await apply("overlays/cert-manager");
    assert.equal(r.stderr, "");
    assert.equal(
      r.stdout,
      [
        "namespace/fluxgate-system serverside-applied",
        "customresourcedefinition.apiextensions.k8s.io/fluxgatepolicies.fluxgate.io serverside-applied",
        "serviceaccount/fluxgate-admission serverside-applied",
        "serviceaccount/fluxgate-receiver serverside-applied",
        "serviceaccount/fluxgate-worker serverside-applied",
        "role.rbac.authorization.k8s.io/fluxgate-worker-leader-election serverside-applied",
        "clusterrole.rbac.authorization.k8s.io/fluxgate-admission serverside-applied",
        "clusterrole.rbac.authorization.k8s.io/fluxgate-receiver serverside-applied",
        "clusterrole.rbac.authorization.k8s.io/fluxgate-worker serverside-applied",
        "rolebinding.rbac.authorization.k8s.io/fluxgate-worker-leader-election serverside-applied",
        "clusterrolebinding.rbac.authorization.k8s.io/fluxgate-admission serverside-applied",
        "clusterrolebinding.rbac.authorization.k8s.io/fluxgate-receiver serverside-applied",
        "clusterrolebinding.rbac.authorization.k8s.io/fluxgate-worker serverside-applied",
        "configmap/fluxgate-config serverside-applied",
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/fluxgate serverside-applied",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/fluxgate serverside-applied",
        "",
      ].join("\n"),
    );
    const vwc = JSON.parse((await kubectl([...kube.kubectlArgs(), "get", "validatingwebhookconfiguration", "fluxgate", "-o", "json"])).stdout) as { metadata: { annotations: Record<string, string> } };
    assert.deepEqual(vwc.metadata.annotations, { "cert-manager.io/inject-ca-from": "fluxgate-system/fluxgate-serving" });
  });

  it("applies the self-signed overlay over it: its account and RBAC for fluxgate certs", async () => {
    const r = await apply("overlays/self-signed");
    assert.equal(r.stderr, "");
    const added = r.stdout.split("\n").filter((l) => l.includes("fluxgate-certs"));
    assert.deepEqual(added, [
      "serviceaccount/fluxgate-certs serverside-applied",
      "role.rbac.authorization.k8s.io/fluxgate-certs serverside-applied",
      "clusterrole.rbac.authorization.k8s.io/fluxgate-certs serverside-applied",
      "rolebinding.rbac.authorization.k8s.io/fluxgate-certs serverside-applied",
      "clusterrolebinding.rbac.authorization.k8s.io/fluxgate-certs serverside-applied",
    ]);
  });

  it("serves FluxgatePolicy once the CRD is applied, by its short name too", async () => {
    const policy = { apiVersion: "fluxgate.io/v1alpha1", kind: "FluxgatePolicy", metadata: { name: "dev-team" }, spec: { tenants: [{ name: "dev-team", namespaces: ["apps"], serviceAccountName: "dev-team" }] } };
    const file = join(dir, "policy.yaml");
    await writeFile(file, dump(policy));
    const r = await kubectl([...kube.kubectlArgs(), "apply", "--server-side", "--validate=false", "-f", file]);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, "fluxgatepolicy.fluxgate.io/dev-team serverside-applied\n");
    const names = await kubectl([...kube.kubectlArgs(), "get", "fgp", "-o", "name"]);
    assert.equal(names.stdout, "fluxgatepolicy.fluxgate.io/dev-team\n");
  });
});
