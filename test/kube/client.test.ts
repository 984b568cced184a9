import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import type { Counter } from "prom-client";
import { issueCa, issueServingCert } from "../../certs/issue.ts";
import { KubeApiError, isKubeNotFound } from "../../src/errors.ts";
import { fluxKind } from "../../src/flux/kinds.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient, WatchEvent } from "../../src/kube/client.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import type { KubeObject } from "../../src/kube/object.ts";
import { capturingLogger, quietLogger } from "../support/quiet-logger.ts";
import { startFakeApi, statusBody } from "./fake-api.ts";
import type { FakeApi } from "./fake-api.ts";
import { fakeClock } from "./fake-clock.ts";
import type { FakeClock } from "./fake-clock.ts";

const KS = fluxKind("Kustomization");
const ITEM = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/dev/kustomizations/apps";
const COLLECTION = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/dev/kustomizations";
const TOKEN = "s3cr3t-token-value";

function ks(resourceVersion: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name: "apps", namespace: "dev", resourceVersion, generation: 1 },
    spec: { interval: "10m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "repo" } },
    ...extra,
  };
}

/** Counter values as "label=value,… → count", for exact comparison. */
async function counts(counter: Counter<string>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await counter.get()).values) {
    out[Object.entries(v.labels).map(([k, l]) => `${k}=${String(l)}`).join(",")] = v.value;
  }
  return out;
}

