/**
 * Fuzzing the admission routes with the real rules: random bytes, truncated and bit-flipped reviews, wrong types
 * anywhere, huge and deeply nested objects must only ever be answered 200 (a well-formed AdmissionReview response
 * for the request's uid) or 400 (a reason), never a 500 or an unhandled rejection. Every patch sent must apply to
 * the object and be idempotent: the patched object sent again gets no patch.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fastJsonPatch from "fast-json-patch";
import { evaluate } from "../../src/admission/evaluate.ts";
import { parseManifests } from "../../src/admission/manifests.ts";
import { admissionApp } from "../../src/admission/route.ts";
import { FLUX_KINDS } from "../../src/flux/kinds.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { policySchema } from "../../src/policy/tenancy.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { prng } from "../support/prng.ts";
import type { Rng } from "../support/prng.ts";

const RUNS = Number(process.env.FLUXGATE_FUZZ_RUNS ?? "10000");
const EXAMPLES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "flux", "examples");


/** Every object of the example repositories, Flux or not, as seeds. */
const SEED_OBJECTS: Array<Record<string, unknown>> = readdirSync(EXAMPLES, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(".yaml"))
  .flatMap((f) => parseManifests(readFileSync(join(EXAMPLES, f), "utf8"), f).map((d) => d.value))
  .filter((v): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as Record<string, unknown>)["kind"] === "string");

/** Every rule on, some in audit, tenants owning the example namespaces. */
const POLICY = policySchema.parse({
  rules: { "semver-range": "audit" },
  exemptions: { namespaces: ["kube-system"] },
  tenants: [
    { name: "dev-team", namespaces: ["apps", "dev-team"], serviceAccountName: "dev-team", sources: { urls: ["https://github.com/fluxcd/*"] }, crossNamespaceRefs: [{ namespace: "flux-system", kind: "HelmRepository" }] },
    { name: "podinfo", namespaces: ["podinfo"], serviceAccountName: "podinfo", sources: { urls: ["oci://ghcr.io/stefanprodan/charts/*"] }, versions: { charts: [{ name: "podinfo", range: "6.x" }] }, rules: { "source-url": "audit" } },
  ],
  defaultTenant: "dev-team",
});

const WEIRD: unknown[] = [null, 0, -1, 1.5, 1e308, "", "x".repeat(2000), [], {}, true, false, "__proto__", { __proto__: { polluted: 1 } }, ["a", 1, null], "../..", "~1/~0", "\u0000\uffff", { namespace: "flux-system", name: "x", kind: "HelmRepository" }];
const KEYS = ["__proto__", "constructor", "prototype", "namespace", "sourceRef", "serviceAccountName", "kubeConfig", "url", "targetNamespace", "dependsOn", "", "a/b", "~"];

function weirdValue(rng: Rng, depth = 0): unknown {
  const r = rng.int(10);
  if (r < 6 || depth > 3) return rng.pick(WEIRD);
  if (r < 8) return Array.from({ length: rng.int(4) }, () => weirdValue(rng, depth + 1));
  return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.pick(KEYS), weirdValue(rng, depth + 1)]));
}

