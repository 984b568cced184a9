/**
 * Admission webhook throughput, latency and memory: a real tenant Kustomization review (flux2-multi-tenancy's
 * dev-team sync, a CREATE by the tenant's service account) judged by every rule of a tenant policy on
 * `fluxgate serve --roles admission` over TLS, against two bare HTTPS servers on the same runtime that read the body
 * and answer a fixed `allowed: true` review: the runtime's native server, and Fluxgate's own transport
 * (`src/server/listen.ts`, srvx) with nothing behind it. Same load generator, same run, every server a child process
 * on the runtime named, all with the same certificate.
 *
 *   bun bench/admission.ts [runtime=bun] [seconds=10] [concurrency=32] [rate=2000]
 *   BENCH_PROFILE_DIR=<dir> writes a CPU profile of Fluxgate there (Bun, Node).
 *
 * Prints closed-loop throughput at `concurrency` with each server's CPU time per request (from /proc, so it does not
 * depend on what else the machine is doing), then latency at a fixed `rate` of requests per second (open loop,
 * each latency from the request's scheduled time, so a stall counts against every request queued behind it), then
 * Fluxgate's RSS idle, after each phase and at its peak (VmHWM). Targets (issue): Fluxgate ≥ 50% of the bare
 * server's requests/s; p99 ≤ 2 ms at 2,000 requests/s; RSS ≤ 120 MiB. The load generator shares the machine with
 * the servers: on a small machine it is part of what is measured, equally for all three.
 *
 * Run the load generator with Bun: its fetch is the lightest client of the three and takes a CA (`tls: { ca }`).
 */
import { cpuMs, freePort, profileArgs, quantile, rssMiB, runtimeCommand } from "./common.ts";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureCerts } from "../certs/store.ts";
import { parseManifests } from "../src/admission/manifests.ts";

const root = join(import.meta.dirname, "..");

