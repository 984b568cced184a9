/**
 * The freeze controller against the API emulator with a clock the test moves: it suspends matching Kustomizations
 * and HelmReleases when a freeze window starts and resumes exactly those when it ends, across a restart, leaving
 * alone objects a person suspended, and with two replicas only one acts.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { freezePatch, plannedFreezeAction, startFreezeController } from "../../src/apply/freeze.ts";
import type { FreezeController } from "../../src/apply/freeze.ts";
import { LEASE } from "../../src/apply/lease.ts";
import { fluxKind } from "../../src/flux/kinds.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import type { KubeObject } from "../../src/kube/object.ts";
import type { ResourceType } from "../../src/kube/resource.ts";
import { windowMetrics } from "../../src/policy/window-metrics.ts";
import { windowPolicySchema } from "../../src/policy/windows.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";
import { manualClock } from "./manual-clock.ts";
import type { ManualClock } from "./manual-clock.ts";

const KS = fluxKind("Kustomization");
const HR = fluxKind("HelmRelease");
const NAMESPACE: ResourceType = { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false };

/** Every night 22:00-06:00 UTC, Kustomizations and HelmReleases in namespaces apps-* are frozen. */
const policy = windowPolicySchema.parse({
  windows: [{ name: "nightly-freeze", kind: "deny", schedule: "0 22 * * *", duration: "8h", match: { namespaces: ["apps-*"] }, freeze: true }],
});

