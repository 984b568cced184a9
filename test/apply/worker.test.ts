/**
 * The apply worker end to end against the API emulator: events published as the receiver publishes them, routed,
 * held, coalesced and patched, on the in-process bus and on a real nats-server. A fake Flux controller
 * (`test/support/fake-flux.ts`) handles requests where a test needs Flux to make progress.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { HoldUntil } from "../../src/apply/applier.ts";
import { REQUESTED_FOR } from "../../src/apply/reconcile-state.ts";
import { triggerSubject } from "../../src/events/trigger.ts";
import type { Trigger } from "../../src/events/trigger.ts";
import { fluxKind } from "../../src/flux/kinds.ts";
import { REQUESTED_AT } from "../../src/kube/reconcile-request.ts";
import { startFakeFlux } from "../support/fake-flux.ts";
import { runtimeCommand } from "../support/runtime-command.ts";
import { until } from "../support/until.ts";
import { gitEvent, gitRepository, receiver } from "./flux-objects.ts";
import { metricValue, publishEvent, startCluster, testBus, worker } from "./worker-harness.ts";
import type { BusKind, Cluster } from "./worker-harness.ts";

/** These tests wait for real timers and processes; Bun's default of 5 s per test is too tight on a busy machine. */
const LONG = { timeout: 30_000 };
const ROOT = join(import.meta.dirname, "..", "..");
const GIT = fluxKind("GitRepository");
const encoder = new TextEncoder();

