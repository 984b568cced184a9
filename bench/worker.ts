/**
 * Apply worker under a burst: `fluxgate serve --roles worker` (a child process on the runtime named) against the
 * in-repo API emulator and a nats-server. 100 GitRepositories; 10,000 pushes spread over them are published to
 * FLUXGATE_EVENTS as the receiver publishes them (the receiver has its own benchmark, bench/receiver.ts), as fast as
 * the bench can. A stand-in for source-controller handles each reconcile request after `reconcileMs`, as Flux
 * would (the worker waits for that before asking again).
 *
 *   node bench/worker.ts [runtime=node] [deliveries=10000] [repositories=100] [reconcileMs=1000]
 *   BENCH_RATE=<deliveries per second> paces the deliveries (default: as fast as they go);
 *   BENCH_PROGRESS=1 prints routing progress; BENCH_LOG=debug shows the worker's log;
 *   BENCH_PROFILE_DIR=<dir> writes a CPU profile of the worker there (Bun, Node).
 *
 * Reports: patches per object; delivery → patch latency as the worker's histogram measures it (newest delivery a
 * patch carries → the patch applied), split into the worker's part (until it sent the patch: its requestedAt token)
 * and the API server's; the first delivery of an idle object → its patch; each delivery → the first patch after it;
 * the worker's CPU time and RSS. The emulator runs on Bun in a process of its own, the publisher too.
 */
import { cpuMs, freePort, profileArgs, quantile, rssMiB, RUNTIME_COMMANDS, runtimeCommand } from "./common.ts";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { parseRequestedFor, REQUESTED_FOR } from "../src/apply/reconcile-state.ts";
import type { ChangeEvent } from "../src/events/change-event.ts";
import { ensureStreams } from "../src/events/jetstream-bus.ts";
import { eventSubject } from "../src/events/streams.ts";
import { fluxKind } from "../src/flux/kinds.ts";
import { createKubeClient } from "../src/kube/client.ts";
import { createInformer } from "../src/kube/informer.ts";
import { loadKubeConfig } from "../src/kube/kube-config.ts";
import type { KubeObject } from "../src/kube/object.ts";
import { startFakeFlux } from "../test/support/fake-flux.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../test/support/kube/emulator.ts";
import { startNats } from "../test/support/nats.ts";
import { quietLogger } from "../test/support/quiet-logger.ts";

const root = join(import.meta.dirname, "..");
if (process.argv[2] === "--publish") await publishBurst(process.argv[3] ?? "", Number(process.argv[4]), Number(process.argv[5]));
if (process.argv[2] === "--emulator") await serveEmulator();
const [runtime = "node", deliveriesArg = "10000", reposArg = "100", reconcileArg = "1000"] = process.argv.slice(2);
const [deliveries, repos, reconcileMs] = [Number(deliveriesArg), Number(reposArg), Number(reconcileArg)];
const cmd = runtimeCommand(runtime);
const ms = (x: number) => `${x.toFixed(1)} ms`;

// The API emulator stands in for kube-apiserver in a process of its own (on Bun, its fastest runtime), so the
// bench's watch and Flux stand-in do not take its CPU.
const emulatorProcess = spawn(join(root, "node_modules/.bin/bun"), [join(root, "bench/worker.ts"), "--emulator"], { stdio: ["ignore", "pipe", "inherit"] });
const kubeconfig = await new Promise<string>((resolve) => {
  let text = "";
  emulatorProcess.stdout.on("data", (c: Buffer) => {
    text += c.toString();
    if (text.includes("\n")) resolve(text.trim());
  });
});
const kube = createKubeClient({ kubeConfig: loadKubeConfig({ from: "kubeconfig", path: kubeconfig }).kubeConfig, log: quietLogger(), registry: new Registry() });
const GIT = fluxKind("GitRepository");
await kube.create({ group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false }, { apiVersion: "v1", kind: "Namespace", metadata: { name: "bench" } });
const url = (i: number) => `https://github.com/bench/repo-${i}`;
for (let i = 0; i < repos; i++) {
  await kube.create(GIT, { apiVersion: GIT.apiVersion, kind: "GitRepository", metadata: { name: `repo-${i}`, namespace: "bench" }, spec: { interval: "10m", url: url(i), ref: { branch: "main" } } });
}

