import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { Registry } from "prom-client";
import { issueCa, issueServingCert } from "../../certs/issue.ts";
import { fluxKind } from "../../src/flux/kinds.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { startFakeApi } from "./fake-api.ts";
import type { FakeApi } from "./fake-api.ts";
import { fakeClock } from "./fake-clock.ts";

const ENV_KEYS = ["KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HOME"] as const;
type EnvKey = (typeof ENV_KEYS)[number];

/** Runs `fn` with these variables set (undefined: unset), restoring them after. */
async function withEnv<T>(vars: Partial<Record<EnvKey, string | undefined>>, fn: () => T | Promise<T>): Promise<T> {
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) {
    if (!(k in vars)) continue;
    const v = vars[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const k of ENV_KEYS) {
      const v = saved[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const kubeconfigYaml = (server: string, current = "dev") => `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: {server: "${server}", insecure-skip-tls-verify: true}
- name: two
  cluster: {server: "https://two.example:6443"}
users:
- name: admin
  user: {token: file-token}
contexts:
- name: dev
  context: {cluster: one, user: admin, namespace: dev-team}
- name: other
  context: {cluster: two, user: admin}
current-context: ${current}
`;

describe("loading the Kubernetes connection", () => {
  let dir: string;
  let api: FakeApi;
  let caPem: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-kubeconfig-"));
    const ca = await issueCa({ commonName: "fake-apiserver-ca" });
    caPem = ca.certPem;
    api = await startFakeApi({ tls: await issueServingCert(ca, { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] }) });
  });
  after(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("builds a configuration from an explicit server URL", () => {
    const loaded = loadKubeConfig({ from: "server", server: "https://10.0.0.1:6443/", token: "t" });
    assert.deepEqual([loaded.server, loaded.namespace, loaded.description], ["https://10.0.0.1:6443", undefined, "server https://10.0.0.1:6443"]);
    assert.equal(loaded.kubeConfig.getCurrentUser()?.token, "t");
  });

  it("rejects a server that is not an http(s) URL, a token given twice, and an unreadable CA file", () => {
    assert.throws(() => loadKubeConfig({ from: "server", server: "ftp://10.0.0.1:6443" }), {
      name: "FluxgateError",
      message: 'Kubernetes API server "ftp://10.0.0.1:6443": expected an https:// or http:// URL',
    });
    assert.throws(() => loadKubeConfig({ from: "server", server: "10.0.0.1:6443" }), {
      message: 'Kubernetes API server "10.0.0.1:6443" is not a URL; expected e.g. https://127.0.0.1:6443',
    });
    assert.throws(() => loadKubeConfig({ from: "server", server: "https://h", token: "a", tokenFile: "/b" }), {
      message: "give a token or a token file for the Kubernetes API server, not both",
    });
    assert.throws(() => loadKubeConfig({ from: "server", server: "https://h", caFile: join(dir, "missing-ca.crt") }), {
      name: "UnavailableError",
      message: `CA file ${join(dir, "missing-ca.crt")} cannot be read: ENOENT`,
    });
  });

  it("reads a kubeconfig file's current context, or the context asked for", async () => {
    const file = join(dir, "config");
    await writeFile(file, kubeconfigYaml("https://one.example:6443"));
    const current = loadKubeConfig({ from: "kubeconfig", path: file });
    assert.deepEqual([current.server, current.namespace, current.description], ["https://one.example:6443", "dev-team", `kubeconfig ${file} (context dev)`]);
    const other = loadKubeConfig({ from: "kubeconfig", path: file, context: "other" });
    assert.deepEqual([other.server, other.namespace], ["https://two.example:6443", undefined]);
  });

  it("says which file and what is wrong: missing file, unknown context, current-context naming nothing", async () => {
    const file = join(dir, "bad-current");
    await writeFile(file, kubeconfigYaml("https://one.example:6443", "gone"));
    assert.throws(() => loadKubeConfig({ from: "kubeconfig", path: join(dir, "nope") }), {
      name: "ConfigError",
      message: `invalid configuration ${join(dir, "nope")}: (top level): file not found`,
    });
    assert.throws(() => loadKubeConfig({ from: "kubeconfig", path: file, context: "prod" }), {
      message: `invalid configuration ${file}: contexts: no context named "prod"; the file has "dev", "other"`,
    });
    assert.throws(() => loadKubeConfig({ from: "kubeconfig", path: file }), {
      message: `invalid configuration ${file}: current-context: names "gone", which is not among "dev", "other"`,
    });
  });

  it("merges the files KUBECONFIG lists, the first one winning, as kubectl does", async () => {
    const first = join(dir, "first");
    const second = join(dir, "second");
    await writeFile(first, "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters: []\nusers: []\ncontexts: []\n");
    await writeFile(second, kubeconfigYaml("https://one.example:6443", "dev").replace("- name: other\n  context: {cluster: two, user: admin}", "- name: b\n  context: {cluster: two, user: admin}"));
    const loaded = await withEnv({ KUBECONFIG: [first, second].join(delimiter) }, () => loadKubeConfig({ from: "kubeconfig" }));
    assert.equal(loaded.server, "https://two.example:6443");
    const auto = await withEnv({ KUBECONFIG: [first, second].join(delimiter), KUBERNETES_SERVICE_HOST: "10.0.0.1" }, () => loadKubeConfig({ from: "auto" }));
    assert.equal(auto.description, `kubeconfig ${first}${delimiter}${second} (context b)`, "KUBECONFIG wins over in-cluster");
  });

  it("in a pod: reaches the service host with the mounted token and CA, and knows its namespace", async () => {
    const root = join(dir, "pod");
    const sa = join(root, "var/run/secrets/kubernetes.io/serviceaccount");
    await mkdir(sa, { recursive: true });
    await writeFile(join(sa, "token"), "projected-sa-token");
    await writeFile(join(sa, "ca.crt"), caPem);
    await writeFile(join(sa, "namespace"), "fluxgate-system");
    const loaded = await withEnv({ KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(api.port) }, () => loadKubeConfig({ from: "in-cluster", root }));
    assert.deepEqual([loaded.server, loaded.namespace, loaded.description], [`https://127.0.0.1:${api.port}`, "fluxgate-system", "in-cluster"]);
    api.on({ answer: { status: 200, json: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "apps", namespace: "dev" } } } });
    const kube = createKubeClient({ kubeConfig: loaded.kubeConfig, log: quietLogger(), registry: new Registry(), clock: fakeClock() });
    await kube.get(fluxKind("Kustomization"), "dev", "apps");
    assert.equal(api.requests.at(-1)?.headers.authorization, "Bearer projected-sa-token");
  });

  it("in a pod without the service variables or the token, says what is missing", async () => {
    await withEnv({ KUBERNETES_SERVICE_HOST: undefined }, () =>
      assert.throws(() => loadKubeConfig({ from: "in-cluster" }), {
        name: "UnavailableError",
        message: "in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, which the kubelet sets in every pod",
      }),
    );
    const root = join(dir, "no-token");
    await withEnv({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }, () =>
      assert.throws(() => loadKubeConfig({ from: "in-cluster", root }), {
        message: `in-cluster configuration needs ${root}/var/run/secrets/kubernetes.io/serviceaccount/token; is a service account token mounted (automountServiceAccountToken)?`,
      }),
    );
  });

  it("auto: without KUBECONFIG, a pod or ~/.kube/config, says how to configure one", async () => {
    const home = join(dir, "empty-home");
    await mkdir(home, { recursive: true });
    await withEnv({ KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined, HOME: home }, () =>
      assert.throws(() => loadKubeConfig({ from: "auto" }), {
        name: "UnavailableError",
        message: "no Kubernetes API configured: set KUBECONFIG, run in a pod (KUBERNETES_SERVICE_HOST), create ~/.kube/config, or give a server URL",
      }),
    );
    await mkdir(join(home, ".kube"));
    await writeFile(join(home, ".kube", "config"), kubeconfigYaml("https://home.example:6443"));
    const loaded = await withEnv({ KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined, HOME: home }, () => loadKubeConfig({ from: "auto" }));
    assert.equal(loaded.server, "https://home.example:6443");
  });
});
