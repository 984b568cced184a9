import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type KubeEmulator, startKubeEmulator } from "./emulator.ts";
import { KUSTOMIZATION_CRD, kubeClient, ksPath, kustomization, namespace } from "./kube-fetch.ts";

let kube: KubeEmulator;
let api: ReturnType<typeof kubeClient>;

before(async () => {
  kube = await startKubeEmulator({ crds: [KUSTOMIZATION_CRD], tokens: { "dev-token": { username: "dev", groups: ["dev-team"] } } });
  api = kubeClient(kube.url);
  await api.post("/api/v1/namespaces", namespace("f"));
  await api.post(ksPath("f"), kustomization("apps", "f"));
});
after(() => kube.stop());

describe("fault injection", () => {
  it("answers the next N matching requests with 429 as a Status body with Retry-After and details.retryAfterSeconds", async () => {
    kube.faults.inject({ verb: "patch", resource: "kustomizations", count: 2, response: { status: 429, retryAfterSeconds: 2 } });
    const other = await api.get(ksPath("f", "apps"));
    assert.equal(other.status, 200, "a get does not match a patch rule");
    for (let i = 0; i < 2; i++) {
      const r = await api.patch(ksPath("f", "apps"), { metadata: { annotations: { a: String(i) } } }, "application/merge-patch+json");
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("retry-after"), "2");
      assert.deepEqual(r.body, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Too many requests, please try again later.",
        reason: "TooManyRequests",
        details: { retryAfterSeconds: 2 },
        code: 429,
      });
    }
    const third = await api.patch(ksPath("f", "apps"), { metadata: { annotations: { a: "ok" } } }, "application/merge-patch+json");
    assert.equal(third.status, 200);
    assert.deepEqual(kube.faults.pending(), []);
  });

  it("answers 429 in API Priority and Fairness' plain-text form", async () => {
    kube.faults.inject({ verb: "get", name: "apps", count: 1, response: { status: 429, plainText: true, retryAfterSeconds: 1 } });
    const r = await api.get(ksPath("f", "apps"));
    assert.equal(r.status, 429);
    assert.equal(r.text, "Too many requests, please try again later.\n");
    assert.equal(r.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(r.headers.get("retry-after"), "1");
  });

  for (const [code, reason] of [
    [500, "InternalError"],
    [503, "ServiceUnavailable"],
    [504, "Timeout"],
  ] as const) {
    it(`answers ${code} ${reason} as a Status`, async () => {
      kube.faults.inject({ resource: "kustomizations", namespace: "f", count: 1, response: { status: code } });
      const r = await api.get(ksPath("f"));
      assert.equal(r.status, code);
      assert.equal(r.body.reason, reason);
      assert.equal(r.body.code, code);
      assert.equal((await api.get(ksPath("f"))).status, 200);
    });
  }

  it("hangs a request for hangMs before handling it", async () => {
    kube.faults.inject({ verb: "list", count: 1, response: { hangMs: 300 } });
    const started = Date.now();
    const r = await api.get(ksPath("f"));
    assert.equal(r.status, 200);
    assert.ok(Date.now() - started >= 290, `took ${Date.now() - started} ms`);
  });

  it("lets a client give up on a hanging request", async () => {
    kube.faults.inject({ verb: "get", count: 1, response: { hangMs: 5000 } });
    await assert.rejects(fetch(`${kube.url}${ksPath("f", "apps")}`, { signal: AbortSignal.timeout(100) }), (e: Error) => e.name === "TimeoutError" || e.name === "AbortError");
    kube.faults.clear();
  });

  it("fails watches too", async () => {
    kube.faults.inject({ verb: "watch", count: 1, response: { status: 503 } });
    const r = await api.get(`${ksPath("f")}?watch=true`);
    assert.equal(r.status, 503);
  });
});

describe("request log", () => {
  it("records method, path, query, verb, resource, namespace, name and status of every request", async () => {
    kube.requests.length = 0;
    await api.get(`${ksPath("f")}?limit=5`);
    await api.get(ksPath("f", "missing"));
    await api.patch(`${ksPath("f", "apps")}/status`, { status: {} }, "application/merge-patch+json");
    await api.get("/apis");
    assert.deepEqual(
      kube.requests.map((r) => ({ ...r })),
      [
        { method: "GET", path: ksPath("f"), query: { limit: "5" }, verb: "list", status: 200, user: "system:admin", resource: "kustomizations", namespace: "f" },
        { method: "GET", path: ksPath("f", "missing"), query: {}, verb: "get", status: 404, user: "system:admin", resource: "kustomizations", namespace: "f", name: "missing" },
        {
          method: "PATCH",
          path: `${ksPath("f", "apps")}/status`,
          query: {},
          verb: "patch",
          status: 200,
          user: "system:admin",
          contentType: "application/merge-patch+json",
          resource: "kustomizations",
          subresource: "status",
          namespace: "f",
          name: "apps",
        },
        { method: "GET", path: "/apis", query: {}, verb: "get", status: 200, user: "system:admin" },
      ],
    );
  });
});

describe("users", () => {
  it("acts as system:admin without a token, as the token's user with a known token, as the impersonated user with Impersonate-User", async () => {
    kube.requests.length = 0;
    await api.get("/api/v1/namespaces");
    await api.get("/api/v1/namespaces", { Authorization: "Bearer unknown" });
    await api.get("/api/v1/namespaces", { Authorization: "Bearer dev-token" });
    await api.get("/api/v1/namespaces", { "Impersonate-User": "system:serviceaccount:f:flux" });
    assert.deepEqual(
      kube.requests.map((r) => r.user),
      ["system:admin", "system:admin", "dev", "system:serviceaccount:f:flux"],
    );
  });
});
