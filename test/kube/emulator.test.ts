/**
 * The client and the informer against the in-repo kube-apiserver emulator (real CRDs, resourceVersions,
 * generation rules, server-side apply, watch history and fault injection), reached through the kubeconfig it
 * writes, as Fluxgate reaches a cluster.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { KubeApiError } from "../../src/errors.ts";
import { fluxKind } from "../../src/flux/kinds.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient, KubeClientOptions } from "../../src/kube/client.ts";
import { createInformer } from "../../src/kube/informer.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import type { KubeObject } from "../../src/kube/object.ts";
import { formatRfc3339Nano } from "../../src/kube/reconcile-request.ts";
import type { ResourceType } from "../../src/kube/resource.ts";
import { startKubeEmulator, FLUX_CRDS_DIR } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";
import { fakeClock } from "./fake-clock.ts";

const KS = fluxKind("Kustomization");
const NAMESPACE: ResourceType = { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false };

const ks = (namespace: string, name: string, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace },
  spec: { interval: "10m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "repo" }, ...spec },
});

describe("the Kubernetes client against the API emulator", () => {
  let emulator: KubeEmulator;
  let kubeconfig: string;
  let kube: KubeClient;
  let namespaces = 0;

  const client = (extra: Partial<KubeClientOptions> = {}): KubeClient =>
    createKubeClient({ kubeConfig: loadKubeConfig({ from: "kubeconfig", path: kubeconfig }).kubeConfig, log: quietLogger(), registry: new Registry(), ...extra });
  /** A fresh namespace per test, so tests do not see each other's objects or requests. */
  const namespace = async (): Promise<string> => {
    const name = `t${++namespaces}`;
    await kube.create(NAMESPACE, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
    return name;
  };
  const requestsIn = (ns: string) => emulator.requests.filter((r) => r.namespace === ns && r.resource === "kustomizations");

  before(async () => {
    // Bookmarks every minute: the informer's resourceVersion then only moves with its own kind's events, which the
    // 410 test needs (a bookmark carries the global revision).
    emulator = await startKubeEmulator({ crds: [FLUX_CRDS_DIR], bookmarkIntervalMs: 60_000 });
    kubeconfig = await emulator.kubeconfigPath();
    kube = client();
  });
  after(async () => {
    await emulator.stop();
  });

  it("honours Retry-After of a 429 as a Status body and as APF's plain text, measured on the real clock", async () => {
    const ns = await namespace();
    await kube.create(KS, ks(ns, "apps"));
    emulator.faults.inject({ verb: "get", resource: "kustomizations", namespace: ns, count: 1, response: { status: 429, retryAfterSeconds: 1 } });
    emulator.faults.inject({ verb: "get", resource: "kustomizations", namespace: ns, count: 1, response: { status: 429, retryAfterSeconds: 1, plainText: true } });
    const started = performance.now();
    const got = await kube.get(KS, ns, "apps");
    const waited = performance.now() - started;
    assert.equal(got.metadata.name, "apps");
    assert.ok(waited >= 1950 && waited < 3500, `waited ${Math.round(waited)} ms for two Retry-After: 1`);
    assert.deepEqual(requestsIn(ns).filter((r) => r.verb === "get").map((r) => r.status), [429, 429, 200]);
  });

  it("backs off on 503 and succeeds, counting the retries", async () => {
    const ns = await namespace();
    await kube.create(KS, ks(ns, "apps"));
    emulator.faults.inject({ verb: "patch", resource: "kustomizations", namespace: ns, count: 2, response: { status: 503 } });
    const k = client();
    await k.requestReconcile({ kind: "Kustomization", namespace: ns, name: "apps" }, new Date());
    assert.deepEqual(requestsIn(ns).filter((r) => r.verb === "patch").map((r) => r.status), [503, 503, 200]);
    const retries = (await k.metrics.retries.get()).values.map((v) => [v.labels.verb, v.labels.reason, v.value]);
    assert.deepEqual(retries, [["patch", "ServerError", 2]]);
  });

  it("retries a request the server leaves hanging past the request timeout", async () => {
    const ns = await namespace();
    await kube.create(KS, ks(ns, "apps"));
    emulator.faults.inject({ verb: "get", resource: "kustomizations", namespace: ns, count: 1, response: { hangMs: 2000 } });
    const k = client({ requestTimeoutMs: 300 });
    assert.equal((await k.get(KS, ns, "apps")).metadata.name, "apps");
    assert.deepEqual((await k.metrics.retries.get()).values.map((v) => v.labels.reason), ["Timeout"]);
  });

  it("gives up at the deadline with an error saying what, how often, how long and the last answer", async () => {
    const ns = await namespace();
    emulator.faults.inject({ verb: "patch", resource: "kustomizations", namespace: ns, count: 100, response: { status: 503 } });
    const k = client({ clock: fakeClock() });
    const e = await k.requestReconcile({ kind: "Kustomization", namespace: ns, name: "apps" }, new Date()).catch((x: unknown) => x);
    emulator.faults.clear();
    assert.ok(e instanceof KubeApiError);
    assert.equal(
      e.message,
      `patch kustomizations.kustomize.toolkit.fluxcd.io ${ns}/apps: gave up after 8 attempts in 23.8s (deadline 30s): 503 ServiceUnavailable: the server is currently unable to handle the request`,
    );
    assert.deepEqual([e.status, e.reason, e.verb, e.resource, e.namespace, e.objectName, e.attempts], [503, "ServiceUnavailable", "patch", "kustomizations.kustomize.toolkit.fluxcd.io", ns, "apps", 8]);
  });

  it("modify re-reads after a 409 Conflict caused by a concurrent writer and writes on the fresh version", async () => {
    const ns = await namespace();
    await kube.create(KS, ks(ns, "apps"));
    let calls = 0;
    const out = await kube.modify(KS, ns, "apps", async (current) => {
      calls++;
      if (calls === 1) {
        // Someone else writes between our read and our write.
        await kube.patch(KS, ns, "apps", { type: "merge", body: { metadata: { labels: { owner: "someone-else" } } } });
      }
      return { ...current, spec: { ...(current.spec as object), suspend: true } };
    });
    assert.equal(calls, 2);
    assert.deepEqual(requestsIn(ns).filter((r) => r.verb !== "create").map((r) => `${r.verb} ${r.status}`), ["get 200", "patch 200", "update 409", "get 200", "update 200"]);
    assert.deepEqual([(out.spec as { suspend?: boolean }).suspend, out.metadata.labels?.owner, out.metadata.generation], [true, "someone-else", 2]);
  });

  it("requestReconcile writes exactly the annotation with a merge patch: new resourceVersion, same generation", async () => {
    const ns = await namespace();
    const before = await kube.create(KS, ks(ns, "apps"));
    const now = new Date("2026-11-25T07:51:11.123Z");
    const after = await kube.requestReconcile({ kind: "Kustomization", namespace: ns, name: "apps" }, now);
    assert.equal(formatRfc3339Nano(now), "2026-11-25T07:51:11.123Z");
    assert.deepEqual(after.metadata.annotations, { "reconcile.fluxcd.io/requestedAt": "2026-11-25T07:51:11.123Z" });
    assert.equal(after.metadata.generation, before.metadata.generation);
    assert.notEqual(after.metadata.resourceVersion, before.metadata.resourceVersion);
    const patch = requestsIn(ns).filter((r) => r.verb === "patch");
    assert.deepEqual(patch.map((r) => [r.contentType, r.query, r.name, r.status]), [["application/merge-patch+json", { fieldManager: "fluxgate" }, "apps", 200]]);
    const [stored] = emulator.objects("kustomize.toolkit.fluxcd.io", "kustomizations", ns);
    assert.deepEqual(stored?.metadata, after.metadata);
    assert.deepEqual(stored?.spec, before.spec);
    const again = await kube.requestReconcile({ kind: "Kustomization", namespace: ns, name: "apps" }, now);
    assert.equal(again.metadata.resourceVersion, after.metadata.resourceVersion, "the same token again changes nothing");
  });

  it("server-side apply creates, updates the fields it owns, and needs force to take fields another manager owns", async () => {
    const ns = await namespace();
    const created = await kube.apply(KS, ks(ns, "apps"));
    assert.equal(created.metadata.generation, 1);
    const managers = (o: KubeObject) => (o.metadata.managedFields as Array<{ manager: string; operation: string }>).map((m) => `${m.manager}/${m.operation}`);
    assert.deepEqual(managers(created), ["fluxgate/Apply"]);
    const updated = await kube.apply(KS, ks(ns, "apps", { interval: "5m" }));
    assert.deepEqual([(updated.spec as { interval: string }).interval, updated.metadata.generation], ["5m", 2]);
    assert.deepEqual(requestsIn(ns).filter((r) => r.verb === "patch").map((r) => [r.contentType, r.query.fieldManager, r.status]), [
      ["application/apply-patch+yaml", "fluxgate", 201],
      ["application/apply-patch+yaml", "fluxgate", 200],
    ]);

    await kube.apply(KS, ks(ns, "apps", { interval: "1m" }), { fieldManager: "kustomize-controller", force: true });
    const conflict = await kube.apply(KS, ks(ns, "apps", { interval: "2m" })).catch((x: unknown) => x);
    assert.ok(conflict instanceof KubeApiError);
    assert.deepEqual([conflict.status, conflict.reason, conflict.attempts], [409, "Conflict", 1]);
    assert.match(conflict.message, /^apply kustomizations\.kustomize\.toolkit\.fluxcd\.io t\d+\/apps: 409 Conflict: Apply failed with \d+ conflicts?: conflict with "kustomize-controller"/);
    const forced = await kube.apply(KS, ks(ns, "apps", { interval: "2m" }), { force: true });
    assert.equal((forced.spec as { interval: string }).interval, "2m");
  });

  it("updates status through the subresource without touching generation", async () => {
    const ns = await namespace();
    const created = await kube.create(KS, ks(ns, "apps"));
    const status = { observedGeneration: 1, lastHandledReconcileAt: "token-1" };
    const out = await kube.updateStatus(KS, { ...created, status });
    assert.deepEqual([out.status, out.metadata.generation], [status, 1]);
    assert.deepEqual(requestsIn(ns).filter((r) => r.verb === "update").map((r) => [r.subresource, r.status]), [["status", 200]]);
  });

  it("informer: syncs, reports add, update and delete, and resumes from its last version when a watch times out", async () => {
    const ns = await namespace();
    await kube.create(KS, ks(ns, "a"));
    await kube.create(KS, ks(ns, "b"));
    const seen: string[] = [];
    const inf = createInformer({ client: kube, type: KS, namespace: ns, watchTimeoutSeconds: 1 }).start();
    inf.on({
      add: (o) => seen.push(`add ${o.metadata.name}`),
      update: (_, o) => seen.push(`update ${o.metadata.name} ${(o.spec as { suspend?: boolean }).suspend}`),
      delete: (o) => seen.push(`delete ${o.metadata.name}`),
    });
    try {
      await inf.whenSynced;
      assert.deepEqual(seen.sort(), ["add a", "add b"]);
      await kube.create(KS, ks(ns, "c"));
      await until(() => seen.includes("add c"), { what: "add c" });
      await kube.patch(KS, ns, "a", { type: "merge", body: { spec: { suspend: true } } });
      await until(() => seen.includes("update a true"), { what: "update a" });
      await kube.delete(KS, ns, "b");
      await until(() => seen.includes("delete b"), { what: "delete b" });
      assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ["a", "c"]);

      const rvBefore = inf.resourceVersion();
      await until(() => requestsIn(ns).filter((r) => r.verb === "watch").length >= 2, { what: "a second watch after the 1 s timeout", timeoutMs: 5000 });
      const watches = requestsIn(ns).filter((r) => r.verb === "watch");
      assert.equal(watches[1]?.query.resourceVersion, rvBefore, "resumed from the last version seen");
      assert.equal(requestsIn(ns).filter((r) => r.verb === "list").length, 1, "no relist for a timed-out watch");
      const restarts = (await kube.metrics.watchRestarts.get()).values.filter((v) => v.labels.reason === "closed");
      assert.ok((restarts[0]?.value ?? 0) >= 1);
    } finally {
      await inf.stop();
    }
  });

  it("informer: relists after 410 Gone once the history it would resume from is compacted", async () => {
    const ns = await namespace();
    await kube.create(KS, ks(ns, "a"));
    const seen: string[] = [];
    const inf = createInformer({ client: kube, type: KS, namespace: ns, watchTimeoutSeconds: 1 }).start();
    inf.on({ add: (o) => seen.push(`add ${o.metadata.name}`), delete: (o) => seen.push(`delete ${o.metadata.name}`) });
    try {
      await inf.whenSynced;
      // Writes elsewhere move the global revision past the informer's; compaction then makes its version too old.
      await kube.create(NAMESPACE, { apiVersion: "v1", kind: "Namespace", metadata: { name: `${ns}-other` } });
      emulator.compact();
      await until(() => requestsIn(ns).filter((r) => r.verb === "list").length === 2, { what: "the relist", timeoutMs: 5000 });
      const watches = requestsIn(ns).filter((r) => r.verb === "watch");
      await until(() => requestsIn(ns).filter((r) => r.verb === "watch").length > watches.length, { what: "the watch after the relist" });
      const expired = (await kube.metrics.watchRestarts.get()).values.filter((v) => v.labels.reason === "expired");
      assert.ok((expired[0]?.value ?? 0) >= 1);
      const last = requestsIn(ns).filter((r) => r.verb === "watch").at(-1);
      assert.equal(last?.query.resourceVersion, inf.resourceVersion());
      assert.deepEqual(seen, ["add a"], "nothing changed, so the relist reports nothing");
      assert.equal(inf.synced(), true);
    } finally {
      await inf.stop();
    }
  });
});