describe("apply worker", () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster();
  });
  after(async () => {
    await cluster.stop();
  });

  /** `count` pushes to main spread round-robin over `repos` repositories of `ns`; returns, per repository, the request log length once its last push was stored. */
  const burst = async (publish: (e: ReturnType<typeof gitEvent>) => Promise<void>, ns: string, repos: number, count: number): Promise<Map<string, number>> => {
    const marks = new Map<string, number>();
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
          const r = `repo-${(i + j) % repos}`;
          await publish(gitEvent(`https://github.com/${ns}/${r}`, "refs/heads/main", { commit: (i + j).toString(16).padStart(7, "0") }));
          marks.set(r, Math.max(marks.get(r) ?? 0, cluster.emulator.requests.length));
        }),
      );
    }
    return marks;
  };
  const repositories = (ns: string, n: number) => Array.from({ length: n }, (_, i) => gitRepository(ns, `repo-${i}`, `https://github.com/${ns}/repo-${i}`, { branch: "main" }));
  /** Patches per object, and whether each object was patched after its mark. */
  const patchSummary = (ns: string, marks: Map<string, number>) => {
    const patches = cluster.patches(ns);
    const per = new Map<string, number>();
    for (const p of patches) per.set(p.name, (per.get(p.name) ?? 0) + 1);
    const late = [...marks].filter(([name, mark]) => !patches.some((p) => p.name === name && p.index >= mark)).map(([name]) => name);
    return { max: Math.max(0, ...per.values()), objects: per.size, late };
  };

  for (const busKind of ["in-process", "jetstream"] as BusKind[]) {
    describe(`on the ${busKind} bus`, () => {
      it("routes a push to the GitRepository following that branch and requests its reconcile once, recording the event", LONG, async () => {
        const ns = await cluster.namespace();
        const url = `https://github.com/org/${ns}`;
        await cluster.create(gitRepository(ns, "main", url, { branch: "main" }), gitRepository(ns, "dev", url, { branch: "develop" }));
        const tb = await testBus(busKind);
        const bus = await tb.bus();
        const w = worker(cluster, bus);
        try {
          await w.running;
          const event = gitEvent(url, "refs/heads/main");
          // From a provider and with a field this worker does not know, as a newer receiver may publish during a
          // rolling upgrade.
          await publishEvent(bus, Object.assign({ addedByANewerReceiver: { x: 1 } }, event, { provider: "sourcehut" }));
          await until(async () => (await metricValue(w.registry, "fluxgate_worker_patches_total", { result: "patched" })) === 1, { what: "the patch" });
          assert.deepEqual(cluster.patches(ns).map((p) => `${p.kind} ${p.name}`), ["GitRepository main"]);
          const annotations = (await cluster.client().get(GIT, ns, "main")).metadata.annotations ?? {};
          assert.equal(annotations[REQUESTED_FOR], `${annotations[REQUESTED_AT]} ${event.id}`);
          assert.match(annotations[REQUESTED_AT] ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
          assert.deepEqual(
            await Promise.all([
              metricValue(w.registry, "fluxgate_worker_events_routed_total", { result: "routed" }),
              metricValue(w.registry, "fluxgate_worker_objects_targeted_total", { kind: "GitRepository", via: "source" }),
              metricValue(w.registry, "fluxgate_worker_delivery_to_patch_seconds"),
              metricValue(w.registry, "fluxgate_worker_inventory_objects", { kind: "GitRepository" }).then((n) => n >= 2),
            ]),
            [1, 1, 1, true],
          );
        } finally {
          await w.stop();
          await tb.close();
        }
      });

      it("turns 1,000 deliveries for 10 repositories into at most 2 patches per object, the last after the object's last delivery", LONG, async () => {
        const ns = await cluster.namespace();
        await cluster.create(...repositories(ns, 10));
        const tb = await testBus(busKind);
        const bus = await tb.bus();
        const flux = startFakeFlux(cluster.client(), ["GitRepository"], { reconcileMs: 2000 });
        const w = worker(cluster, bus);
        try {
          await Promise.all([w.running, flux.whenSynced]);
          const marks = await burst((e) => publishEvent(bus, e), ns, 10, 1000);
          await until(async () => (await metricValue(w.registry, "fluxgate_worker_events_routed_total", { result: "routed" })) === 1000, { what: "1000 events routed", timeoutMs: 20_000 });
          await until(() => patchSummary(ns, marks).late.length === 0, { what: "a patch after each object's last delivery", timeoutMs: 15_000 });
          const summary = patchSummary(ns, marks);
          assert.deepEqual([summary.objects, summary.late], [10, []]);
          assert.ok(summary.max <= 2, `an object was patched ${summary.max} times`);
          assert.ok((await metricValue(w.registry, "fluxgate_worker_triggers_coalesced_total")) > 900);
        } finally {
          await w.stop();
          await flux.stop();
          await tb.close();
        }
      });

      it("holds a trigger while the object's window is closed and releases it when it opens, also across a worker restart", LONG, async () => {
        const ns = await cluster.namespace();
        const url = `https://github.com/org/${ns}`;
        await cluster.create(gitRepository(ns, "app", url, { branch: "main" }, {}, { labels: { tier: "prod" } }));
        const openAt = new Date(Date.now() + 2500);
        const seen: Array<Record<string, string>> = [];
        const holdUntil: HoldUntil = (target, now) => {
          seen.push(target.labels);
          return now < openAt ? openAt : undefined;
        };
        const tb = await testBus(busKind);
        const first = worker(cluster, await tb.bus(), { holdUntil });
        await first.running;
        await publishEvent(await tb.bus(), gitEvent(url, "refs/heads/main"));
        await until(async () => (await metricValue(first.registry, "fluxgate_worker_triggers_held", { reason: "window" })) === 1, { what: "the trigger held" });
        await first.stop();
        const second = worker(cluster, await tb.bus(), { holdUntil });
        try {
          await second.running;
          assert.deepEqual(cluster.patches(ns), []);
          await until(() => cluster.patches(ns).length === 1, { what: "the release", timeoutMs: 8000 });
          assert.ok(Date.now() >= openAt.getTime(), "patched before the window opened");
          assert.deepEqual(seen[0], { tier: "prod" });
        } finally {
          await second.stop();
          await tb.close();
        }
      });
    });
  }

  it("skips a suspended source and counts it", LONG, async () => {
    const ns = await cluster.namespace();
    const url = `https://github.com/org/${ns}`;
    await cluster.create(gitRepository(ns, "app", url, { branch: "main" }, { suspend: true }));
    const tb = await testBus("in-process");
    const bus = await tb.bus();
    const w = worker(cluster, bus);
    try {
      await w.running;
      await publishEvent(bus, gitEvent(url, "refs/heads/main"));
      await until(async () => (await metricValue(w.registry, "fluxgate_worker_events_routed_total", { result: "no_targets" })) === 1, { what: "the event routed" });
      assert.equal(await metricValue(w.registry, "fluxgate_worker_skipped_total", { stage: "route", reason: "suspended" }), 1);
      assert.deepEqual(cluster.patches(ns), []);
    } finally {
      await w.stop();
      await tb.close();
    }
  });

  it("patches every resource of a Flux Receiver, and with smart filtering only those the push concerns", LONG, async () => {
    const [plain, smart] = [await cluster.namespace(), await cluster.namespace()];
    const url = (ns: string, repo: string) => `https://github.com/org/${ns}-${repo}`;
    for (const [ns, filtering] of [[plain, false], [smart, true]] as const) {
      await cluster.create(
        gitRepository(ns, "app", url(ns, "app"), { branch: "main" }),
        gitRepository(ns, "other", url(ns, "other"), { branch: "main" }),
        receiver(ns, "hook", [{ kind: "GitRepository", name: "*", matchLabels: {} }], filtering),
      );
    }
    const tb = await testBus("in-process");
    const bus = await tb.bus();
    const w = worker(cluster, bus);
    try {
      await w.running;
      await publishEvent(bus, gitEvent(url(plain, "app"), "refs/heads/main", { via: `${plain}/hook` }));
      await publishEvent(bus, gitEvent(url(smart, "app"), "refs/heads/main", { via: `${smart}/hook` }));
      await until(async () => (await metricValue(w.registry, "fluxgate_worker_patches_total", { result: "patched" })) === 3, { what: "three patches" });
      assert.deepEqual(cluster.patches(plain).map((p) => p.name).sort(), ["app", "other"]);
      assert.deepEqual(cluster.patches(smart).map((p) => p.name), ["app"]);
      assert.equal(await metricValue(w.registry, "fluxgate_worker_objects_targeted_total", { via: "receiver" }), 3);
    } finally {
      await w.stop();
      await tb.close();
    }
  });

  it("patches after the API server answered 429, 500 and 409, retrying each the way it asks", LONG, async () => {
    const ns = await cluster.namespace();
    const url = `https://github.com/org/${ns}`;
    await cluster.create(gitRepository(ns, "app", url, { branch: "main" }));
    cluster.emulator.faults.inject({ verb: "patch", resource: "gitrepositories", namespace: ns, count: 1, response: { status: 429, retryAfterSeconds: 1 } });
    cluster.emulator.faults.inject({ verb: "patch", resource: "gitrepositories", namespace: ns, count: 1, response: { status: 500 } });
    let conflicts = 1;
    cluster.emulator.setAdmission(async (a) =>
      a.operation === "UPDATE" && a.namespace === ns && a.subResource === undefined && conflicts-- > 0
        ? { allowed: false, status: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the object has been modified", reason: "Conflict", code: 409 } }
        : { allowed: true },
    );
    const tb = await testBus("in-process");
    const bus = await tb.bus();
    const w = worker(cluster, bus);
    try {
      await w.running;
      await publishEvent(bus, gitEvent(url, "refs/heads/main"));
      await until(async () => (await metricValue(w.registry, "fluxgate_worker_patches_total", { result: "patched" })) === 1, { what: "the patch", timeoutMs: 8000 });
      const tried = cluster.emulator.requests.filter((r) => r.namespace === ns && r.resource === "gitrepositories" && (r.verb === "patch" || r.verb === "get"));
      assert.deepEqual(tried.map((r) => `${r.verb} ${r.status}`), ["patch 429", "patch 500", "patch 409", "get 200", "patch 200"]);
    } finally {
      cluster.emulator.setAdmission(undefined);
      await w.stop();
      await tb.close();
    }
  });

  it("drops a trigger whose object is gone, and one whose event it already requested, without patching", LONG, async () => {
    const ns = await cluster.namespace();
    await cluster.create(gitRepository(ns, "app", `https://github.com/org/${ns}`, { branch: "main" }));
    const tb = await testBus("in-process");
    const bus = await tb.bus();
    const w = worker(cluster, bus);
    const trigger = (name: string, eventId: string): Trigger => ({
      target: { namespace: ns, kind: "GitRepository", name },
      labels: {},
      via: "source",
      event: { id: eventId, provider: "github", receiver: { namespace: "flux-system", name: "github-receiver" }, kind: "git", receivedAt: new Date().toISOString() },
      routedAt: new Date().toISOString(),
    });
    const send = (t: Trigger, msgId: string) => bus.publish(triggerSubject(t.target), encoder.encode(JSON.stringify(t)), msgId);
    try {
      await w.running;
      await send(trigger("ghost", "e1"), "m1");
      await until(async () => (await metricValue(w.registry, "fluxgate_worker_patches_total", { result: "gone" })) === 1, { what: "gone" });
      await send(trigger("app", "e2"), "m2");
      await until(() => cluster.patches(ns).length === 1, { what: "the first patch" });
      // The same trigger again, as after a lost ack or a worker killed between patch and ack.
      await send(trigger("app", "e2"), "m3");
      await until(async () => (await metricValue(w.registry, "fluxgate_worker_patches_total", { result: "duplicate" })) === 1, { what: "the duplicate dropped" });
      assert.equal(cluster.patches(ns).length, 1);
    } finally {
      await w.stop();
      await tb.close();
    }
  });

  it("shares the work between two worker processes' consumers on JetStream without losing or repeating a request", LONG, async () => {
    const ns = await cluster.namespace();
    await cluster.create(...repositories(ns, 10));
    const tb = await testBus("jetstream");
    const flux = startFakeFlux(cluster.client(), ["GitRepository"], { reconcileMs: 2000 });
    const [a, b] = [worker(cluster, await tb.bus()), worker(cluster, await tb.bus())];
    try {
      await Promise.all([a.running, b.running, flux.whenSynced]);
      const publisher = await tb.bus();
      const marks = await burst((e) => publishEvent(publisher, e), ns, 10, 500);
      const routed = async () => (await metricValue(a.registry, "fluxgate_worker_events_routed_total")) + (await metricValue(b.registry, "fluxgate_worker_events_routed_total"));
      await until(async () => (await routed()) === 500, { what: "500 events routed", timeoutMs: 15_000 });
      await until(() => patchSummary(ns, marks).late.length === 0, { what: "a patch after each object's last delivery", timeoutMs: 15_000 });
      const summary = patchSummary(ns, marks);
      assert.deepEqual([summary.objects, summary.late], [10, []]);
      assert.ok(summary.max <= 2, `an object was patched ${summary.max} times`);
      const patched = async () => (await metricValue(a.registry, "fluxgate_worker_patches_total", { result: "patched" })) + (await metricValue(b.registry, "fluxgate_worker_patches_total", { result: "patched" }));
      // Every patch the API server took was answered and counted (none lost in between).
      await until(async () => (await patched()) === cluster.patches(ns).length, { what: "the answers to the patches" });
      assert.ok((await metricValue(a.registry, "fluxgate_worker_events_routed_total")) > 0 && (await metricValue(b.registry, "fluxgate_worker_events_routed_total")) > 0, "both routed");
    } finally {
      await a.stop();
      await b.stop();
      await flux.stop();
      await tb.close();
    }
  });

  it("patches every targeted object after a worker process killed with SIGKILL mid-burst is restarted", LONG, async () => {
    const ns = await cluster.namespace();
    await cluster.create(...repositories(ns, 20));
    const tb = await testBus("jetstream");
    const flux = startFakeFlux(cluster.client(), ["GitRepository"], { reconcileMs: 200 });
    const spawnWorker = () => {
      const [cmd, args] = runtimeCommand(join(ROOT, "test/support/worker-process.ts"), [JSON.stringify({ nats: tb.nats?.url, kubeconfig: cluster.kubeconfig, ackWaitMs: 1500 })]);
      const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (err += c.toString()));
      const exited = new Promise<void>((r) => child.on("exit", () => r()));
      return { child, exited, ready: () => until(() => out.includes('"ready":true'), { what: `the worker to start (stderr: ${err})`, timeoutMs: 20_000 }) };
    };
    const first = spawnWorker();
    let second: ReturnType<typeof spawnWorker> | undefined;
    try {
      await Promise.all([first.ready(), flux.whenSynced]);
      const bus = await tb.bus();
      await burst((e) => publishEvent(bus, e), ns, 20, 400);
      await until(() => cluster.patches(ns).length >= 3, { what: "the first patches", timeoutMs: 10_000 });
      first.child.kill("SIGKILL");
      await first.exited;
      const restartedAt = cluster.emulator.requests.length;
      const marks = await burst((e) => publishEvent(bus, e), ns, 20, 400);
      second = spawnWorker();
      await second.ready();
      await until(() => patchSummary(ns, marks).late.length === 0, { what: "every object patched after the restart", timeoutMs: 20_000 });
      const afterRestart = new Set(cluster.patches(ns).filter((p) => p.index >= restartedAt).map((p) => p.name));
      assert.equal(afterRestart.size, 20);
    } finally {
      first.child.kill("SIGKILL");
      second?.child.kill("SIGTERM");
      await second?.exited;
      await flux.stop();
      await tb.close();
    }
  });
});
