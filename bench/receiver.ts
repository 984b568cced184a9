/**
 * Receiver throughput and latency: signed GitHub push deliveries verified, normalised and JetStream-acked by
 * `fluxgate serve --roles receiver` (a child process on the runtime named), against a bare JetStream publish loop
 * at the same concurrency in the same run, against the same nats-server.
 *
 *   bun bench/receiver.ts [runtime=bun] [seconds=10] [concurrency=32]
 *   BENCH_PROFILE_DIR=<dir> writes a CPU profile of the receiver there (Bun, Node).
 *
 * Each phase also prints the CPU time per message of the bench process (publisher or load generator), nats-server
 * and the receiver.
 *
 * Run it with Bun: its fetch client is the lightest load generator of the three (node:http on Node tops out near
 * 4,000 requests/s here against a server that does nothing, which would measure the client, not Fluxgate).
 */
import { cpuMs, freePort, profileArgs, quantile, runtimeCommand } from "./common.ts";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNats } from "../test/support/nats.ts";
import { fixture, hmacHex } from "../test/support/webhook-fixtures.ts";
import { ensureStreams } from "../src/events/jetstream-bus.ts";
import { webhookPath } from "../src/webhooks/receiver-index.ts";

const root = join(import.meta.dirname, "..");
const [runtime = "bun", secondsArg = "10", concurrencyArg = "32"] = process.argv.slice(2);
const seconds = Number(secondsArg);
const concurrency = Number(concurrencyArg);
const cmd = runtimeCommand(runtime);

/** Runs `one(i)` with `concurrency` workers for `seconds`; returns per-request latencies in ms. */
async function load(one: (i: number) => Promise<void>): Promise<{ rps: number; p50: number; p99: number; n: number }> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let i = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await one(i++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rps: latencies.length / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), n: latencies.length };
}


const nats = await startNats();
const [receiverPort, healthPort] = [await freePort(), await freePort()];
const dir = await mkdtemp(join(tmpdir(), "fluxgate-bench-receiver-"));
const token = "bench-token";
await writeFile(join(dir, "token"), token);
await writeFile(
  join(dir, "fluxgate.yaml"),
  [
    "roles: [receiver]",
    "listen:",
    `  receiver: "127.0.0.1:${receiverPort}"`,
    '  metrics: "127.0.0.1:0"',
    `  health: "127.0.0.1:${healthPort}"`,
    `log: {level: ${process.env.BENCH_LOG ?? "info"}}`,
    // FLUXGATE_BENCH_BUS=memory measures the receiver without NATS (in-process bus), to see what the bus costs.
    ...(process.env.FLUXGATE_BENCH_BUS === "memory" ? [] : [`bus: {url: "${nats.url}"}`]),
    "receivers:",
    "  - {name: github-receiver, type: github, secret: {file: token}}",
  ].join("\n"),
);
const child = spawn(cmd[0] ?? "", [...cmd.slice(1), ...profileArgs(runtime), join(root, "bin/fluxgate.ts"), "serve", "--config", join(dir, "fluxgate.yaml")], { stdio: ["ignore", "pipe", "inherit"] });
try {
  const urls = { receiver: `http://127.0.0.1:${receiverPort}`, health: `http://127.0.0.1:${healthPort}` };
  for (let i = 0; i < 1500 && (await fetch(`${urls.health}/readyz`).catch(() => undefined))?.status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
  child.stdout.resume();

  const json = JSON.parse(new TextDecoder().decode(fixture("github/push-payload.json"))) as Record<string, unknown>;
  const body = new TextEncoder().encode(JSON.stringify({ ...json, ref: "refs/heads/main", deleted: false, after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246" }));
  const signature = `sha256=${hmacHex("sha256", token, body)}`;
  const path = webhookPath(token, "github-receiver", "flux-system");
  const run = Date.now().toString(36);
  const url = `${urls.receiver}${path}`;
  const deliver = async (i: number) => {
    const headers = { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": `${run}-${i}`, "x-hub-signature-256": signature };
    const r = await fetch(url, { method: "POST", headers, body });
    await r.arrayBuffer();
    if (r.status !== 202) throw new Error(`status ${r.status}`);
  };

  const nc = await connect({ servers: nats.url });
  await ensureStreams(nc);
  const js = jetstream(nc);
  const bare = (i: number) => js.publish("fluxgate.events.github", body, { msgID: `bare-${run}-${i}` }).then(() => undefined);

  // CPU time per message of each process of a phase: the bench (the bare loop's publisher, or the HTTP load
  // generator), nats-server, and the receiver. Independent of how busy the machine is, unlike the throughput ratio.
  const measured = async (one: (i: number) => Promise<void>) => {
    const bench = process.cpuUsage();
    const [natsBefore, receiverBefore] = [await cpuMs(nats.pid() ?? 0), await cpuMs(child.pid ?? 0)];
    const r = await load(one);
    const spent = process.cpuUsage(bench);
    const per = (ms: number) => ((ms * 1000) / r.n).toFixed(0).padStart(4);
    const cpu = `CPU µs/message: bench ${per((spent.user + spent.system) / 1000)}, nats-server ${per((await cpuMs(nats.pid() ?? 0)) - natsBefore)}, receiver ${per((await cpuMs(child.pid ?? 0)) - receiverBefore)}`;
    return { ...r, cpu };
  };
  await load(deliver); // warm-up, also fills the JIT
  const bareResult = await measured(bare);
  const receiverResult = await measured(deliver);
  await nc.close();
  const f = (r: typeof bareResult) => `${r.rps.toFixed(0).padStart(6)} /s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   (${r.n} messages)   ${r.cpu}`;
  console.log(`receiver on ${runtime}, ${concurrency} concurrent, ${seconds} s each, nats-server ${nats.url}`);
  console.log(`bare JetStream publish   ${f(bareResult)}`);
  console.log(`signed GitHub deliveries ${f(receiverResult)}`);
  console.log(`receiver / bare: ${((receiverResult.rps / bareResult.rps) * 100).toFixed(0)}% of throughput`);
} finally {
  child.kill("SIGTERM");
  await new Promise((r) => child.on("exit", r));
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}