const nats = await startNats();
const nc = await connect({ servers: nats.url });
await ensureStreams(nc);
const [healthPort, metricsPort] = [await freePort(), await freePort()];
const dir = await mkdtemp(join(tmpdir(), "fluxgate-bench-worker-"));
await writeFile(
  join(dir, "fluxgate.yaml"),
  [
    "roles: [worker]",
    "listen:",
    '  admission: "127.0.0.1:0"',
    '  receiver: "127.0.0.1:0"',
    `  metrics: "127.0.0.1:${metricsPort}"`,
    `  health: "127.0.0.1:${healthPort}"`,
    `log: {level: ${process.env.BENCH_LOG ?? "warn"}}`,
    `bus: {url: "${nats.url}"}`,
    `kube: {kubeconfig: "${kubeconfig}"}`,
  ].join("\n"),
);

// Every reconcile request as it lands: the object, the event it carries, when.
const patches: Array<{ name: string; eventId: string; at: number; sent: number }> = [];
const watcher = createInformer<KubeObject>({ client: kube, type: GIT, namespace: "bench" }).start();
watcher.on({
  update: (before, after) => {
    const a = after.metadata.annotations?.[REQUESTED_FOR];
    if (a === undefined || a === before.metadata.annotations?.[REQUESTED_FOR]) return;
    const ours = parseRequestedFor(a);
    // The token is the worker's clock when it sent the patch: it splits the latency into worker and API server.
    patches.push({ name: after.metadata.name, eventId: ours?.eventId ?? "", at: Date.now(), sent: Date.parse(ours?.token ?? "") });
  },
});
const flux = startFakeFlux(kube, ["GitRepository"], { reconcileMs });
await Promise.all([watcher.whenSynced, flux.whenSynced]);