async function main(): Promise<void> {
  const [runtime = "bun", secondsArg = "10", concurrencyArg = "32", rateArg = "2000"] = process.argv.slice(2);
  const seconds = Number(secondsArg);
  const concurrency = Number(concurrencyArg);
  const rate = Number(rateArg);
  const cmd = runtimeCommand(runtime);

  const dir = await mkdtemp(join(tmpdir(), "fluxgate-bench-admission-"));
  const certDir = join(dir, "certs");
  await ensureCerts(certDir, { service: "fluxgate", namespace: "fluxgate-system", extraDnsNames: ["localhost"], extraIps: ["127.0.0.1", "::1"] });
  const ca = await readFile(join(certDir, "ca.crt"), "utf8");
  const [admissionPort, healthPort, nativePort, transportPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  await writeFile(
    join(dir, "fluxgate.yaml"),
    [
      "roles: [admission]",
      "listen:",
      `  admission: "127.0.0.1:${admissionPort}"`,
      '  metrics: "127.0.0.1:0"',
      `  health: "127.0.0.1:${healthPort}"`,
      "tls: {dir: certs}",
      `log: {level: ${process.env.BENCH_LOG ?? "info"}}`,
      // Every rule enforced; the tenant's objects keep them all, so each review runs every check and is allowed.
      "policy:",
      "  exemptions: {namespaces: [flux-system]}",
      "  tenants:",
      "    - name: dev-team",
      "      namespaces: [apps]",
      "      serviceAccountName: dev-team",
      "      sources: {urls: [https://github.com/fluxcd/flux2-multi-tenancy]}",
      "      crossNamespaceRefs: [{namespace: flux-system, kind: HelmRepository}]",
      "      versions: {charts: [{name: podinfo, range: 6.x}]}",
    ].join("\n"),
  );

  const sync = join(root, "..", "shared", "fixtures", "flux", "examples", "flux2-multi-tenancy", "tenants", "base", "dev-team", "sync.yaml");
  const kustomization = parseManifests(await readFile(sync, "utf8"), sync)
    .map((d) => d.value as Record<string, unknown>)
    .find((o) => o["kind"] === "Kustomization");
  if (kustomization === undefined) throw new Error(`no Kustomization in ${sync}`);
  const review = (uid: string) =>
    JSON.stringify({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid,
        kind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
        resource: { group: "kustomize.toolkit.fluxcd.io", version: "v1", resource: "kustomizations" },
        requestKind: { group: "kustomize.toolkit.fluxcd.io", version: "v1", kind: "Kustomization" },
        requestResource: { group: "kustomize.toolkit.fluxcd.io", version: "v1", resource: "kustomizations" },
        name: "dev-team",
        namespace: "apps",
        operation: "CREATE",
        userInfo: { username: "system:serviceaccount:apps:dev-team", uid: "b0f1", groups: ["system:serviceaccounts", "system:serviceaccounts:apps", "system:authenticated"] },
        object: kustomization,
        oldObject: null,
        dryRun: false,
        options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "kustomize-controller" },
      },
    });

  const children: ChildProcess[] = [];
  const start = (args: string[], ready: () => Promise<boolean>) => {
    const child = spawn(cmd[0] ?? "", [...cmd.slice(1), ...args], { stdio: ["ignore", "pipe", "inherit"], cwd: dir });
    children.push(child);
    child.stdout?.resume();
    return (async () => {
      for (let i = 0; i < 1500 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 20));
      return child;
    })();
  };
  const memory = async (child: ChildProcess) => ({ rss: await rssMiB(child.pid ?? 0), peak: await rssMiB(child.pid ?? 0, "VmHWM") });
  try {
    const fluxgate = await start([...profileArgs(runtime), join(root, "bin/fluxgate.ts"), "serve", "--config", join(dir, "fluxgate.yaml")], async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status === 200);
    const servers = [
      { name: "bare, native server", port: nativePort, child: await start([join(root, "bench/admission.ts"), "--bare-server", "native", String(nativePort), certDir], async () => (await post(nativePort, "/", "{}", ca).catch(() => 0)) === 200) },
      { name: "bare, Fluxgate's transport", port: transportPort, child: await start([join(root, "bench/admission.ts"), "--bare-server", "transport", String(transportPort), certDir], async () => (await post(transportPort, "/", "{}", ca).catch(() => 0)) === 200) },
      { name: "fluxgate /validate", port: admissionPort, child: fluxgate },
    ];
    // The answer must be what kube-apiserver wants before anything is measured.
    const check = await fetch(`https://127.0.0.1:${admissionPort}/validate?timeout=10s`, { method: "POST", body: review("check"), tls: { ca, serverName: "fluxgate.fluxgate-system.svc" } } as RequestInit);
    console.log(`fluxgate answers: ${await check.text()}`);
    const idle = await memory(fluxgate);

    let n = 0;
    const run = Date.now().toString(36);
    const caller = (port: number) => async () => {
      const status = await post(port, "/validate?timeout=10s", review(`${run}-${n++}`), ca, port === admissionPort);
      if (status !== 200) throw new Error(`port ${port} answered ${status}`);
    };
    for (const s of servers) await closedLoop(caller(s.port), Math.min(seconds, 5), concurrency); // warm-up: JIT tiers, connections
    const throughput: Throughput[] = [];
    const cpuPerRequest: number[] = [];
    for (const s of servers) {
      const cpu = await cpuMs(s.child.pid ?? 0);
      const r = await closedLoop(caller(s.port), seconds, concurrency);
      throughput.push(r);
      cpuPerRequest.push((((await cpuMs(s.child.pid ?? 0)) - cpu) * 1000) / r.n);
    }
    const afterThroughput = await memory(fluxgate);
    const latency: Latency[] = [];
    for (const s of servers) latency.push(await openLoop(caller(s.port), seconds, rate));
    const after = await memory(fluxgate);

    const t = (r: Throughput) => `${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms`;
    const l = (r: Latency) => `${r.achieved.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  max ${r.max.toFixed(1)} ms`;
    const pct = (a: Throughput | undefined, b: Throughput | undefined) => `${(((a?.rps ?? 0) / (b?.rps ?? 1)) * 100).toFixed(0)}%`;
    console.log(`admission on ${runtime} ${await runtimeVersion(cmd)}, load generator ${process.versions.bun === undefined ? `node ${process.version}` : `bun ${process.versions.bun}`}, ${seconds} s per measurement, ${os.cpus().length} CPUs, load average ${os.loadavg()[0]?.toFixed(1)}`);
    console.log(`closed loop, ${concurrency} concurrent:`);
    servers.forEach((s, i) => console.log(`  ${s.name.padEnd(28)} ${t(throughput[i] as Throughput)}  server CPU ${(cpuPerRequest[i] ?? NaN).toFixed(0)} µs/request`));
    console.log(`  fluxgate: ${pct(throughput[2], throughput[0])} of the native server's throughput, ${pct(throughput[2], throughput[1])} of the bare transport's (target ≥ 50%)`);
    console.log(`open loop at ${rate} req/s (target fluxgate p99 ≤ 2 ms):`);
    servers.forEach((s, i) => console.log(`  ${s.name.padEnd(28)} ${l(latency[i] as Latency)}`));
    const m = (x: { rss: number; peak: number }) => `${x.rss.toFixed(0)} MiB`;
    console.log(`fluxgate RSS: ${m(idle)} idle, ${m(afterThroughput)} after the closed loop, ${m(after)} after the open loop, peak ${after.peak.toFixed(0)} MiB (target ≤ 120 MiB)`);
    for (const s of servers.slice(0, 2)) console.log(`${s.name} RSS: ${m(await memory(s.child))}, peak ${(await memory(s.child)).peak.toFixed(0)} MiB`);
  } finally {
    for (const c of children) {
      c.kill("SIGTERM");
      await new Promise((r) => (c.exitCode !== null ? r(undefined) : c.on("exit", r)));
    }
    await rm(dir, { recursive: true, force: true });
  }
}

