import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type KubeEmulator, startKubeEmulator } from "./emulator.ts";
import { KUSTOMIZATION_CRD, kubeClient, ksPath, kustomization, namespace } from "./kube-fetch.ts";
import { openWatch, type WatchStream } from "./watch-stream.ts";

let kube: KubeEmulator;
let api: ReturnType<typeof kubeClient>;
const open: WatchStream[] = [];

async function watch(path: string): Promise<WatchStream> {
  const w = await openWatch(`${kube.url}${path}`);
  open.push(w);
  return w;
}
const merge = (ns: string, name: string, body: unknown) => api.patch(ksPath(ns, name), body, "application/merge-patch+json");
const summary = (e: { type: string; object: { metadata?: Record<string, unknown> } }): string => `${e.type} ${String(e.object.metadata?.name)}`;

before(async () => {
  kube = await startKubeEmulator({ crds: [KUSTOMIZATION_CRD], bookmarkIntervalMs: 100, historySize: 100 });
  api = kubeClient(kube.url);
  for (const ns of ["w1", "w2", "w3", "w4", "w5"]) await api.post("/api/v1/namespaces", namespace(ns));
});
after(async () => {
  for (const w of open) w.close();
  await kube.stop();
});

describe("watch", () => {
  it("without resourceVersion sends ADDED for what exists, then MODIFIED and DELETED, one JSON object per line", async () => {
    await api.post(ksPath("w1"), kustomization("one", "w1"));
    await api.post(ksPath("w1"), kustomization("two", "w1"));
    const w = await watch(`${ksPath("w1")}?watch=true`);
    assert.equal(w.status, 200);
    assert.equal(w.contentType, "application/json");
    assert.deepEqual([summary(await w.next()), summary(await w.next())], ["ADDED one", "ADDED two"]);
    await merge("w1", "one", { spec: { suspend: true } });
    const mod = await w.next();
    assert.equal(summary(mod), "MODIFIED one");
    assert.equal(mod.object.apiVersion, "kustomize.toolkit.fluxcd.io/v1");
    assert.equal((mod.object.spec as { suspend: boolean }).suspend, true);
    const before = (await api.get(ksPath("w1", "two"))).body;
    await api.delete(ksPath("w1", "two"));
    const del = await w.next();
    assert.equal(summary(del), "DELETED two");
    assert.equal(del.object.metadata?.uid, before.metadata.uid);
    assert.equal(del.object.metadata?.resourceVersion, String(kube.revision()), "DELETED carries the deletion's resourceVersion");
    const lines = w.raw().split("\n");
    assert.equal(lines.at(-1), "", "every event ends with a newline");
    for (const l of lines.slice(0, -1)) assert.doesNotThrow(() => JSON.parse(l));
  });

  it("from resourceVersion N sends only the changes after N", async () => {
    const created = (await api.post(ksPath("w2"), kustomization("old", "w2"))).body;
    const rv = created.metadata.resourceVersion;
    await merge("w2", "old", { metadata: { labels: { step: "1" } } });
    const w = await watch(`${ksPath("w2")}?watch=1&resourceVersion=${rv}`);
    const first = await w.next();
    assert.equal(summary(first), "MODIFIED old");
    assert.deepEqual(first.object.metadata?.labels, { step: "1" });
    await api.post(ksPath("w2"), kustomization("new", "w2"));
    assert.equal(summary(await w.next()), "ADDED new");
    assert.equal(w.events.length, 2);
  });

  it("answers a too old resourceVersion with HTTP 200 and one ERROR event carrying a 410 Expired Status, then ends", async () => {
    const rv = kube.revision();
    await api.post(ksPath("w3"), kustomization("gone", "w3"));
    kube.compact();
    const w = await watch(`${ksPath("w3")}?watch=true&resourceVersion=${rv}`);
    assert.equal(w.status, 200);
    const e = await w.next();
    assert.deepEqual(e, {
      type: "ERROR",
      object: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `too old resource version: ${rv} (${rv + 1})`, reason: "Expired", code: 410 },
    });
    await w.ended;
    assert.equal(w.events.length, 1);
  });

  it("sends BOOKMARK events with only the current resourceVersion when allowWatchBookmarks is set", async () => {
    const w = await watch(`${ksPath("w3")}?watch=true&allowWatchBookmarks=true&resourceVersion=${kube.revision()}`);
    const b = await w.next();
    assert.deepEqual(b, { type: "BOOKMARK", object: { kind: "Kustomization", apiVersion: "kustomize.toolkit.fluxcd.io/v1", metadata: { resourceVersion: String(kube.revision()) } } });
  });

  it("marks the end of initial events with the k8s.io/initial-events-end bookmark for sendInitialEvents", async () => {
    const w = await watch(`${ksPath("w1")}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan`);
    assert.equal(summary(await w.next()), "ADDED one");
    const b = await w.next();
    assert.equal(b.type, "BOOKMARK");
    assert.deepEqual(b.object.metadata?.annotations, { "k8s.io/initial-events-end": "true" });
  });

  it("ends the stream after timeoutSeconds", async () => {
    const started = Date.now();
    const w = await watch(`${ksPath("w3")}?watch=true&timeoutSeconds=1&resourceVersion=${kube.revision()}`);
    await w.ended;
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 3000, `ended after ${took} ms`);
  });

  it("follows the label selector like the cacher: leaving it is DELETED, entering it ADDED", async () => {
    await api.post(ksPath("w4"), kustomization("sel", "w4", {}, { labels: { app: "x" } }));
    await api.post(ksPath("w4"), kustomization("other", "w4", {}, { labels: { app: "y" } }));
    const w = await watch(`${ksPath("w4")}?watch=true&labelSelector=app%3Dx`);
    assert.equal(summary(await w.next()), "ADDED sel");
    await merge("w4", "sel", { metadata: { labels: { app: "z" } } });
    const left = await w.next();
    assert.equal(summary(left), "DELETED sel");
    assert.deepEqual(left.object.metadata?.labels, { app: "z" });
    await merge("w4", "other", { spec: { suspend: true } });
    await merge("w4", "sel", { metadata: { labels: { app: "x" } } });
    assert.equal(summary(await w.next()), "ADDED sel");
    assert.equal(w.events.length, 3, "changes to objects outside the selection are not sent");
  });

  it("applies field selectors (metadata.name), as kubectl delete --wait does", async () => {
    const w = await watch(`${ksPath("w4")}?watch=true&fieldSelector=metadata.name%3Dother`);
    assert.equal(summary(await w.next()), "ADDED other");
    await api.delete(ksPath("w4", "other"));
    assert.equal(summary(await w.next()), "DELETED other");
  });

  it("watches all namespaces at the cluster path and one namespace at the namespaced path", async () => {
    const all = await watch(`/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?watch=true&resourceVersion=${kube.revision()}`);
    const one = await watch(`${ksPath("w5")}?watch=true&resourceVersion=${kube.revision()}`);
    await api.post(ksPath("w2"), kustomization("elsewhere", "w2"));
    await api.post(ksPath("w5"), kustomization("here", "w5"));
    assert.deepEqual([summary(await all.next()), summary(await all.next())], ["ADDED elsewhere", "ADDED here"]);
    assert.equal(summary(await one.next()), "ADDED here");
    assert.equal(one.events.length, 1);
  });

  it("answers 400 for a resourceVersion that is not a number", async () => {
    const r = await api.get(`${ksPath("w1")}?watch=true&resourceVersion=abc`);
    assert.equal(r.status, 400);
    assert.equal(r.body.reason, "BadRequest");
  });

  it("closes open watches when the emulator stops", async () => {
    const other = await startKubeEmulator();
    const w = await openWatch(`${other.url}/api/v1/namespaces?watch=true`);
    assert.equal((await w.next()).type, "ADDED");
    await other.stop();
    await w.ended;
  });
});