const child = spawn(cmd[0] ?? "", [...cmd.slice(1), ...profileArgs(runtime), join(root, "bin/fluxgate.ts"), "serve", "--config", join(dir, "fluxgate.yaml")], { stdio: ["ignore", "inherit", "inherit"] });
const exited = new Promise<void>((r) => child.on("exit", () => r()));
try {
  for (let i = 0; i < 1500 && (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
  const idleRss = await rssMiB(child.pid ?? 0);
  const cpuBefore = (await cpuMs(child.pid ?? 0)) / 1000;

  // The burst, from a process of its own (Bun, the lightest publisher) so the emulator here stays responsive.
  const started = Date.now();
  const publisher = spawn(RUNTIME_COMMANDS.bun?.[0] ?? "", [join(root, "bench/worker.ts"), "--publish", nats.url, String(deliveries), String(repos)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  publisher.stdout.on("data", (c: Buffer) => (out += c.toString()));
  // Progress comes from scraping the worker's metrics, which costs it CPU: only when asked for.
  const progress: string[] = [];
  const sampler = setInterval(async () => {
    if (process.env.BENCH_PROGRESS === undefined) return;
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const routed = [...text.matchAll(/^fluxgate_worker_events_routed_total\{[^}]*\} (\S+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    progress.push(`${Date.now() - started}ms routed=${routed} patches=${patches.length}`);
  }, 250);
  await new Promise<void>((r) => publisher.on("exit", () => r()));
  const received = new Map<string, { repo: string; at: number }>(Object.entries(JSON.parse(out) as Record<string, { repo: string; at: number }>));
  const published = Date.now() - started;
  const lastByRepo = new Map<string, number>();
  for (const { repo, at } of received.values()) lastByRepo.set(repo, Math.max(lastByRepo.get(repo) ?? 0, at));

  // Done when every repository has a patch after its last delivery and nothing moved for a while.
  const covered = () => [...lastByRepo].every(([repo, last]) => patches.some((p) => p.name === repo && p.at >= last));
  for (let quiet = 0, seen = -1; quiet < 2 * reconcileMs + 500; ) {
    await new Promise((r) => setTimeout(r, 100));
    if (covered() && patches.length === seen) quiet += 100;
    else quiet = 0;
    seen = patches.length;
    if (Date.now() - started > 120_000) throw new Error("not settled after 120 s");
  }
  clearInterval(sampler);
  if (process.env.BENCH_PROGRESS !== undefined) console.log(progress.join("\n"));
  const cpu = ((await cpuMs(child.pid ?? 0)) / 1000) - cpuBefore;
  const busyRss = await rssMiB(child.pid ?? 0);
  const peakRss = await rssMiB(child.pid ?? 0, "VmHWM");
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

  const perObject = new Map<string, number>();
  for (const p of patches) perObject.set(p.name, (perObject.get(p.name) ?? 0) + 1);
  const counts = [...perObject.values()];
  const carried = patches.map((p) => p.at - (received.get(p.eventId)?.at ?? NaN)).filter((x) => !Number.isNaN(x));
  const toSend = patches.map((p) => p.sent - (received.get(p.eventId)?.at ?? NaN)).filter((x) => !Number.isNaN(x));
  const inApi = patches.map((p) => p.at - p.sent).filter((x) => !Number.isNaN(x));
  const perDelivery = [...received.values()].map(({ repo, at }) => (patches.find((p) => p.name === repo && p.at >= at)?.at ?? NaN) - at);
  const firsts = [...lastByRepo.keys()].map((repo) => {
    const first = Math.min(...[...received.values()].filter((r) => r.repo === repo).map((r) => r.at));
    return (patches.find((p) => p.name === repo && p.at >= first)?.at ?? NaN) - first;
  });
  const metric = (name: string) => [...metrics.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "gm"))].map((m) => `${m[1] ?? ""} ${m[2]}`).join(", ");

  console.log(`worker on ${runtime}: ${deliveries} deliveries over ${repos} repositories, published in ${published} ms; Flux stand-in reconciles in ${reconcileMs} ms`);
  console.log(`patches per object: max ${Math.max(...counts)}, mean ${(patches.length / perObject.size).toFixed(2)} (${patches.length} patches, ${perObject.size} objects)`);
  console.log(`delivery → patch (newest delivery a patch carries, the worker's histogram): p50 ${ms(quantile(carried, 0.5))}, p99 ${ms(quantile(carried, 0.99))}`);
  console.log(`  of which delivery → patch sent (worker): p50 ${ms(quantile(toSend, 0.5))}, p99 ${ms(quantile(toSend, 0.99))}; patch sent → applied (API server): p50 ${ms(quantile(inApi, 0.5))}, p99 ${ms(quantile(inApi, 0.99))}`);
  console.log(`first delivery to an idle object → its patch: p50 ${ms(quantile(firsts, 0.5))}, p99 ${ms(quantile(firsts, 0.99))}`);
  console.log(`each delivery → the first patch after it: p50 ${ms(quantile(perDelivery, 0.5))}, p99 ${ms(quantile(perDelivery, 0.99))}`);
  console.log(`worker CPU: ${cpu.toFixed(2)} s for the burst (${((cpu * 1e6) / deliveries).toFixed(0)} µs per delivery)`);
  console.log(`worker RSS: idle ${idleRss.toFixed(0)} MiB, after the burst ${busyRss.toFixed(0)} MiB, peak ${peakRss.toFixed(0)} MiB`);
  console.log(`worker metrics: patches ${metric("fluxgate_worker_patches_total")}; coalesced ${metric("fluxgate_worker_triggers_coalesced_total")}`);
} finally {
  child.kill("SIGTERM");
  await exited;
  await watcher.stop();
  await flux.stop();
  await nc.close();
  await nats.stop();
  emulatorProcess.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}

/** Publisher mode: `deliveries` pushes over `repos` repositories, 64 in flight; prints `{id: {repo, at}}`. */
async function publishBurst(natsUrl: string, deliveries: number, repos: number): Promise<never> {
  const rate = Number(process.env.BENCH_RATE ?? "0");
  const nc = await connect({ servers: natsUrl });
  const begun = Date.now();
  const js = jetstream(nc);
  const received: Record<string, { repo: string; at: number }> = {};
  const run = Date.now().toString(36);
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < deliveries) {
        const i = next++;
        const repo = `repo-${i % repos}`;
        // Paced when a rate is given: delivery i is due at i / rate seconds.
        const due = rate > 0 ? begun + (i * 1000) / rate : 0;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        const at = Date.now();
        const event: ChangeEvent = {
          id: `bench-${run}-${i}`,
          provider: "github",
          receiver: { namespace: "flux-system", name: "github-receiver" },
          deliveryId: `${run}-${i}`,
          eventType: "push",
          kind: "git",
          git: { urls: [`https://github.com/bench/${repo}`], key: `github.com/bench/${repo}`, ref: "refs/heads/main", branch: "main", commit: i.toString(16).padStart(40, "0") },
          deleted: false,
          receivedAt: new Date(at).toISOString(),
        };
        received[event.id] = { repo, at };
        await js.publish(eventSubject("github"), JSON.stringify(event), { msgID: event.id });
      }
    }),
  );
  await nc.close();
  // A pipe takes the write asynchronously: exit once it is flushed.
  await new Promise<void>((resolve) => process.stdout.write(JSON.stringify(received), () => resolve()));
  process.exit(0);
}

/** Emulator mode: serves until SIGTERM; prints the kubeconfig path. */
async function serveEmulator(): Promise<never> {
  const emulator = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
  process.stdout.write(`${await emulator.kubeconfigPath()}\n`);
  process.on("SIGTERM", () => void emulator.stop().then(() => process.exit(0)));
  return new Promise<never>(() => {});
}
