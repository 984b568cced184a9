/** Leader election on a coordination.k8s.io/v1 Lease against the API emulator, with a clock the test moves. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { createLeaseLock, LEASE, microTime } from "../../src/apply/lease.ts";
import type { LeaseLock } from "../../src/apply/lease.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import type { ResourceType } from "../../src/kube/resource.ts";
import { startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { manualClock } from "./manual-clock.ts";
import type { ManualClock } from "./manual-clock.ts";

const NAMESPACE: ResourceType = { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false };
const START = "2026-06-01T21:00:00Z";

describe("the Lease lock", () => {
  let emulator: KubeEmulator;
  let kube: KubeClient;
  let leases = 0;

  before(async () => {
    emulator = await startKubeEmulator();
    kube = createKubeClient({ kubeConfig: loadKubeConfig({ from: "kubeconfig", path: await emulator.kubeconfigPath() }).kubeConfig, log: quietLogger(), registry: new Registry() });
    await kube.create(NAMESPACE, { apiVersion: "v1", kind: "Namespace", metadata: { name: "fluxgate-system" } });
  });
  after(async () => {
    await emulator.stop();
  });

  /** Two replicas on one lease (a fresh one per test) and one clock. */
  const replicas = (clock: ManualClock): [LeaseLock, LeaseLock, string] => {
    const name = `freeze-${++leases}`;
    const lock = (identity: string) => createLeaseLock({ client: kube, log: quietLogger(), namespace: "fluxgate-system", name, identity, durationMs: 30_000, clock });
    return [lock("replica-a"), lock("replica-b"), name];
  };
  type LeaseSpec = { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
  const spec = async (name: string) => (await kube.get(LEASE, "fluxgate-system", name)).spec as LeaseSpec;

  it("creates the lease, renews it, and keeps the other replica out while it is fresh", async () => {
    const clock = manualClock(START);
    const [a, b, name] = replicas(clock);
    assert.equal(await a.tryAcquireOrRenew(), true);
    assert.deepEqual(await spec(name), { holderIdentity: "replica-a", leaseDurationSeconds: 30, acquireTime: "2026-06-01T21:00:00.000000Z", renewTime: "2026-06-01T21:00:00.000000Z", leaseTransitions: 0 });
    assert.equal(await b.tryAcquireOrRenew(), false);
    clock.advance(10_000);
    assert.equal(await a.tryAcquireOrRenew(), true);
    assert.equal((await spec(name)).renewTime, "2026-06-01T21:00:10.000000Z");
    clock.advance(25_000);
    assert.equal(await b.tryAcquireOrRenew(), false, "renewed 25 s ago by the holder: still fresh");
    assert.deepEqual([a.isLeader(), b.isLeader()], [false, false], "a's renew deadline (20 s) has passed without a renewal");
  });

  it("takes over a lease its holder stopped renewing, a whole lease duration after it last saw it change", async () => {
    const clock = manualClock(START);
    const [a, b, name] = replicas(clock);
    assert.equal(await a.tryAcquireOrRenew(), true);
    clock.advance(1_000);
    assert.equal(await b.tryAcquireOrRenew(), false, "b first sees the record now");
    clock.advance(29_999);
    assert.equal(await b.tryAcquireOrRenew(), false);
    clock.advance(1);
    assert.equal(await b.tryAcquireOrRenew(), true);
    assert.deepEqual(await spec(name), { holderIdentity: "replica-b", leaseDurationSeconds: 30, acquireTime: microTime(clock.now()), renewTime: microTime(clock.now()), leaseTransitions: 1 });
    assert.equal(await a.tryAcquireOrRenew(), false, "a finds b holding it");
    assert.deepEqual([a.isLeader(), b.isLeader()], [false, true]);
  });

  it("lets the other replica in at once after a release", async () => {
    const clock = manualClock(START);
    const [a, b, name] = replicas(clock);
    assert.equal(await a.tryAcquireOrRenew(), true);
    await a.release();
    assert.equal(a.isLeader(), false);
    assert.deepEqual(await spec(name), { leaseDurationSeconds: 1, acquireTime: "2026-06-01T21:00:00.000000Z", renewTime: "2026-06-01T21:00:00.000000Z", leaseTransitions: 0 });
    assert.equal(await b.tryAcquireOrRenew(), true);
    assert.equal((await spec(name)).holderIdentity, "replica-b");
  });

  it("gives the lease to exactly one of two replicas racing for it", async () => {
    const clock = manualClock(START);
    const [a, b, name] = replicas(clock);
    const created = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    assert.deepEqual(created.filter(Boolean), [true]);
    const holder = (await spec(name)).holderIdentity;
    await (holder === "replica-a" ? a : b).release();
    const taken = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    assert.deepEqual(taken.filter(Boolean), [true]);
    assert.equal([a, b].filter((l) => l.isLeader()).length, 1);
  });
});