const ks = (namespace: string, name: string, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace },
  spec: { interval: "10m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "repo" }, ...spec },
});
const hr = (namespace: string, name: string): KubeObject => ({
  apiVersion: "helm.toolkit.fluxcd.io/v2",
  kind: "HelmRelease",
  metadata: { name, namespace },
  spec: { interval: "10m", chart: { spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo" } } } },
});

/** What the test looks at: suspend, our annotation and the reconcile request of an object. */
const state = (o: KubeObject) => ({
  suspend: (o.spec as { suspend?: boolean }).suspend,
  by: o.metadata.annotations?.["fluxgate.io/suspended-by-window"],
  requestedAt: o.metadata.annotations?.["reconcile.fluxcd.io/requestedAt"],
});

describe("the freeze controller", () => {
  let emulator: KubeEmulator;
  let kube: KubeClient;
  let tests = 0;
  const running: FreezeController[] = [];

  before(async () => {
    emulator = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
    kube = createKubeClient({ kubeConfig: loadKubeConfig({ from: "kubeconfig", path: await emulator.kubeconfigPath() }).kubeConfig, log: quietLogger(), registry: new Registry() });
    await kube.create(NAMESPACE, { apiVersion: "v1", kind: "Namespace", metadata: { name: "fluxgate-system" } });
  });
  after(async () => {
    await Promise.all(running.map((c) => c.stop()));
    await emulator.stop();
  });

  /** A namespace matching the window and one that does not, fresh per test (the controller sees every namespace). */
  const namespaces = async (): Promise<[string, string]> => {
    const n = ++tests;
    for (const name of [`apps-${n}`, `ops-${n}`]) await kube.create(NAMESPACE, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
    return [`apps-${n}`, `ops-${n}`];
  };
  const start = (clock: ManualClock, identity: string, registry = new Registry()): FreezeController => {
    const c = startFreezeController({
      client: kube,
      log: quietLogger(),
      registry,
      policy: () => policy,
      clock,
      leaseNamespace: "fluxgate-system",
      leaseName: `freeze-${tests}`,
      identity,
      resyncMs: 60_000,
    });
    running.push(c);
    return c;
  };
  const stop = async (c: FreezeController) => {
    await c.stop();
    running.splice(running.indexOf(c), 1);
  };
  const get = async (type: ResourceType, ns: string, name: string) => state(await kube.get(type, ns, name));
  const writesTo = (ns: string) => emulator.requests.filter((r) => r.namespace === ns && (r.verb === "patch" || r.verb === "update")).map((r) => `${r.verb} ${r.resource}/${r.name} ${r.status}`);

  it("suspends at the start, survives a restart without repeating work, and resumes only what it suspended", async () => {
    const [apps, ops] = await namespaces();
    await kube.create(KS, ks(apps, "web"));
    await kube.create(HR, hr(apps, "podinfo"));
    await kube.create(KS, ks(apps, "paused", { suspend: true })); // a person suspended it
    await kube.create(KS, ks(ops, "infra"));
    const clock = manualClock("2026-06-01T21:00:00Z");
    const registry = new Registry();

    const first = start(clock, "replica-a", registry);
    await until(() => first.passes() === 1, { what: "the first pass" });
    assert.deepEqual(first.lastPass()?.actions, [], "before the window nothing is frozen");
    assert.equal(first.lastPass()?.nextTransition?.toISOString(), "2026-06-01T22:00:00.000Z");

    clock.set("2026-06-01T22:00:00Z");
    await until(() => first.passes() === 2, { what: "the pass at the window start" });
    assert.deepEqual(first.lastPass()?.actions, [
      { action: "suspend", kind: "Kustomization", namespace: apps, name: "web", window: "nightly-freeze" },
      { action: "suspend", kind: "HelmRelease", namespace: apps, name: "podinfo", window: "nightly-freeze" },
    ]);
    assert.deepEqual(await get(KS, apps, "web"), { suspend: true, by: "nightly-freeze", requestedAt: undefined });
    assert.deepEqual(await get(HR, apps, "podinfo"), { suspend: true, by: "nightly-freeze", requestedAt: undefined });
    assert.deepEqual(await get(KS, apps, "paused"), { suspend: true, by: undefined, requestedAt: undefined });
    assert.deepEqual(await get(KS, ops, "infra"), { suspend: undefined, by: undefined, requestedAt: undefined });

    // Restart: the replica goes away mid-freeze; an object is created meanwhile; a new replica starts.
    await stop(first);
    await kube.create(KS, ks(apps, "late"));
    clock.set("2026-06-01T23:00:00Z");
    const second = start(clock, "replica-b", registry);
    await until(() => second.passes() === 1, { what: "the restarted controller's first pass" });
    assert.deepEqual(second.lastPass()?.actions, [{ action: "suspend", kind: "Kustomization", namespace: apps, name: "late", window: "nightly-freeze" }], "nothing frozen before is written again");

    // Break-glass resumed podinfo during the freeze (keeping the annotation): later passes leave it running.
    await kube.patch(HR, apps, "podinfo", { type: "merge", body: { spec: { suspend: false } } });
    clock.advance(60_000);
    await until(() => second.passes() === 2, { what: "the resync pass" });
    assert.deepEqual(second.lastPass()?.actions, []);

    clock.set("2026-06-02T06:00:00Z");
    await until(() => second.passes() === 3, { what: "the pass at the window end" });
    assert.deepEqual(second.lastPass()?.actions, [
      { action: "resume", kind: "Kustomization", namespace: apps, name: "late", window: "nightly-freeze" },
      { action: "resume", kind: "Kustomization", namespace: apps, name: "web", window: "nightly-freeze" },
      { action: "resume", kind: "HelmRelease", namespace: apps, name: "podinfo", window: "nightly-freeze" },
    ]);
    for (const [type, name] of [[KS, "web"], [KS, "late"], [HR, "podinfo"]] as const) {
      assert.deepEqual(await get(type, apps, name), { suspend: false, by: undefined, requestedAt: "2026-06-02T06:00:00Z" }, name);
    }
    assert.deepEqual(await get(KS, apps, "paused"), { suspend: true, by: undefined, requestedAt: undefined }, "the person's suspension stays");
    assert.deepEqual(writesTo(ops), []);
    assert.equal(writesTo(apps).filter((w) => w.includes("/paused ")).length, 0);
    assert.equal(second.lastPass()?.nextTransition?.toISOString(), "2026-06-02T22:00:00.000Z");
    const actions = (await windowMetrics(registry).freezeActions.get()).values.map((v) => [v.labels.action, v.labels.window, v.value]);
    assert.deepEqual(actions, [["suspend", "nightly-freeze", 3], ["resume", "nightly-freeze", 3]]);
    await stop(second);
  });

  it("lets only the lease holder act; the other replica takes over when it stops", async () => {
    const [apps] = await namespaces();
    await kube.create(KS, ks(apps, "web"));
    const clock = manualClock("2026-06-01T21:00:00Z");
    const a = start(clock, "replica-a");
    const b = start(clock, "replica-b");
    await until(() => a.passes() + b.passes() === 1, { what: "one replica's first pass" });
    const [leader, follower] = a.passes() === 1 ? [a, b] : [b, a];
    assert.deepEqual([leader.isLeader(), follower.isLeader()], [true, false]);

    clock.set("2026-06-01T22:00:00Z");
    await until(() => leader.passes() === 2, { what: "the leader's pass at the window start" });
    assert.equal(follower.passes(), 0);
    assert.deepEqual(writesTo(apps), [`patch kustomizations/web 200`]);

    await stop(leader);
    const holder = (await kube.get(LEASE, "fluxgate-system", `freeze-${tests}`)).spec as { holderIdentity?: string };
    assert.equal(holder.holderIdentity, undefined, "the stopped replica released the lease");
    clock.advance(10_000); // the follower's next look at the lease
    await until(() => follower.passes() === 1, { what: "the follower taking over" });
    assert.deepEqual(follower.lastPass()?.actions, [], "the new leader finds the freeze already in place");

    clock.set("2026-06-02T06:00:00Z");
    await until(() => follower.passes() === 2, { what: "the new leader's pass at the window end" });
    assert.deepEqual(await get(KS, apps, "web"), { suspend: false, by: undefined, requestedAt: "2026-06-02T06:00:00Z" });
    assert.deepEqual(writesTo(apps), [`patch kustomizations/web 200`, `patch kustomizations/web 200`]);
  });

  it("writes conditionally on the version it judged, so a suspension made in between is not overwritten", async () => {
    const [apps] = await namespaces();
    const listed = await kube.create(KS, ks(apps, "web"));
    // A person suspends it after the controller listed it: the conditional patch fails and the fresh object is left alone.
    await kube.patch(KS, apps, "web", { type: "merge", body: { spec: { suspend: true } } });
    const decision = { open: false, reason: "deny" as const, deciding: ["nightly-freeze"], freezeBy: "nightly-freeze" };
    assert.deepEqual(plannedFreezeAction(listed, decision), { action: "suspend", window: "nightly-freeze" });
    const stale = freezePatch("suspend", "nightly-freeze", listed, new Date("2026-06-01T22:00:00Z"));
    const e = await kube.patch(KS, apps, "web", { type: "merge", body: stale }).catch((x: unknown) => x);
    assert.equal((e as { status?: number }).status, 409);
    const fresh = await kube.get(KS, apps, "web");
    assert.equal(plannedFreezeAction(fresh, decision), undefined);
  });
});
