/**
 * An apply worker alone in a child process (JetStream bus, cluster from a kubeconfig), for tests that kill it and
 * for the worker benchmark. Prints `{"ready":true}` on stdout once it consumes; logs go to stderr.
 * Usage: <runtime> test/support/worker-process.ts '<json options>'
 *   {"nats": url, "kubeconfig": path, "ackWaitMs"?: n, "pendingTimeoutMs"?: n, "logLevel"?: level}
 */
import { Registry } from "prom-client";
import { Writable } from "node:stream";
import { connect } from "@nats-io/transport-node";
import { startWorker } from "../../src/apply/worker.ts";
import { APPLIER_CONSUMER, ROUTER_CONSUMER } from "../../src/events/consumers.ts";
import { createJetStreamBus, ensureStreams } from "../../src/events/jetstream-bus.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import { createLogger } from "../../src/observability/logger.ts";

type Options = { nats: string; kubeconfig: string; ackWaitMs?: number; pendingTimeoutMs?: number; logLevel?: "debug" | "info" | "warn" | "silent" };
const options = JSON.parse(process.argv[2] ?? "{}") as Options;
const stderr = new Writable({ write: (c, _e, cb) => (process.stderr.write(c), cb()) });
const log = createLogger({ level: options.logLevel ?? "warn", destination: stderr });
const registry = new Registry();
const nc = await connect({ servers: options.nats, name: "fluxgate-test-worker" });
await ensureStreams(nc);
const ackWaitMs = options.ackWaitMs;
// A short ack wait lets a test see what a killed worker held come back quickly.
const consumer = (spec: typeof ROUTER_CONSUMER) => ({ ...spec, ...(ackWaitMs === undefined ? {} : { ackWaitMs }) });
const kube = createKubeClient({ kubeConfig: loadKubeConfig({ from: "kubeconfig", path: options.kubeconfig }).kubeConfig, log, registry });
const worker = startWorker({
  bus: createJetStreamBus(nc),
  kube,
  log,
  registry,
  router: { consumer: consumer(ROUTER_CONSUMER) },
  applier: { consumer: consumer(APPLIER_CONSUMER), ...(options.pendingTimeoutMs === undefined ? {} : { pendingTimeoutMs: options.pendingTimeoutMs }) },
});
await worker.running;
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.on("SIGTERM", () => {
  void worker.stop().then(async () => {
    await nc.close();
    process.exit(0);
  });
});