type Throughput = { rps: number; p50: number; p99: number; n: number };
type Latency = { achieved: number; p50: number; p99: number; max: number };


/** One POST over a kept-alive connection pool; the answer's status (the body is read, as kube-apiserver does). */
async function post(port: number, path: string, body: string, ca: string, sni = false): Promise<number> {
  const r = await fetch(`https://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, */*", "user-agent": "kube-apiserver-admission" },
    body,
    tls: { ca, ...(sni ? { serverName: "fluxgate.fluxgate-system.svc" } : {}) },
  } as RequestInit);
  await r.arrayBuffer();
  return r.status;
}

/** `concurrency` workers calling back to back for `seconds`. */
async function closedLoop(one: () => Promise<void>, seconds: number, concurrency: number): Promise<Throughput> {
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await one();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), n: latencies.length };
}

/** Requests started on a fixed schedule of `rate` per second, whether or not earlier ones have answered. */
async function openLoop(one: () => Promise<void>, seconds: number, rate: number): Promise<Latency> {
  const latencies: number[] = [];
  const pending: Array<Promise<void>> = [];
  const started = performance.now();
  const total = Math.round(seconds * rate);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      const scheduled = started + (sent / rate) * 1000;
      pending.push(one().then(() => void latencies.push(performance.now() - scheduled)));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { achieved: latencies.length / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? NaN };
}

/** `v24.21.0` / `1.4.5` of the server's runtime. */
function runtimeVersion(cmd: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0] ?? "", ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
    child.on("exit", () => resolve(out.split("\n")[0]?.trim() ?? ""));
  });
}


/** `Bun`, when this runs on Bun (the project's types are Node's). */
const bun = (globalThis as { Bun?: { serve(o: { hostname: string; port: number; tls: { cert: string; key: string }; fetch: (r: Request) => Promise<Response> }): unknown } }).Bun;

/**
 * The child: a bare server on this runtime answering a fixed review after reading the body. `transport`: through
 * `src/server/listen.ts` (srvx), as Fluxgate is served; `native`: the runtime's own server with nothing between
 * (`Bun.serve` on Bun, `node:https` on Node and Deno, which is also what Fluxgate's TLS listener uses on Deno).
 */
async function bareServer(): Promise<void> {
  const [, , , mode, port, certDir] = process.argv;
  const tls = { cert: await readFile(join(certDir ?? "", "tls.crt"), "utf8"), key: await readFile(join(certDir ?? "", "tls.key"), "utf8") };
  const answer = JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "bare", allowed: true } });
  if (mode === "transport") {
    const { listen } = await import("../src/server/listen.ts");
    await listen({
      name: "bare",
      host: "127.0.0.1",
      port: Number(port),
      tls,
      fetch: async (request) => {
        await request.text();
        return new Response(answer, { headers: { "content-type": "application/json" } });
      },
      maxRequestBodySize: 16 << 20,
      idleTimeoutMs: 65_000,
    });
  } else if (bun !== undefined) {
    bun.serve({
      hostname: "127.0.0.1",
      port: Number(port),
      tls,
      fetch: async (request) => {
        await request.text();
        return new Response(answer, { headers: { "content-type": "application/json" } });
      },
    });
  } else {
    const { createServer: createHttpsServer } = await import("node:https");
    const server = createHttpsServer({ ...tls, keepAliveTimeout: 65_000 }, (req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(answer);
      });
    });
    await new Promise<void>((r) => server.listen(Number(port), "127.0.0.1", r));
  }
  console.log("ready");
}

// Last, so every declaration above is initialised.
if (process.argv[2] === "--bare-server") await bareServer();
else await main();