/** Changes values, drops keys and adds odd ones anywhere in `v`. */
function scramble(rng: Rng, v: unknown, rate: number, depth = 0): unknown {
  if (rng.next() < rate) return weirdValue(rng);
  if (Array.isArray(v)) return depth > 12 ? [] : v.map((x) => scramble(rng, x, rate, depth + 1));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (rng.next() > rate / 2) out[k] = scramble(rng, x, rate, depth + 1);
    if (rng.next() < rate) Object.defineProperty(out, rng.pick(KEYS), { value: weirdValue(rng), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

function review(rng: Rng, uid: string): Record<string, unknown> {
  const object = structuredClone(rng.pick(SEED_OBJECTS));
  const meta = (object["metadata"] ??= {}) as Record<string, unknown>;
  if (rng.next() < 0.3) meta["namespace"] = rng.pick(["apps", "dev-team", "podinfo", "flux-system", "kube-system", "other"]);
  const [group, version] = String(object["apiVersion"] ?? "v1").includes("/") ? String(object["apiVersion"]).split("/") : ["", String(object["apiVersion"] ?? "v1")];
  const fluxKind = rng.next() < 0.2 ? rng.pick(FLUX_KINDS) : undefined;
  if (fluxKind !== undefined) {
    object["apiVersion"] = fluxKind.apiVersion;
    object["kind"] = fluxKind.kind;
  }
  const operation = rng.pick(["CREATE", "CREATE", "UPDATE", "UPDATE", "DELETE", "CONNECT"]);
  const old = operation === "CREATE" ? null : rng.next() < 0.5 ? structuredClone(object) : scramble(rng, structuredClone(object), 0.05);
  return {
    apiVersion: rng.next() < 0.9 ? "admission.k8s.io/v1" : "admission.k8s.io/v1beta1",
    kind: "AdmissionReview",
    request: {
      uid,
      kind: fluxKind === undefined ? { group, version, kind: object["kind"] } : { group: fluxKind.group, version: fluxKind.version, kind: fluxKind.kind },
      resource: { group, version, resource: "things" },
      ...(rng.next() < 0.05 ? { subResource: "status" } : {}),
      name: meta["name"],
      namespace: meta["namespace"] ?? "apps",
      operation,
      userInfo: { username: rng.pick(["alice", "system:serviceaccount:apps:dev-team", "system:serviceaccount:flux-system:kustomize-controller"]), groups: ["system:authenticated"] },
      object: operation === "DELETE" ? null : object,
      oldObject: old,
      dryRun: rng.next() < 0.3,
    },
  };
}

/** A spec with `n` keys, or with `n` cross-namespace dependsOn entries (each a violation for a tenant). */
function large(shape: "keys" | "list", n: number): Record<string, unknown> {
  return shape === "keys" ? Object.fromEntries(Array.from({ length: n }, (_, j) => [`k${j}`, j])) : { dependsOn: Array.from({ length: n }, (_, j) => ({ name: `n${j}`, namespace: "flux-system" })) };
}

/** One fuzzed body, damaged in one of several ways (or not at all). */
function body(rng: Rng, i: number): { bytes: Uint8Array } {
  const uid = `fuzz-${i}`;
  const mode = rng.int(1000);
  const text = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  if (mode < 50) return { bytes: new Uint8Array(Array.from({ length: rng.int(512) }, () => rng.int(256))) };
  const base = review(rng, uid);
  if (mode < 120) {
    const b = text(base);
    return { bytes: b.slice(0, rng.int(b.length)) };
  }
  if (mode < 170) {
    const b = text(base);
    for (let k = 0; k < 1 + rng.int(6); k++) b[rng.int(b.length)] = rng.int(256);
    return { bytes: b };
  }
  if (mode < 172) {
    // Large (0.2%): many keys or a long list in the spec; the "huge" test below goes up to the body limit.
    const request = base["request"] as Record<string, unknown>;
    const object = request["object"] as Record<string, unknown> | null;
    if (object !== null) object["spec"] = large(rng.next() < 0.5 ? "keys" : "list", 5_000);
    return { bytes: text(base) };
  }
  if (mode < 200) {
    // Deep: inside the spec, around the accepted limit.
    const request = base["request"] as Record<string, unknown>;
    const object = request["object"] as Record<string, unknown> | null;
    if (object === null) return { bytes: text(base) };
    // Built as text: JSON.stringify itself overflows on the deepest.
    const depth = rng.pick([50, 200, 252, 253, 300, 100_000]);
    object["spec"] = { values: "DEEP" };
    return { bytes: new TextEncoder().encode(JSON.stringify(base).replace('"DEEP"', `${'{"n":'.repeat(depth)}"bottom"${"}".repeat(depth)}`)) };
  }
  if (mode < 600) return { bytes: text(scramble(rng, base, 0.02)) };
  if (mode < 750) return { bytes: text({ ...base, request: { ...(base["request"] as object), object: scramble(rng, (base["request"] as Record<string, unknown>)["object"], 0.1) } }) };
  return { bytes: text(base) };
}

type AnyReview = { apiVersion?: string; kind?: string; response?: Record<string, unknown> };

describe("fuzzing the admission webhook", () => {
  it(`answers ${RUNS} fuzzed AdmissionReview bodies with only 200 or 400, and patches that apply and are idempotent`, async () => {
    const rng = prng(0xad1155);
    const app = admissionApp({ log: quietLogger(), registry: createMetrics().registry, evaluate: (input, phase) => evaluate(input, POLICY, phase), bodyLimit: () => 3 * 1024 * 1024, now: () => new Date("2026-11-25T10:00:00Z") });
    const call = async (path: string, bytes: Uint8Array) => {
      const r = await app.handle(new Request(`http://fluxgate${path}?timeout=10s`, { method: "POST", headers: { "content-type": "application/json" }, body: new Uint8Array(bytes) }));
      return { status: r.status, text: await r.text() };
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    const counts = { 200: 0, 400: 0, denied: 0, patched: 0 };
    try {
      for (let i = 0; i < RUNS; i++) {
        const { bytes } = body(rng, i);
        const path = rng.next() < 0.5 ? "/validate" : "/mutate";
        const r = await call(path, bytes);
        const where = `run ${i} ${path}: ${Buffer.from(bytes.slice(0, 300)).toString("utf8")}`;
        assert.ok(r.status === 200 || r.status === 400, `${where}\n→ ${r.status} ${r.text.slice(0, 500)}`);
        counts[r.status as 200 | 400]++;
        const answer = JSON.parse(r.text) as AnyReview & { reason?: string };
        if (r.status === 400) {
          assert.equal(answer.reason, "MalformedReview", where);
          continue;
        }
        assert.equal(answer.kind, "AdmissionReview", where);
        const res = answer.response ?? {};
        // Scrambling may have replaced the uid; the answer echoes whatever was sent.
        const sent = (JSON.parse(new TextDecoder().decode(bytes)) as { request: { uid: string } }).request.uid;
        assert.equal(res["uid"], sent, where);
        assert.equal(typeof res["allowed"], "boolean", where);
        for (const w of (res["warnings"] as string[] | undefined) ?? []) assert.ok(typeof w === "string" && w.length <= 256, where);
        if (res["allowed"] === false) {
          counts.denied++;
          assert.equal(path, "/validate", `${where}: /mutate never denies`);
          const status = res["status"] as { code: number; reason: string; message: string };
          assert.deepEqual([status.code, status.reason, typeof status.message], [403, "Forbidden", "string"], where);
        }
        if (res["patch"] !== undefined) {
          counts.patched++;
          assert.equal(path, "/mutate", where);
          assert.equal(res["patchType"], "JSONPatch", where);
          const request = (JSON.parse(new TextDecoder().decode(bytes)) as { request: Record<string, unknown> }).request;
          const ops = JSON.parse(Buffer.from(String(res["patch"]), "base64").toString("utf8")) as fastJsonPatch.Operation[];
          assert.ok(ops.length > 0, where);
          const patched = fastJsonPatch.applyPatch(structuredClone(request["object"]), ops, true, false).newDocument;
          const again = await call("/mutate", new TextEncoder().encode(JSON.stringify({ ...answer, apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { ...request, uid: `${sent}-again`, object: patched } })));
          assert.equal(again.status, 200, where);
          const second = (JSON.parse(again.text) as AnyReview).response ?? {};
          assert.equal(second["patch"], undefined, `${where}: reinvocation on the patched object patched again: ${Buffer.from(String(second["patch"]), "base64").toString("utf8")}`);
        }
      }
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    // The mix exercised every outcome, not just rejections.
    assert.ok(counts[200] > RUNS / 3 && counts[400] > RUNS / 10 && counts.denied > 50 && counts.patched > 20, JSON.stringify(counts));
  });

  it("answers huge reviews up to the body limit, summing up tens of thousands of violations in one message", async () => {
    const app = admissionApp({ log: quietLogger(), registry: createMetrics().registry, evaluate: (input, phase) => evaluate(input, POLICY, phase), bodyLimit: () => 3 * 1024 * 1024 });
    const object = { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "big", namespace: "apps" }, spec: {} as Record<string, unknown> };
    const send = async (path: string, spec: Record<string, unknown>) => {
      object.spec = { serviceAccountName: "dev-team", sourceRef: { kind: "GitRepository", name: "apps" }, ...spec };
      const text = JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: { uid: "huge", kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" }, namespace: "apps", operation: "CREATE", userInfo: { username: "alice" }, object, dryRun: false },
      });
      const r = await app.handle(new Request(`http://fluxgate${path}`, { method: "POST", body: text }));
      return { size: text.length, status: r.status, body: (await r.json()) as { response?: { allowed: boolean; status?: { message: string } }; reason?: string } };
    };
    const keys = await send("/validate", large("keys", 40_000));
    assert.deepEqual([keys.status, keys.body.response?.allowed], [200, true]);
    const list = await send("/validate", large("list", 60_000));
    assert.ok(list.size > 2.5 * 1024 * 1024 && list.size < 3 * 1024 * 1024, `body of ${list.size} bytes`);
    assert.equal(list.status, 200);
    assert.equal(list.body.response?.allowed, false);
    assert.match(list.body.response?.status?.message ?? "", /^Kustomization apps\/big: spec\.dependsOn\[0\]\.namespace: .*; and 59980 more violations$/);
    assert.equal((await send("/mutate", large("list", 60_000))).status, 200);
    const over = await send("/validate", large("list", 80_000));
    assert.deepEqual([over.size > 3 * 1024 * 1024, over.status, over.body.reason], [true, 413, "RequestEntityTooLarge"]);
  });
});
