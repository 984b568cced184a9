import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { runtime } from "../../../src/version.ts";
import { httpsGet } from "../https-get.ts";
import { type KubeEmulator, startKubeEmulator } from "./emulator.ts";
import { KUSTOMIZATION_CRD, kubeClient } from "./kube-fetch.ts";

let kube: KubeEmulator;
let api: ReturnType<typeof kubeClient>;

before(async () => {
  kube = await startKubeEmulator({ crds: [KUSTOMIZATION_CRD] });
  api = kubeClient(kube.url);
});
after(() => kube.stop());

describe("discovery", () => {
  it("answers /version like kube-apiserver 1.36", async () => {
    const r = await api.get("/version");
    assert.equal(r.status, 200);
    assert.equal(r.body.major, "1");
    assert.equal(r.body.minor, "36");
    assert.equal(r.body.gitVersion, "v1.36.0");
  });

  it("answers /api with APIVersions and the server address", async () => {
    const r = await api.get("/api");
    assert.deepEqual(r.body, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: new URL(kube.url).host }] });
  });

  it("lists the core resources with subresources and short names at /api/v1", async () => {
    const r = await api.get("/api/v1");
    assert.equal(r.body.kind, "APIResourceList");
    assert.equal(r.body.groupVersion, "v1");
    assert.deepEqual(
      r.body.resources.map((x: { name: string; namespaced: boolean; kind: string }) => `${x.name} ${x.kind} ${x.namespaced}`),
      ["namespaces Namespace false", "namespaces/status Namespace false", "configmaps ConfigMap true", "secrets Secret true", "serviceaccounts ServiceAccount true"],
    );
    assert.deepEqual(r.body.resources[0].shortNames, ["ns"]);
  });

  it("lists built-in groups, then CRD groups, at /apis with preferred versions", async () => {
    const r = await api.get("/apis");
    assert.equal(r.body.kind, "APIGroupList");
    assert.deepEqual(
      r.body.groups.map((g: { name: string }) => g.name),
      ["admissionregistration.k8s.io", "apiextensions.k8s.io", "coordination.k8s.io", "rbac.authorization.k8s.io", "kustomize.toolkit.fluxcd.io"],
    );
    const ks = r.body.groups.at(-1);
    assert.deepEqual(ks, {
      name: "kustomize.toolkit.fluxcd.io",
      versions: [{ groupVersion: "kustomize.toolkit.fluxcd.io/v1", version: "v1" }],
      preferredVersion: { groupVersion: "kustomize.toolkit.fluxcd.io/v1", version: "v1" },
    });
  });

  it("serves webhook configurations cluster-scoped and leases namespaced", async () => {
    const adm = (await api.get("/apis/admissionregistration.k8s.io/v1")).body.resources.map((x: { name: string; namespaced: boolean }) => `${x.name} ${x.namespaced}`);
    assert.deepEqual(adm, ["validatingwebhookconfigurations false", "mutatingwebhookconfigurations false"]);
    const lease = (await api.get("/apis/coordination.k8s.io/v1")).body.resources[0];
    assert.equal(lease.name, "leases");
    assert.equal(lease.namespaced, true);
  });

  it("does not serve /openapi/v2 or /openapi/v3 (kubectl needs --validate=false)", async () => {
    assert.equal((await api.get("/openapi/v2")).status, 404);
    assert.equal((await api.get("/openapi/v3")).status, 404);
  });

  it("answers 405 for a POST to an item", async () => {
    const r = await api.post("/api/v1/namespaces/default", {});
    assert.equal(r.status, 405);
    assert.equal(r.body.reason, "MethodNotAllowed");
  });
});

describe("clients", () => {
  it("works with @kubernetes/client-node through kubeconfigPath()", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(await kube.kubeconfigPath());
    const core = kc.makeApiClient(CoreV1Api);
    const created = await core.createNamespace({ body: { metadata: { name: "from-client-node" } } });
    assert.equal(created.metadata?.name, "from-client-node");
    const list = await core.listNamespace();
    assert.deepEqual(list.items.map((n) => n.metadata?.name), ["default", "from-client-node", "kube-public", "kube-system"]);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const ks = (await custom.createNamespacedCustomObject({
      group: "kustomize.toolkit.fluxcd.io",
      version: "v1",
      namespace: "from-client-node",
      plural: "kustomizations",
      body: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "x" }, spec: { interval: "1m", prune: true, sourceRef: { kind: "GitRepository", name: "r" } } },
    })) as { metadata: { generation: number } };
    assert.equal(ks.metadata.generation, 1);
  });

  it("serves HTTPS with a certificate its caPem verifies for 127.0.0.1", async () => {
    const tls = await startKubeEmulator({ tls: true });
    try {
      assert.match(tls.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(tls.caPem ?? "", /^-----BEGIN CERTIFICATE-----/);
      const r = await httpsGet({ port: Number(new URL(tls.url).port), path: "/api/v1/namespaces/default", ca: tls.caPem! });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).metadata.name, "default");
    } finally {
      await tls.stop();
    }
  });

  it(
    "serves @kubernetes/client-node over HTTPS with the kubeconfig's CA",
    // client-node hands the CA to fetch in a way Bun's fetch ignores (UNABLE_TO_VERIFY_LEAF_SIGNATURE): a client
    // problem, the certificate is fine (previous test).
    { skip: runtime().name === "bun" ? "client-node's CA is not used by Bun's fetch" : false },
    async () => {
      const tls = await startKubeEmulator({ tls: true });
      try {
        const kc = new KubeConfig();
        kc.loadFromFile(await tls.kubeconfigPath());
        const ns = await kc.makeApiClient(CoreV1Api).readNamespace({ name: "kube-system" });
        assert.equal(ns.metadata?.name, "kube-system");
      } finally {
        await tls.stop();
      }
    },
  );
});
