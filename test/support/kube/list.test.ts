import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type KubeEmulator, startKubeEmulator } from "./emulator.ts";
import { KUSTOMIZATION_CRD, kubeClient, ksPath, kustomization, namespace } from "./kube-fetch.ts";

let kube: KubeEmulator;
let api: ReturnType<typeof kubeClient>;

const names = (body: { items: Array<{ metadata: { name: string } }> }): string[] => body.items.map((i) => i.metadata.name);
const q = (s: string): string => encodeURIComponent(s);

before(async () => {
  kube = await startKubeEmulator({ crds: [KUSTOMIZATION_CRD], historySize: 50 });
  api = kubeClient(kube.url);
  for (const ns of ["dev", "prod", "paged"]) await api.post("/api/v1/namespaces", namespace(ns));
  const labelled: Array<[string, string, Record<string, string>]> = [
    ["a", "dev", { tier: "web", env: "dev", weight: "3" }],
    ["b", "dev", { tier: "db", env: "dev", weight: "10" }],
    ["c", "dev", { tier: "cache" }],
    ["d", "prod", { tier: "web", env: "prod" }],
  ];
  for (const [name, ns, labels] of labelled) assert.equal((await api.post(ksPath(ns), kustomization(name, ns, {}, { labels }))).status, 201);
  for (let i = 0; i < 5; i++) await api.post(ksPath("paged"), kustomization(`p${i}`, "paged"));
});
after(() => kube.stop());

describe("list", () => {
  it("lists one namespace as a KustomizationList with items carrying apiVersion and kind", async () => {
    const r = await api.get(ksPath("dev"));
    assert.equal(r.status, 200);
    assert.equal(r.body.apiVersion, "kustomize.toolkit.fluxcd.io/v1");
    assert.equal(r.body.kind, "KustomizationList");
    assert.equal(r.body.metadata.resourceVersion, String(kube.revision()));
    assert.deepEqual(names(r.body), ["a", "b", "c"]);
    assert.equal(r.body.items[0].kind, "Kustomization");
  });

  it("lists all namespaces in namespace/name order", async () => {
    const r = await api.get("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations");
    assert.deepEqual(names(r.body), ["a", "b", "c", "p0", "p1", "p2", "p3", "p4", "d"]);
  });

  it("lists built-in kinds as typed lists (items without apiVersion/kind)", async () => {
    const r = await api.get("/api/v1/namespaces?labelSelector=kubernetes.io%2Fmetadata.name%3Ddev");
    assert.equal(r.body.kind, "NamespaceList");
    assert.equal(r.body.apiVersion, "v1");
    assert.deepEqual(names(r.body), ["dev"]);
    assert.equal(r.body.items[0].kind, undefined);
  });

  for (const [selector, expected] of [
    ["tier=web", ["a", "d"]],
    ["tier==web", ["a", "d"]],
    ["tier!=web", ["b", "c"]],
    ["tier in (web,db)", ["a", "b", "d"]],
    ["tier notin (web)", ["b", "c"]],
    ["env", ["a", "b", "d"]],
    ["!env", ["c"]],
    ["tier=web,env=prod", ["d"]],
    ["weight>5", ["b"]],
    ["weight<5", ["a"]],
    ["", ["a", "b", "c", "d"]],
  ] as Array<[string, string[]]>) {
    it(`selects by labelSelector ${JSON.stringify(selector)}`, async () => {
      const r = await api.get(`/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?labelSelector=${q(selector)}&fieldSelector=${q("metadata.namespace!=paged")}`);
      assert.equal(r.status, 200);
      assert.deepEqual(names(r.body), expected);
    });
  }

  it("answers 400 for a label selector that does not parse", async () => {
    const r = await api.get(`${ksPath("dev")}?labelSelector=${q("tier in web")}`);
    assert.equal(r.status, 400);
    assert.equal(r.body.reason, "BadRequest");
    assert.equal(r.body.message, "unable to parse requirement: found 'web', expected: '('");
  });

  it("selects by fieldSelector metadata.name and metadata.namespace with =, == and !=", async () => {
    const all = "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations";
    assert.deepEqual(names((await api.get(`${all}?fieldSelector=${q("metadata.name=b")}`)).body), ["b"]);
    assert.deepEqual(names((await api.get(`${all}?fieldSelector=${q("metadata.namespace==prod")}`)).body), ["d"]);
    assert.deepEqual(names((await api.get(`${all}?fieldSelector=${q("metadata.namespace!=paged,metadata.name!=a")}`)).body), ["b", "c", "d"]);
  });

  it("answers 400 field label not supported for other fields", async () => {
    const r = await api.get(`${ksPath("dev")}?fieldSelector=${q("spec.suspend=true")}`);
    assert.equal(r.status, 400);
    assert.equal(r.body.message, "field label not supported: spec.suspend");
  });

  it("pages with limit/continue, every page reporting the first page's resourceVersion, the last without continue", async () => {
    const first = await api.get(`${ksPath("paged")}?limit=2`);
    assert.deepEqual(names(first.body), ["p0", "p1"]);
    assert.equal(first.body.metadata.remainingItemCount, 3);
    const rv = first.body.metadata.resourceVersion;
    // Changes after the first page do not show up in later pages: they are read at the first page's revision.
    await api.delete(ksPath("paged", "p3"));
    await api.post(ksPath("paged"), kustomization("p5", "paged"));
    const second = await api.get(`${ksPath("paged")}?limit=2&continue=${q(first.body.metadata.continue)}`);
    assert.deepEqual(names(second.body), ["p2", "p3"]);
    assert.equal(second.body.metadata.resourceVersion, rv);
    const third = await api.get(`${ksPath("paged")}?limit=2&continue=${q(second.body.metadata.continue)}`);
    assert.deepEqual(names(third.body), ["p4"]);
    assert.equal(third.body.metadata.resourceVersion, rv);
    assert.equal(third.body.metadata.continue, undefined);
    assert.deepEqual(names((await api.get(ksPath("paged"))).body), ["p0", "p1", "p2", "p4", "p5"]);
  });

  it("answers 410 Expired for a continue token older than the kept history", async () => {
    const first = await api.get(`${ksPath("dev")}?limit=1`);
    await api.post(ksPath("dev"), kustomization("after-first-page", "dev"));
    kube.compact();
    const r = await api.get(`${ksPath("dev")}?limit=1&continue=${q(first.body.metadata.continue)}`);
    assert.equal(r.status, 410);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message:
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue parameter from the response.",
      reason: "Expired",
      code: 410,
    });
  });

  it("answers 400 for a continue token that is not one", async () => {
    const r = await api.get(`${ksPath("dev")}?limit=1&continue=garbage`);
    assert.equal(r.status, 400);
    assert.equal(r.body.message, "continue key is not valid: garbage");
  });
});