describe("KubeClient against a scripted API", () => {
  let api: FakeApi;
  let clock: FakeClock;
  let kube: KubeClient;

  before(async () => {
    api = await startFakeApi();
  });
  after(async () => {
    await api.close();
  });
  beforeEach(() => {
    api.reset();
    clock = fakeClock();
    const { kubeConfig } = loadKubeConfig({ from: "server", server: api.url, token: TOKEN });
    kube = createKubeClient({ kubeConfig, log: quietLogger(), registry: new Registry(), clock, requestTimeoutMs: 300 });
  });

  it("gets an object with the bearer token, JSON accept and Fluxgate's user agent", async () => {
    api.on({ method: "GET", path: ITEM, answer: { status: 200, json: ks("7") } });
    const got = await kube.get(KS, "dev", "apps");
    assert.deepEqual(got, ks("7"));
    const [req] = api.requests;
    assert.equal(req?.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(req?.headers.accept, "application/json");
    assert.match(String(req?.headers["user-agent"]), /^fluxgate\/\d+\.\d+\.\d+$/);
  });

  it("turns a 404 into a KubeApiError naming the verb, resource, object and the server's message, without retrying", async () => {
    const message = 'kustomizations.kustomize.toolkit.fluxcd.io "apps" not found';
    api.on({ path: ITEM, answer: { status: 404, json: statusBody(404, "NotFound", message, { name: "apps", group: "kustomize.toolkit.fluxcd.io", kind: "kustomizations" }) } });
    const e = await kube.get(KS, "dev", "apps").catch((x: unknown) => x);
    assert.ok(e instanceof KubeApiError);
    assert.equal(e.message, `get kustomizations.kustomize.toolkit.fluxcd.io dev/apps: 404 NotFound: ${message}`);
    assert.deepEqual([e.status, e.reason, e.verb, e.resource, e.namespace, e.objectName, e.attempts, e.gaveUp], [404, "NotFound", "get", "kustomizations.kustomize.toolkit.fluxcd.io", "dev", "apps", 1, undefined]);
    assert.equal(isKubeNotFound(e), true);
    assert.deepEqual(clock.sleeps, []);
  });

  it("waits for the Retry-After of a plain-text 429 (API Priority and Fairness), then succeeds", async () => {
    api.on(
      { path: ITEM, answer: { status: 429, headers: { "retry-after": "1" }, text: "Too many requests, please try again later.\n" } },
      { path: ITEM, answer: { status: 200, json: ks("8") } },
    );
    assert.equal((await kube.get(KS, "dev", "apps")).metadata.resourceVersion, "8");
    assert.deepEqual(clock.sleeps, [1000]);
    assert.deepEqual(await counts(kube.metrics.requests), {
      "verb=get,resource=kustomizations.kustomize.toolkit.fluxcd.io,code=429": 1,
      "verb=get,resource=kustomizations.kustomize.toolkit.fluxcd.io,code=200": 1,
    });
    assert.deepEqual(await counts(kube.metrics.retries), { "verb=get,resource=kustomizations.kustomize.toolkit.fluxcd.io,reason=TooManyRequests": 1 });
  });

  it("waits for details.retryAfterSeconds of a 429 Status body", async () => {
    api.on(
      { path: ITEM, answer: { status: 429, json: statusBody(429, "TooManyRequests", "the server has received too many requests", { retryAfterSeconds: 3 }) } },
      { path: ITEM, answer: { status: 200, json: ks("8") } },
    );
    await kube.get(KS, "dev", "apps");
    assert.deepEqual(clock.sleeps, [3000]);
  });

  it("backs off on 503 and on 500, then succeeds", async () => {
    api.on(
      { path: ITEM, answer: { status: 503, json: statusBody(503, "ServiceUnavailable", "etcdserver: leader changed") } },
      { path: ITEM, answer: { status: 500, text: "internal error" } },
      { path: ITEM, answer: { status: 200, json: ks("9") } },
    );
    await kube.get(KS, "dev", "apps");
    assert.deepEqual(clock.sleeps, [250, 500]);
  });

  it("gives up at the deadline with an error that says what it tried, for how long, and the last answer", async () => {
    api.on({ path: ITEM, times: 100, answer: { status: 503, json: statusBody(503, "ServiceUnavailable", "etcdserver: leader changed") } });
    const e = await kube.requestReconcile({ kind: "Kustomization", namespace: "dev", name: "apps" }, new Date("2026-11-25T07:51:11Z")).catch((x: unknown) => x);
    assert.ok(e instanceof KubeApiError);
    assert.equal(
      e.message,
      "patch kustomizations.kustomize.toolkit.fluxcd.io dev/apps: gave up after 8 attempts in 23.8s (deadline 30s): 503 ServiceUnavailable: etcdserver: leader changed",
    );
    assert.deepEqual([e.status, e.reason, e.attempts, e.elapsedMs], [503, "ServiceUnavailable", 8, 23_750]);
    assert.equal(api.requests.length, 8);
  });

  it("retries a request that gets no answer in time and one whose connection is reset", async () => {
    api.on({ path: ITEM, answer: { hang: true } }, { path: ITEM, answer: { reset: true } }, { path: ITEM, answer: { status: 200, json: ks("10") } });
    await kube.get(KS, "dev", "apps");
    assert.deepEqual(clock.sleeps, [250, 500]);
    assert.deepEqual(await counts(kube.metrics.retries), {
      "verb=get,resource=kustomizations.kustomize.toolkit.fluxcd.io,reason=Timeout": 1,
      "verb=get,resource=kustomizations.kustomize.toolkit.fluxcd.io,reason=ConnectionError": 1,
    });
    assert.deepEqual(Object.keys(await counts(kube.metrics.requests)).map((k) => k.split("code=")[1]), ["timeout", "error", "200"]);
  });

  it("modify re-reads and writes again after a 409 Conflict, with the version it read last", async () => {
    const conflict = 'Operation cannot be fulfilled on kustomizations.kustomize.toolkit.fluxcd.io "apps": the object has been modified; please apply your changes to the latest version and try again';
    api.on(
      { method: "GET", path: ITEM, answer: { status: 200, json: ks("11") } },
      { method: "PUT", path: ITEM, answer: { status: 409, json: statusBody(409, "Conflict", conflict) } },
      { method: "GET", path: ITEM, answer: { status: 200, json: ks("12") } },
      { method: "PUT", path: ITEM, answer: (r) => ({ status: 200, json: { ...JSON.parse(r.body), metadata: { ...JSON.parse(r.body).metadata, resourceVersion: "13" } } }) },
    );
    const out = await kube.modify(KS, "dev", "apps", (o) => ({ ...o, spec: { ...(o.spec as object), suspend: true } }));
    assert.deepEqual(api.requests.map((r) => r.method), ["GET", "PUT", "GET", "PUT"]);
    const lastPut = JSON.parse(api.requests[3]?.body ?? "{}");
    assert.deepEqual([lastPut.metadata.resourceVersion, lastPut.spec.suspend], ["12", true]);
    assert.equal(api.requests[3]?.query.fieldManager, "fluxgate");
    assert.equal(out.metadata.resourceVersion, "13");
    assert.deepEqual(await counts(kube.metrics.retries), { "verb=update,resource=kustomizations.kustomize.toolkit.fluxcd.io,reason=Conflict": 1 });
  });

  it("modify writes nothing when the change function returns undefined", async () => {
    api.on({ method: "GET", path: ITEM, answer: { status: 200, json: ks("14") } });
    const out = await kube.modify(KS, "dev", "apps", () => undefined);
    assert.deepEqual([out.metadata.resourceVersion, api.requests.length], ["14", 1]);
  });

  it("update does not retry a 409 Conflict: the caller's resourceVersion is stale", async () => {
    api.on({ method: "PUT", path: ITEM, times: 5, answer: { status: 409, json: statusBody(409, "Conflict", "the object has been modified") } });
    await assert.rejects(kube.update(KS, ks("1")), { name: "KubeApiError", message: "update kustomizations.kustomize.toolkit.fluxcd.io dev/apps: 409 Conflict: the object has been modified" });
    assert.equal(api.requests.length, 1);
  });

  it("requestReconcile sends exactly flux's merge patch, with fieldManager=fluxgate", async () => {
    api.on({ method: "PATCH", path: ITEM, answer: { status: 200, json: ks("15") } });
    await kube.requestReconcile({ kind: "Kustomization", namespace: "dev", name: "apps" }, new Date("2026-11-25T07:51:11.5Z"));
    const [req] = api.requests;
    assert.equal(req?.headers["content-type"], "application/merge-patch+json");
    assert.deepEqual(req?.query, { fieldManager: "fluxgate" });
    assert.equal(req?.body, '{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"2026-11-25T07:51:11.5Z"}}}');
  });

  it("sends a JSON Patch as application/json-patch+json", async () => {
    api.on({ method: "PATCH", path: ITEM, answer: { status: 200, json: ks("16") } });
    await kube.patch(KS, "dev", "apps", { type: "json", ops: [{ op: "add", path: "/metadata/annotations/a~1b", value: "c" }] });
    assert.equal(api.requests[0]?.headers["content-type"], "application/json-patch+json");
    assert.equal(api.requests[0]?.body, '[{"op":"add","path":"/metadata/annotations/a~1b","value":"c"}]');
  });

  it("applies server-side with the apply content type, fieldManager and force; an apply conflict is not retried", async () => {
    const causes = [{ reason: "FieldManagerConflict", message: 'conflict with "kustomize-controller"', field: ".spec.interval" }];
    api.on(
      { method: "PATCH", path: ITEM, when: (r) => r.query.force === "true", answer: { status: 201, json: ks("17") } },
      { method: "PATCH", path: ITEM, answer: { status: 409, json: statusBody(409, "Conflict", 'Apply failed with 1 conflict: conflict with "kustomize-controller": .spec.interval', { causes }) } },
    );
    const created = await kube.apply(KS, ks(""), { force: true });
    assert.equal(created.metadata.resourceVersion, "17");
    assert.equal(api.requests[0]?.headers["content-type"], "application/apply-patch+yaml");
    assert.deepEqual(api.requests[0]?.query, { fieldManager: "fluxgate", force: "true" });
    assert.deepEqual(JSON.parse(api.requests[0]?.body ?? ""), ks(""));
    const e = await kube.apply(KS, ks("")).catch((x: unknown) => x);
    assert.ok(e instanceof KubeApiError);
    assert.equal(e.message, 'apply kustomizations.kustomize.toolkit.fluxcd.io dev/apps: 409 Conflict: Apply failed with 1 conflict: conflict with "kustomize-controller": .spec.interval');
    assert.deepEqual(e.details, { causes });
    assert.deepEqual(api.requests[1]?.query, { fieldManager: "fluxgate" });
  });

  it("refuses to write a namespaced object without a namespace", async () => {
    const noNs = { ...ks("1"), metadata: { name: "apps" } };
    await assert.rejects(kube.create(KS, noNs), { name: "FluxgateError", message: 'kustomizations.kustomize.toolkit.fluxcd.io "apps": metadata.namespace is required for a namespaced resource' });
  });

  it("lists every page, keeping the first page's resourceVersion, and starts over when a continue token expired", async () => {
    const list = (rv: string, names: string[], cont?: string) => ({
      status: 200,
      json: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "KustomizationList", metadata: { resourceVersion: rv, ...(cont === undefined ? {} : { continue: cont }) }, items: names.map((n) => ({ ...ks(rv), metadata: { name: n, namespace: "dev", resourceVersion: rv } })) },
    });
    api.on(
      { path: COLLECTION, when: (r) => r.query.continue === undefined, answer: list("20", ["a", "b"], "t1") },
      { path: COLLECTION, when: (r) => r.query.continue === "t1", answer: { status: 410, json: statusBody(410, "Expired", "The provided continue parameter is too old to display a consistent list result.") } },
      { path: COLLECTION, when: (r) => r.query.continue === undefined, answer: list("30", ["a", "b"], "t2") },
      { path: COLLECTION, when: (r) => r.query.continue === "t2", answer: list("31", ["c"]) },
    );
    const out = await kube.list(KS, { namespace: "dev", pageSize: 2 });
    assert.deepEqual([out.resourceVersion, out.items.map((i) => i.metadata.name)], ["30", ["a", "b", "c"]]);
    assert.deepEqual(api.requests.map((r) => r.query), [{ limit: "2" }, { limit: "2", continue: "t1" }, { limit: "2" }, { limit: "2", continue: "t2" }]);
  });

  it("lists across all namespaces with selectors, filling in apiVersion and kind when items lack them", async () => {
    const item = { metadata: { name: "x", namespace: "a" }, spec: {} };
    api.on({ path: "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations", answer: { status: 200, json: { metadata: { resourceVersion: "5" }, items: [item] } } });
    const out = await kube.list(KS, { labelSelector: "team=dev", fieldSelector: "metadata.name=x" });
    assert.deepEqual(out.items, [{ apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", ...item }]);
    assert.deepEqual(api.requests[0]?.query, { labelSelector: "team=dev", fieldSelector: "metadata.name=x", limit: "500" });
  });

  it("watches: joins lines split across chunks, yields bookmarks and ERROR statuses, and ends when the server ends", async () => {
    const expired = statusBody(410, "Expired", "too old resource version: 5 (120)");
    api.on({
      path: COLLECTION,
      when: (r) => r.query.watch === "true",
      answer: { events: [{ type: "ADDED", object: ks("21") }, { type: "BOOKMARK", object: { kind: "Kustomization", apiVersion: "kustomize.toolkit.fluxcd.io/v1", metadata: { resourceVersion: "22" } } }, { type: "ERROR", object: expired }] },
    });
    const events: WatchEvent[] = [];
    for await (const e of kube.watch(KS, { namespace: "dev", resourceVersion: "20", allowWatchBookmarks: true, timeoutSeconds: 60 })) events.push(e);
    assert.deepEqual(events, [{ type: "ADDED", object: ks("21") }, { type: "BOOKMARK", resourceVersion: "22" }, { type: "ERROR", status: expired }]);
    assert.deepEqual(api.requests[0]?.query, { watch: "true", resourceVersion: "20", allowWatchBookmarks: "true", timeoutSeconds: "60" });
  });

  it("watch: a 410 answer to the request throws its KubeApiError", async () => {
    api.on({ path: COLLECTION, answer: { status: 410, json: statusBody(410, "Expired", "too old resource version: 1 (50)") } });
    const iterate = async () => {
      for await (const _ of kube.watch(KS, { namespace: "dev", resourceVersion: "1" })) void _;
    };
    await assert.rejects(iterate(), { name: "KubeApiError", message: "watch kustomizations.kustomize.toolkit.fluxcd.io in namespace dev: 410 Expired: too old resource version: 1 (50)" });
  });

  it("watch: ends from our side when the server keeps it open too long", async () => {
    api.on({ path: COLLECTION, answer: { events: [{ type: "ADDED", object: ks("23") }], holdOpen: true } });
    const seen: string[] = [];
    const iterate = async () => {
      for await (const e of kube.watch(KS, { namespace: "dev", maxDurationMs: 300 })) seen.push(e.type);
    };
    await assert.rejects(iterate(), { name: "KubeApiError", message: "watch kustomizations.kustomize.toolkit.fluxcd.io in namespace dev: Timeout: the server kept the watch open past 300ms" });
    assert.deepEqual(seen, ["ADDED"]);
  });

  it("watch: an abort ends the stream quietly", async () => {
    api.on({ path: COLLECTION, answer: { events: [{ type: "ADDED", object: ks("24") }], holdOpen: true } });
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const e of kube.watch(KS, { namespace: "dev", signal: abort.signal })) {
      seen.push(e.type);
      abort.abort();
    }
    assert.deepEqual(seen, ["ADDED"]);
  });

  it("an abort before the response headers ends a request at once, also on a kept-alive connection", async () => {
    api.on({ path: ITEM, answer: { status: 200, json: ks("25") } }, { path: COLLECTION, answer: { hang: true } });
    const { kubeConfig } = loadKubeConfig({ from: "server", server: api.url, token: TOKEN });
    const patient = createKubeClient({ kubeConfig, log: quietLogger(), registry: new Registry(), clock, requestTimeoutMs: 60_000 });
    await patient.get(KS, "dev", "apps"); // the connection the list then reuses
    const abort = new AbortController();
    const started = Date.now();
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(patient.list(KS, { namespace: "dev", signal: abort.signal }), { name: "AbortError" });
    assert.ok(Date.now() - started < 5000, `the list ended ${Date.now() - started} ms after the abort`);
  });

  it("never writes the token to the log, at debug level, in retries or errors", async () => {
    const { log, lines } = capturingLogger("debug");
    const { kubeConfig } = loadKubeConfig({ from: "server", server: api.url, token: TOKEN });
    const loud = createKubeClient({ kubeConfig, log, registry: new Registry(), clock, requestTimeoutMs: 300 });
    api.on(
      { path: ITEM, answer: { status: 429, headers: { "retry-after": "1" }, text: "Too many requests, please try again later." } },
      { path: ITEM, answer: { status: 200, json: ks("25") } },
      { path: ITEM, answer: { status: 403, json: statusBody(403, "Forbidden", "forbidden") } },
    );
    await loud.get(KS, "dev", "apps");
    await loud.get(KS, "dev", "apps").catch(() => undefined);
    assert.equal(lines.length >= 4, true, `expected request and retry lines, got ${lines.length}`);
    assert.deepEqual(lines.filter((l) => JSON.stringify(l).includes(TOKEN)), []);
    assert.deepEqual(lines.map((l) => l.msg), ["kube request", "Kubernetes API call failed; retrying", "kube request", "kube request"]);
  });
});

describe("KubeClient over TLS", () => {
  let api: FakeApi;
  let caPem: string;

  before(async () => {
    const ca = await issueCa({ commonName: "fake-apiserver-ca" });
    caPem = ca.certPem;
    api = await startFakeApi({ tls: await issueServingCert(ca, { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] }) });
  });
  after(async () => {
    await api.close();
  });

  it("trusts the CA it is given", async () => {
    api.on({ path: ITEM, answer: { status: 200, json: ks("1") } });
    const { kubeConfig } = loadKubeConfig({ from: "server", server: api.url, caPem, token: TOKEN });
    const kube = createKubeClient({ kubeConfig, log: quietLogger(), registry: new Registry(), clock: fakeClock() });
    assert.equal((await kube.get(KS, "dev", "apps")).metadata.resourceVersion, "1");
    assert.equal(api.requests.at(-1)?.headers.authorization, `Bearer ${TOKEN}`);
  });

  it("keeps the connection open between requests: one TLS handshake for many calls", async () => {
    api.on({ path: ITEM, answer: { status: 200, json: ks("3") }, times: 20 });
    const { kubeConfig } = loadKubeConfig({ from: "server", server: api.url, caPem, token: TOKEN });
    const kube = createKubeClient({ kubeConfig, log: quietLogger(), registry: new Registry(), clock: fakeClock() });
    const before = api.connections();
    for (let i = 0; i < 20; i++) assert.equal((await kube.get(KS, "dev", "apps")).metadata.resourceVersion, "3");
    assert.equal(api.connections() - before, 1);
  });

  it("refuses a server whose certificate it cannot verify, as a connection error", async () => {
    const { kubeConfig } = loadKubeConfig({ from: "server", server: api.url });
    const kube = createKubeClient({ kubeConfig, log: quietLogger(), registry: new Registry(), clock: fakeClock(), retry: { maxAttempts: 2 } });
    const e = await kube.get(KS, "dev", "apps").catch((x: unknown) => x);
    assert.ok(e instanceof KubeApiError);
    assert.deepEqual([e.status, e.reason, e.attempts], [0, "ConnectionError", 2]);
    assert.match(e.message, /^get kustomizations\.kustomize\.toolkit\.fluxcd\.io dev\/apps: gave up after 2 attempts in 250ms: ConnectionError: https:\/\/127\.0\.0\.1:\d+: /);
  });

  it("skips verification only when told to", async () => {
    api.on({ path: ITEM, answer: { status: 200, json: ks("2") } });
    const { kubeConfig } = loadKubeConfig({ from: "server", server: api.url, insecureSkipTlsVerify: true });
    const kube = createKubeClient({ kubeConfig, log: quietLogger(), registry: new Registry(), clock: fakeClock() });
    assert.equal((await kube.get(KS, "dev", "apps")).metadata.resourceVersion, "2");
  });
});
