/**
 * Cross-check with the real kubectl (admission.md §6): apply the Flux example repositories server-side and
 * client-side, read, patch, annotate, watch and delete, and expect what a kube-apiserver answers. kubectl runs as
 * a child process (never spawnSync: the emulator lives in this process's event loop).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until } from "../until.ts";
import { FLUX_CRDS_DIR, type KubeEmulator, startKubeEmulator } from "./emulator.ts";

const KUBECTL = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].find((p) => existsSync(p));
const EXAMPLES = join(FLUX_CRDS_DIR, "..", "examples");
const TENANCY = join(EXAMPLES, "flux2-multi-tenancy");
const HELM = join(EXAMPLES, "flux2-kustomize-helm-example");

type Run = { code: number; stdout: string; stderr: string };

let kube: KubeEmulator;
const children: ChildProcess[] = [];
let scratch: string;

function kubectl(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(KUBECTL!, [...kube.kubectlArgs(), ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const skip = KUBECTL === undefined ? "kubectl is not installed (Debian package kubectl)" : false;

describe("kubectl against the emulator", { skip }, () => {
  before(async () => {
    kube = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
    scratch = mkdtempSync(join(tmpdir(), "kubectl-test-"));
  });
  after(async () => {
    for (const c of children) c.kill();
    await kube.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("finds the Flux kinds by short name through discovery", async () => {
    assert.equal(await ok("get", "ks", "-A"), "");
    const r = await kubectl("get", "ks", "-A");
    assert.equal(r.stderr, "No resources found\n");
    const resources = await ok("api-resources", "--api-group=kustomize.toolkit.fluxcd.io", "--no-headers");
    assert.match(resources, /^kustomizations\s+ks\s+kustomize\.toolkit\.fluxcd\.io\/v1\s+true\s+Kustomization\n$/);
  });

  it("applies the dev-team tenant server-side (Namespace, ServiceAccount, RoleBinding, GitRepository, Kustomization)", async () => {
    const out = await ok("apply", "--server-side", "--validate=false", "-f", join(TENANCY, "tenants/base/dev-team/rbac.yaml"), "-f", join(TENANCY, "tenants/base/dev-team/sync.yaml"));
    assert.equal(
      out,
      [
        "namespace/apps serverside-applied",
        "serviceaccount/dev-team serverside-applied",
        "rolebinding.rbac.authorization.k8s.io/gotk-reconciler serverside-applied",
        "gitrepository.source.toolkit.fluxcd.io/dev-team serverside-applied",
        "kustomization.kustomize.toolkit.fluxcd.io/dev-team serverside-applied",
        "",
      ].join("\n"),
    );
    const again = await ok("apply", "--server-side", "--validate=false", "-f", join(TENANCY, "tenants/base/dev-team/sync.yaml"));
    assert.equal(again, "gitrepository.source.toolkit.fluxcd.io/dev-team serverside-applied\nkustomization.kustomize.toolkit.fluxcd.io/dev-team serverside-applied\n");
    const ks = JSON.parse(await ok("get", "ks", "dev-team", "-n", "apps", "-o", "json", "--show-managed-fields"));
    assert.equal(ks.metadata.generation, 1, "re-applying the same configuration changes nothing");
    assert.deepEqual(ks.spec, { force: false, interval: "5m", prune: true, serviceAccountName: "dev-team", sourceRef: { kind: "GitRepository", name: "dev-team" } });
    assert.deepEqual(ks.status, { observedGeneration: -1 });
    assert.deepEqual(ks.metadata.managedFields.map((e: { manager: string; operation: string }) => `${e.manager}/${e.operation}`), ["kubectl/Apply"]);
    const ns = JSON.parse(await ok("get", "namespace", "apps", "-o", "json"));
    assert.deepEqual(ns.metadata.labels, { "kubernetes.io/metadata.name": "apps", "toolkit.fluxcd.io/tenant": "dev-team" });
  });

  it("applies the staging cluster Kustomizations into flux-system once the namespace exists", async () => {
    const missing = await kubectl("apply", "--server-side", "--validate=false", "-f", join(TENANCY, "clusters/staging/tenants.yaml"));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /namespaces "flux-system" not found/);
    assert.equal(await ok("create", "namespace", "flux-system"), "namespace/flux-system created\n");
    const out = await ok("apply", "--server-side", "--validate=false", "-f", join(TENANCY, "clusters/staging/infrastructure.yaml"), "-f", join(TENANCY, "clusters/staging/tenants.yaml"));
    assert.equal(
      out,
      "kustomization.kustomize.toolkit.fluxcd.io/kyverno serverside-applied\nkustomization.kustomize.toolkit.fluxcd.io/kyverno-policies serverside-applied\nkustomization.kustomize.toolkit.fluxcd.io/tenants serverside-applied\n",
    );
    const names = await ok("get", "ks", "-n", "flux-system", "-o", "name");
    assert.equal(names, "kustomization.kustomize.toolkit.fluxcd.io/kyverno\nkustomization.kustomize.toolkit.fluxcd.io/kyverno-policies\nkustomization.kustomize.toolkit.fluxcd.io/tenants\n");
  });

  it("applies client-side (create, unchanged, configured) the podinfo app and cert-manager of the helm example", async () => {
    const files = ["namespace.yaml", "repository.yaml", "release.yaml"].flatMap((f) => ["-f", join(HELM, "apps/base/podinfo", f)]);
    assert.equal(
      await ok("apply", "--validate=false", ...files),
      "namespace/podinfo created\nhelmrepository.source.toolkit.fluxcd.io/podinfo created\nhelmrelease.helm.toolkit.fluxcd.io/podinfo created\n",
    );
    assert.equal(
      await ok("apply", "--validate=false", ...files),
      "namespace/podinfo unchanged\nhelmrepository.source.toolkit.fluxcd.io/podinfo unchanged\nhelmrelease.helm.toolkit.fluxcd.io/podinfo unchanged\n",
    );
    const changed = join(scratch, "repository.yaml");
    writeFileSync(changed, readFileSync(join(HELM, "apps/base/podinfo/repository.yaml"), "utf8").replace("interval: 5m", "interval: 7m"));
    assert.equal(await ok("apply", "--validate=false", "-f", changed), "helmrepository.source.toolkit.fluxcd.io/podinfo configured\n");
    const repo = JSON.parse(await ok("get", "helmrepository", "podinfo", "-n", "podinfo", "-o", "json"));
    assert.equal(repo.spec.interval, "7m");
    assert.equal(repo.metadata.generation, 2);
    assert.match(repo.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"], /"interval":"7m"/);
    assert.equal(
      await ok("apply", "--validate=false", "-f", join(HELM, "infrastructure/controllers/cert-manager.yaml")),
      "namespace/cert-manager created\nocirepository.source.toolkit.fluxcd.io/cert-manager created\nhelmrelease.helm.toolkit.fluxcd.io/cert-manager created\n",
    );
  });

  it("lists across namespaces with get -A -o json", async () => {
    const list = JSON.parse(await ok("get", "helmreleases", "-A", "-o", "json"));
    assert.equal(list.kind, "List");
    assert.deepEqual(list.items.map((i: { metadata: { namespace: string; name: string } }) => `${i.metadata.namespace}/${i.metadata.name}`), ["cert-manager/cert-manager", "podinfo/podinfo"]);
  });

  it("patches with --type=merge, annotates without a generation bump, and refuses a strategic merge patch on a CR", async () => {
    assert.equal(await ok("patch", "ks", "dev-team", "-n", "apps", "--type=merge", "-p", '{"spec":{"suspend":true}}'), "kustomization.kustomize.toolkit.fluxcd.io/dev-team patched\n");
    assert.equal(await ok("annotate", "ks", "dev-team", "-n", "apps", "reconcile.fluxcd.io/requestedAt=2026-11-25T07:51:11Z"), "kustomization.kustomize.toolkit.fluxcd.io/dev-team annotated\n");
    const ks = JSON.parse(await ok("get", "ks", "dev-team", "-n", "apps", "-o", "json"));
    assert.equal(ks.spec.suspend, true);
    assert.equal(ks.metadata.generation, 2);
    assert.equal(ks.metadata.annotations["reconcile.fluxcd.io/requestedAt"], "2026-11-25T07:51:11Z");
    const smp = await kubectl("patch", "ks", "dev-team", "-n", "apps", "-p", '{"spec":{"suspend":false}}');
    assert.equal(smp.code, 1);
    assert.equal(
      smp.stderr,
      "error: application/strategic-merge-patch+json is not supported by kustomize.toolkit.fluxcd.io/v1, Kind=Kustomization: the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml\n",
    );
  });

  it("reports a schema violation the way kube-apiserver words it", async () => {
    const r = await kubectl("patch", "ks", "dev-team", "-n", "apps", "--type=merge", "-p", '{"spec":{"interval":"often"}}');
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "The Kustomization \"dev-team\" is invalid: spec.interval: Invalid value: \"often\": spec.interval in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'\n",
    );
  });

  it("sees a change through get --watch", async () => {
    const child = spawn(KUBECTL!, [...kube.kubectlArgs(), "get", "ks", "dev-team", "-n", "apps", "-w", "--output-watch-events", "-o", "jsonpath={.type} {.object.metadata.generation}{\"\\n\"}", "--request-timeout=20s"]);
    children.push(child);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await until(() => out.includes("ADDED 2\n"), { timeoutMs: 10000, what: "the initial ADDED line" });
    await ok("patch", "ks", "dev-team", "-n", "apps", "--type=merge", "-p", '{"spec":{"suspend":false}}');
    await until(() => out.includes("MODIFIED 3\n"), { timeoutMs: 10000, what: "the MODIFIED line" });
    assert.equal(out, "ADDED 2\nMODIFIED 3\n");
    child.kill();
  });

  it("deletes and then finds nothing", async () => {
    assert.equal(await ok("delete", "ks", "dev-team", "-n", "apps"), 'kustomization.kustomize.toolkit.fluxcd.io "dev-team" deleted\n');
    const r = await kubectl("get", "ks", "-n", "apps");
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "No resources found in apps namespace.\n");
    const gone = await kubectl("get", "ks", "dev-team", "-n", "apps");
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, 'Error from server (NotFound): kustomizations.kustomize.toolkit.fluxcd.io "dev-team" not found\n');
  });

  it("creates built-in objects from kubectl's typed generators (protobuf request bodies)", async () => {
    assert.equal(await ok("create", "configmap", "settings", "-n", "apps", "--from-literal=a=1"), "configmap/settings created\n");
    assert.equal(await ok("create", "secret", "generic", "token", "-n", "apps", "--from-literal=token=s3cr3t"), "secret/token created\n");
    assert.equal(await ok("create", "serviceaccount", "robot", "-n", "apps"), "serviceaccount/robot created\n");
    const cm = JSON.parse(await ok("get", "configmap", "settings", "-n", "apps", "-o", "json"));
    assert.deepEqual(cm.data, { a: "1" });
    const secret = JSON.parse(await ok("get", "secret", "token", "-n", "apps", "-o", "json"));
    assert.deepEqual(secret.data, { token: Buffer.from("s3cr3t").toString("base64") });
    assert.equal(secret.type, "Opaque");
  });

  it("talks HTTPS to an emulator with TLS through --certificate-authority", async () => {
    const tls = await startKubeEmulator({ tls: true });
    try {
      const out = await new Promise<string>((resolve, reject) => {
        execFile(KUBECTL!, [...tls.kubectlArgs(), "get", "namespaces", "-o", "name"], { timeout: 30000 }, (err, stdout, stderr) => (err === null ? resolve(stdout) : reject(new Error(stderr))));
      });
      assert.equal(out, "namespace/default\nnamespace/kube-public\nnamespace/kube-system\n");
    } finally {
      await tls.stop();
    }
  });
});
