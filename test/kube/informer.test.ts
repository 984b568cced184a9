import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { z } from "zod";
import { fluxKind } from "../../src/flux/kinds.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { createInformer } from "../../src/kube/informer.ts";
import type { Informer } from "../../src/kube/informer.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import { kubeObjectSchema } from "../../src/kube/object.ts";
import type { KubeObject } from "../../src/kube/object.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";
import { startFakeApi, statusBody } from "./fake-api.ts";
import type { FakeApi, FakeRoute } from "./fake-api.ts";
import { fakeClock } from "./fake-clock.ts";
import type { FakeClock } from "./fake-clock.ts";

const KS = fluxKind("Kustomization");
const ALL = "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations";

const obj = (ns: string, name: string, rv: string, spec: Record<string, unknown> = { path: "./apps" }): KubeObject => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace: ns, resourceVersion: rv },
  spec,
});
const list = (rv: string, items: KubeObject[]): FakeRoute => ({
  method: "GET",
  path: ALL,
  when: (r) => r.query.watch === undefined,
  answer: { status: 200, json: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "KustomizationList", metadata: { resourceVersion: rv }, items } },
});
const watch = (answer: FakeRoute["answer"]): FakeRoute => ({ method: "GET", path: ALL, when: (r) => r.query.watch === "true", answer });
const idle = watch({ events: [], holdOpen: true });

