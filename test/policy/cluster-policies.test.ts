import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Registry } from "prom-client";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import type { KubeObject } from "../../src/kube/object.ts";
import { mergePolicies, parseClusterPolicy, watchClusterPolicies, withReadyCondition } from "../../src/policy/cluster-policies.ts";
import type { ClusterPolicies, ClusterPolicySource } from "../../src/policy/cluster-policies.ts";
import { policySchema } from "../../src/policy/tenancy.ts";
import type { PolicyInput } from "../../src/policy/tenancy.ts";
import { startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";

const CRD = join(import.meta.dirname, "..", "..", "deploy", "crds", "fluxgate.io_fluxgatepolicies.yaml");

const tenant = (name: string, namespaces: string[] = [name]) => ({ name, namespaces, serviceAccountName: name });

/** A FluxgatePolicy object as the API server would hand it out. */
function object(name: string, spec: unknown, createdAt = "2026-01-01T00:00:00Z", generation = 1): KubeObject {
  return { apiVersion: "fluxgate.io/v1alpha1", kind: "FluxgatePolicy", metadata: { name, generation, creationTimestamp: createdAt }, spec };
}

function source(name: string, spec: PolicyInput, createdAt?: string): ClusterPolicySource {
  const r = parseClusterPolicy(object(name, spec, createdAt));
  assert.ok("source" in r, `${name} parses`);
  return r.source;
}

const file = (input: PolicyInput = {}) => policySchema.parse(input);

describe("mergePolicies", () => {
  it("adds the objects' tenants after the file's, oldest object first", () => {
    const { policy, outcomes } = mergePolicies(file({ tenants: [tenant("platform")] }), [
      source("b-newer", { tenants: [tenant("team-b")] }, "2026-02-01T00:00:00Z"),
      source("a-older", { tenants: [tenant("team-a")] }, "2026-01-01T00:00:00Z"),
    ]);
    assert.deepEqual(policy.tenants.map((t) => t.name), ["platform", "team-a", "team-b"]);
    assert.deepEqual(outcomes, [
      { name: "a-older", generation: 1, reason: "Accepted", message: "applied: 1 tenant(s), 0 window(s)" },
      { name: "b-newer", generation: 1, reason: "Accepted", message: "applied: 1 tenant(s), 0 window(s)" },
    ]);
  });

  it("joins only the exemption lists an object writes, so the default list of Flux accounts is not added back", () => {
    const base = file({ exemptions: { serviceAccounts: ["flux-system:kustomize-controller"], groups: ["system:masters"] } });
    const { policy } = mergePolicies(base, [source("ops", { exemptions: { users: ["jane@example.com"], groups: ["system:masters", "ops"] } })]);
    assert.deepEqual(policy.exemptions, { users: ["jane@example.com"], groups: ["system:masters", "ops"], serviceAccounts: ["flux-system:kustomize-controller"], namespaces: [] });
  });

  it("lets an object's rule modes replace the file's, and refuses a second object that disagrees", () => {
    const { policy, outcomes } = mergePolicies(file({ rules: { "source-url": "enforce" } }), [
      source("onboarding", { rules: { "source-url": "audit" } }, "2026-01-01T00:00:00Z"),
      source("strict", { rules: { "source-url": "enforce", "semver-range": "audit" } }, "2026-01-02T00:00:00Z"),
    ]);
    assert.equal(policy.rules["source-url"], "audit");
    assert.equal(policy.rules["semver-range"], "enforce", "the conflicting object is applied not at all, not in part");
    assert.deepEqual(outcomes[1], { name: "strict", generation: 1, reason: "Conflict", message: 'not applied: rules.source-url is set to "audit" by FluxgatePolicy "onboarding"' });
  });

  it("refuses an object whose tenant, namespace, window or defaultTenant is already defined, naming each clash", () => {
    const base = file({ tenants: [tenant("platform", ["infra"])], defaultTenant: "platform", windows: [{ name: "freeze", kind: "deny", ranges: [{ start: "2026-12-20", end: "2027-01-04" }] }] });
    const { policy, outcomes } = mergePolicies(base, [
      source("clash", {
        tenants: [tenant("platform", ["other"]), tenant("team-a", ["infra", "apps"])],
        defaultTenant: "team-a",
        windows: [{ name: "freeze", kind: "deny", ranges: [{ start: "2026-12-24", end: "2026-12-27" }] }],
      }),
    ]);
    assert.deepEqual(policy, base);
    assert.deepEqual(outcomes, [
      {
        name: "clash",
        generation: 1,
        reason: "Conflict",
        message:
          'not applied: tenant "platform" is already defined by the configuration file; namespace "infra" of tenant "team-a" already belongs to tenant "platform" (the configuration file); defaultTenant is already set to "platform" by the configuration file; window "freeze" is already defined by the configuration file',
      },
    ]);
  });

  it("adds windows and joins break-glass users and groups; a reason is required when any source requires one", () => {
    const { policy, outcomes } = mergePolicies(file({ breakGlass: { groups: ["oncall"] } }), [
      source("windows", {
        windows: [{ name: "business-hours", kind: "allow", schedule: "0 9 * * 1-5", duration: "8h", timeZone: "Europe/Berlin" }],
        breakGlass: { users: ["jane@example.com"], groups: ["oncall"], requireReason: true },
      }),
    ]);
    assert.deepEqual(policy.windows.map((w) => [w.name, w.duration]), [["business-hours", 8 * 3600_000]]);
    assert.deepEqual(policy.breakGlass, { users: ["jane@example.com"], groups: ["oncall"], requireReason: true });
    assert.equal(outcomes[0]?.message, "applied: 0 tenant(s), 1 window(s), 2 break-glass user(s)/group(s)");
  });
});

describe("parseClusterPolicy", () => {
  it("reports what the schema's own checks find, at the spec's paths", () => {
    const r = parseClusterPolicy(object("bad", { tenants: [tenant("dev-team", ["apps"]), tenant("dev-team", ["web"])], defaultTenant: "nobody" }));
    assert.deepEqual(r, {
      outcome: {
        name: "bad",
        generation: 1,
        reason: "Invalid",
        message: 'spec.tenants[1].name: tenant "dev-team" is defined twice; spec.defaultTenant: no tenant is named "nobody"; expected one of the tenants\' names',
      },
    });
  });
});

describe("withReadyCondition", () => {
  const now = new Date("2026-03-01T10:00:00.123Z");
  it("sets Ready with the outcome, and keeps lastTransitionTime while the status stays the same", () => {
    const first = withReadyCondition(object("p", {}), { name: "p", generation: 1, reason: "Accepted", message: "applied: 0 tenant(s), 0 window(s)" }, now);
    assert.deepEqual(first?.["status"], {
      observedGeneration: 1,
      conditions: [{ type: "Ready", status: "True", reason: "Accepted", message: "applied: 0 tenant(s), 0 window(s)", observedGeneration: 1, lastTransitionTime: "2026-03-01T10:00:00Z" }],
    });
    assert.equal(withReadyCondition(first!, { name: "p", generation: 1, reason: "Accepted", message: "applied: 0 tenant(s), 0 window(s)" }, new Date()), undefined);
    const again = withReadyCondition(first!, { name: "p", generation: 1, reason: "Accepted", message: "applied: 1 tenant(s), 0 window(s)" }, new Date("2026-03-02T00:00:00Z"));
    assert.equal((again?.["status"] as { conditions: Array<{ lastTransitionTime: string }> }).conditions[0]?.lastTransitionTime, "2026-03-01T10:00:00Z");
  });

  it("writes nothing for an outcome about an older generation", () => {
    assert.equal(withReadyCondition(object("p", {}, undefined, 3), { name: "p", generation: 2, reason: "Invalid", message: "x" }, now), undefined);
  });
});

describe("watchClusterPolicies against the API emulator", () => {
  let kube: KubeEmulator;
  let client: KubeClient;
  let policies: ClusterPolicies;
  const changes: string[][] = [];

  const path = "/apis/fluxgate.io/v1alpha1/fluxgatepolicies";
  const send = async (method: string, url: string, body?: unknown) => {
    const r = await fetch(`${kube.url}${url}`, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${await r.text()}`);
  };
  const create = (name: string, spec: unknown) => send("POST", path, { apiVersion: "fluxgate.io/v1alpha1", kind: "FluxgatePolicy", metadata: { name }, spec });
  const ready = async (name: string) => {
    const r = await fetch(`${kube.url}${path}/${name}`);
    const o = (await r.json()) as { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };
    const c = o.status?.conditions?.find((x) => x.type === "Ready");
    return c === undefined ? undefined : { status: c.status, reason: c.reason, message: c.message };
  };
  const tenants = () => policies.policy().tenants.map((t) => t.name);

  before(async () => {
    kube = await startKubeEmulator({ crds: [CRD] });
    client = createKubeClient({ kubeConfig: loadKubeConfig({ from: "kubeconfig", path: await kube.kubeconfigPath() }).kubeConfig, log: quietLogger(), registry: new Registry() });
    await create("team-a", { tenants: [tenant("team-a")] });
    policies = watchClusterPolicies({ client, log: quietLogger(), base: file({ tenants: [tenant("platform")] }), onChange: (p) => changes.push(p.tenants.map((t) => t.name)) });
    await policies.whenSynced;
  });
  after(async () => {
    await policies?.stop();
    await kube?.stop();
  });

  it("merges the objects there at start and marks them Ready", async () => {
    assert.deepEqual(tenants(), ["platform", "team-a"]);
    assert.equal(policies.describe(), "1 of 1 FluxgatePolicy object(s) applied");
    await until(async () => (await ready("team-a"))?.status === "True", { what: "team-a Ready" });
    assert.deepEqual(await ready("team-a"), { status: "True", reason: "Accepted", message: "applied: 1 tenant(s), 0 window(s)" });
  });

  it("picks up a new object without a restart", async () => {
    await create("team-b", { tenants: [tenant("team-b")], rules: { "source-url": "audit" } });
    await until(() => tenants().includes("team-b"), { what: "team-b merged" });
    assert.deepEqual(tenants(), ["platform", "team-a", "team-b"]);
    assert.equal(policies.policy().rules["source-url"], "audit");
    assert.deepEqual(changes.at(-1), ["platform", "team-a", "team-b"]);
    await until(async () => (await ready("team-b"))?.reason === "Accepted", { what: "team-b Ready" });
  });

  it("leaves out an object the schema's own checks reject and says why in its status", async () => {
    await create("bad-range", { tenants: [{ ...tenant("team-c"), versions: { charts: [{ name: "podinfo", range: "six" }] } }] });
    await until(async () => (await ready("bad-range"))?.reason === "Invalid", { what: "bad-range reported" });
    assert.deepEqual(await ready("bad-range"), {
      status: "False",
      reason: "Invalid",
      message: 'spec.tenants[0].versions.charts[0].range: expected a semver range like "6.x", ">=1.2.0 <2" or "~2.9"',
    });
    assert.deepEqual(tenants(), ["platform", "team-a", "team-b"]);
  });

  it("reports a conflict with the file, and applies the object once the file no longer clashes", async () => {
    await create("platform-too", { tenants: [tenant("platform", ["infra"])] });
    await until(async () => (await ready("platform-too"))?.reason === "Conflict", { what: "conflict reported" });
    assert.deepEqual(await ready("platform-too"), { status: "False", reason: "Conflict", message: 'not applied: tenant "platform" is already defined by the configuration file' });
    policies.setBase(file({}));
    // Objects are merged oldest first, by name within a second (creationTimestamp's resolution).
    assert.deepEqual(tenants().sort(), ["platform", "team-a", "team-b"]);
    await until(async () => (await ready("platform-too"))?.reason === "Accepted", { what: "platform-too accepted" });
  });

  it("drops a deleted object's tenants", async () => {
    await send("DELETE", `${path}/team-a`);
    await until(() => !tenants().includes("team-a"), { what: "team-a removed" });
    assert.deepEqual(tenants().sort(), ["platform", "team-b"]);
    assert.deepEqual(policies.outcomes().map((o) => [o.name, o.reason]), [["bad-range", "Invalid"], ["platform-too", "Accepted"], ["team-b", "Accepted"]]);
  });
});

describe("watchClusterPolicies without the CRD", () => {
  it("is synced with the file's policy alone, and picks the objects up once the CRD is installed", async () => {
    await using kube = await startKubeEmulator();
    const client = createKubeClient({ kubeConfig: loadKubeConfig({ from: "kubeconfig", path: await kube.kubeconfigPath() }).kubeConfig, log: quietLogger(), registry: new Registry() });
    const policies = watchClusterPolicies({ client, log: quietLogger(), base: file({ tenants: [tenant("platform")] }) });
    try {
      await policies.whenSynced;
      assert.equal(policies.synced(), true);
      assert.equal(policies.describe(), "FluxgatePolicy CRD not installed: the configuration file's policy only");
      await kube.loadCrds([CRD]);
      const r = await fetch(`${kube.url}/apis/fluxgate.io/v1alpha1/fluxgatepolicies`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ apiVersion: "fluxgate.io/v1alpha1", kind: "FluxgatePolicy", metadata: { name: "late" }, spec: { tenants: [tenant("late")] } }),
      });
      assert.equal(r.status, 201);
      await until(() => policies.policy().tenants.some((t) => t.name === "late"), { timeoutMs: 10_000, what: "the informer's relist after the CRD appeared" });
      assert.equal(policies.describe(), "1 of 1 FluxgatePolicy object(s) applied");
    } finally {
      await policies.stop();
    }
  });
});