describe("informer against a scripted API", () => {
  let api: FakeApi;
  let clock: FakeClock;
  let kube: KubeClient;
  let informer: Informer<KubeObject> | undefined;
  let seen: string[];

  before(async () => {
    api = await startFakeApi();
  });
  after(async () => {
    await api.close();
  });
  beforeEach(() => {
    api.reset();
    clock = fakeClock();
    seen = [];
    const { kubeConfig } = loadKubeConfig({ from: "server", server: api.url });
    kube = createKubeClient({ kubeConfig, log: quietLogger(), registry: new Registry(), clock });
  });
  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
  });

  const at = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}@${o.metadata.resourceVersion}`;
  function start(options: { resyncMs?: number; schema?: z.ZodType<KubeObject> } = {}): Informer<KubeObject> {
    informer = createInformer({ client: kube, type: KS, clock, watchTimeoutSeconds: 60, ...options }).start();
    informer.on({
      add: (o) => seen.push(`add ${at(o)}`),
      update: (p, c) => seen.push(`update ${at(p)} -> ${c.metadata.resourceVersion}`),
      delete: (o) => seen.push(`delete ${at(o)}`),
    });
    return informer;
  }
  const watchRequests = () => api.requests.filter((r) => r.query.watch === "true");
  const restarts = async () => Object.fromEntries((await kube.metrics.watchRestarts.get()).values.map((v) => [v.labels.reason, v.value]));

  it("lists, syncs, applies watch events, and resumes from the last version seen (a bookmark's) when the watch ends", async () => {
    api.on(
      list("10", [obj("dev", "a", "10"), obj("prod", "b", "10")]),
      watch({
        events: [
          { type: "ADDED", object: obj("dev", "c", "11") },
          { type: "MODIFIED", object: obj("dev", "a", "12") },
          { type: "DELETED", object: obj("prod", "b", "13") },
          { type: "BOOKMARK", object: { kind: "Kustomization", apiVersion: "kustomize.toolkit.fluxcd.io/v1", metadata: { resourceVersion: "15" } } },
        ],
      }),
      idle,
    );
    const inf = start();
    assert.equal(inf.synced(), false);
    await inf.whenSynced;
    assert.equal(inf.synced(), true);
    await until(() => watchRequests().length === 2, { what: "the second watch" });
    assert.deepEqual(seen, ["add dev/a@10", "add prod/b@10", "add dev/c@11", "update dev/a@10 -> 12", "delete prod/b@13"]);
    assert.deepEqual(watchRequests().map((r) => r.query), [
      { watch: "true", resourceVersion: "10", allowWatchBookmarks: "true", timeoutSeconds: "60" },
      { watch: "true", resourceVersion: "15", allowWatchBookmarks: "true", timeoutSeconds: "60" },
    ]);
    assert.deepEqual(inf.list().map(at).sort(), ["dev/a@12", "dev/c@11"]);
    assert.deepEqual(inf.list("prod"), []);
    assert.equal(inf.get("dev", "a")?.metadata.resourceVersion, "12");
    assert.equal(inf.resourceVersion(), "15");
    assert.deepEqual(await restarts(), { closed: 1 });
    assert.deepEqual(clock.sleeps, []);
  });

  it("relists on an ERROR event with code 410 and reports the difference as update, add and delete", async () => {
    api.on(
      list("10", [obj("dev", "a", "10"), obj("dev", "b", "10")]),
      watch({ events: [{ type: "ERROR", object: statusBody(410, "Expired", "too old resource version: 10 (40)") }] }),
      list("50", [obj("dev", "a", "40"), obj("dev", "c", "45")]),
      idle,
    );
    await start().whenSynced;
    await until(() => watchRequests().length === 2, { what: "the watch after the relist" });
    assert.deepEqual(seen, ["add dev/a@10", "add dev/b@10", "update dev/a@10 -> 40", "add dev/c@45", "delete dev/b@10"]);
    assert.equal(watchRequests()[1]?.query.resourceVersion, "50");
    assert.deepEqual(await restarts(), { expired: 1 });
  });

  it("relists when the watch request itself answers 410 Gone", async () => {
    api.on(list("10", [obj("dev", "a", "10")]), watch({ status: 410, json: statusBody(410, "Expired", "too old resource version") }), list("20", [obj("dev", "a", "10")]), idle);
    await start().whenSynced;
    await until(() => watchRequests().length === 2, { what: "the watch after the relist" });
    assert.deepEqual(seen, ["add dev/a@10"], "an unchanged object is not reported again");
    assert.deepEqual(await restarts(), { expired: 1 });
  });

  it("resumes from the same version after back-off when a watch fails", async () => {
    api.on(list("10", [obj("dev", "a", "10")]), watch({ status: 500, json: statusBody(500, "InternalError", "boom") }), watch({ reset: true }), idle);
    await start().whenSynced;
    await until(() => watchRequests().length === 3, { what: "the third watch" });
    assert.deepEqual(watchRequests().map((r) => r.query.resourceVersion), ["10", "10", "10"]);
    assert.deepEqual(clock.sleeps, [800, 1600]);
    assert.deepEqual(await restarts(), { error: 2 });
  });

  it("backs off when a watch ends at once without an event, so a broken server is not hammered", async () => {
    api.on(list("10", []), watch({ events: [] }), idle);
    await start().whenSynced;
    await until(() => watchRequests().length === 2, { what: "the second watch" });
    assert.deepEqual(clock.sleeps, [800]);
    assert.deepEqual(await restarts(), { closed: 1 });
  });

  it("keeps listing after back-off until the list succeeds, and is synced only then", async () => {
    const forbidden = { status: 403, json: statusBody(403, "Forbidden", 'kustomizations.kustomize.toolkit.fluxcd.io is forbidden: User "system:serviceaccount:fluxgate-system:fluxgate" cannot list resource "kustomizations"') };
    api.on({ ...list("1", []), answer: forbidden, times: 2 }, list("10", [obj("dev", "a", "10")]), idle);
    await start().whenSynced;
    assert.deepEqual(clock.sleeps, [800, 1600]);
    assert.deepEqual(seen, ["add dev/a@10"]);
  });

  it("stopped before its first list: whenSynced rejects and stop returns without waiting for the hung request", async () => {
    api.on({ ...list("1", []), answer: { hang: true } });
    const inf = start();
    await until(() => api.requests.length === 1, { what: "the list request" });
    await inf.stop();
    await assert.rejects(inf.whenSynced, { message: "informer for kustomizations.kustomize.toolkit.fluxcd.io stopped before its first list" });
    assert.equal(inf.synced(), false);
  });

  it("tells handlers added after the sync about every cached object first", async () => {
    api.on(list("10", [obj("dev", "a", "10"), obj("dev", "b", "10")]), idle);
    const inf = start();
    await inf.whenSynced;
    const late: string[] = [];
    const off = inf.on({ add: (o) => late.push(o.metadata.name) });
    assert.deepEqual(late.sort(), ["a", "b"]);
    off();
  });

  it("keeps going when a handler throws, and other handlers still hear the event", async () => {
    api.on(list("10", [obj("dev", "a", "10")]), idle);
    informer = createInformer({ client: kube, type: KS, clock, watchTimeoutSeconds: 60 });
    informer.on({ add: () => {
      throw new Error("handler bug");
    } });
    informer.on({ add: (o) => seen.push(o.metadata.name) });
    await informer.start().whenSynced;
    assert.deepEqual(seen, ["a"]);
  });

  it("replays the cache to handlers as updates on every resync", async () => {
    api.on(list("10", [obj("dev", "a", "10")]), idle);
    await start({ resyncMs: 20 }).whenSynced;
    await until(() => seen.filter((s) => s.startsWith("update")).length >= 2, { what: "two resyncs" });
    assert.deepEqual(seen.slice(0, 3), ["add dev/a@10", "update dev/a@10 -> 10", "update dev/a@10 -> 10"]);
  });

  it("leaves out objects that do not match its schema", async () => {
    const withPath = kubeObjectSchema.extend({ spec: z.object({ path: z.string() }) });
    api.on(list("10", [obj("dev", "a", "10"), obj("dev", "odd", "10", { path: 42 })]), idle);
    const inf = start({ schema: withPath });
    await inf.whenSynced;
    assert.deepEqual(seen, ["add dev/a@10"]);
    assert.equal(inf.get("dev", "odd"), undefined);
  });
});
