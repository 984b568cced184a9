/**
 * Starts the listeners of the roles a process runs, wires readiness, metrics, certificate reload and config
 * reload, and shuts it all down gracefully. The `serve` command is this plus signal handling.
 */
import { stat } from "node:fs/promises";
import { hostname } from "node:os";
import { isAbsolute, join } from "node:path";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../config/schema.ts";
import type { Bus } from "../events/bus.ts";
import { createMemoryBus } from "../events/memory-bus.ts";
import type { BusConnection } from "../events/nats-connection.ts";
import { buildReceiverIndex } from "../webhooks/receiver-index.ts";
import type { ReceiverIndex } from "../webhooks/receiver-index.ts";
import { receiverApp } from "../webhooks/receiver-route.ts";
import { evaluate } from "../admission/evaluate.ts";
import { admissionApp } from "../admission/route.ts";
import { watchClusterReceivers } from "../webhooks/cluster-receivers.ts";
import type { ClusterReceivers } from "../webhooks/cluster-receivers.ts";
import { mergeReceiverIndexes } from "../webhooks/receiver-index.ts";
import { clusterAccess } from "../kube/cluster-access.ts";
import { staticNamespaceLabels, watchNamespaceLabels } from "../kube/namespace-labels.ts";
import type { NamespaceLabelSource } from "../kube/namespace-labels.ts";
import { startWorker } from "../apply/worker.ts";
import type { HeldTrigger } from "../apply/applier.ts";
import { staticInventory } from "../apply/inventory.ts";
import { loadStaticCluster, staticPolicy } from "../manifests/static-cluster.ts";
import type { StaticCluster } from "../manifests/static-cluster.ts";
import type { AdmissionInput, Phase } from "../admission/rule.ts";
import { recordBreakGlassUse } from "../policy/break-glass.ts";
import type { ClusterPolicies } from "../policy/cluster-policies.ts";
import { findTenant } from "../policy/tenant-namespaces.ts";
import { windowHold } from "../policy/window-decision.ts";
import { windowMetrics } from "../policy/window-metrics.ts";
import { createMetrics } from "../observability/metrics.ts";
import { healthApp, identityRoute, metricsApp } from "./app.ts";
import { listen } from "./listen.ts";
import { deliveryLog, statusApp } from "./status.ts";
import type { Listener, TlsPair } from "./listen.ts";
import { Readiness } from "./readiness.ts";
import { createRequestPipeline } from "./request-pipeline.ts";
import type { Fetch, RequestPipeline } from "./request-pipeline.ts";
import { openTlsSource } from "./tls-source.ts";
import type { TlsSource } from "./tls-source.ts";

export type ListenerName = "admission" | "receiver" | "metrics" | "health";

/** Routes a later role adds to a listener (the admission review, the webhook receiver). */
export type RouteSet = Partial<Record<"admission" | "receiver", { fetch: Fetch }>>;

export type StartOptions = {
  log: Logger;
  /** Resolves relative paths in the config (tls.dir); the config file's folder or the working directory. */
  baseDir: string;
  routes?: RouteSet;
  /** Injected for tests; a fresh registry otherwise. */
  registry?: Registry;
  /** The configuration file, for messages about receivers' secrets. */
  configFile?: string;
  /** Environment for receivers' `secret.env`; the process's by default. */
  env?: Record<string, string | undefined>;
  /** Clock for event timestamps (tests). */
  now?: () => Date;
  /**
   * A folder of manifests standing in for a cluster (`serve --manifests`): its Flux objects are the worker's
   * inventory (reconciles only logged), its Receivers are served, its FluxgatePolicies merged. `always` uses it
   * even when a cluster is reachable; `no-cluster` only when none is (the embedded trial), and a missing folder
   * is then no error.
   */
  manifests?: { dir: string; when: "always" | "no-cluster" };
};

export type RunningServer = {
  listeners: Partial<Record<ListenerName, Listener>>;
  readiness: Readiness;
  registry: Registry;
  /** The bus the receiver publishes to (in-process, or JetStream once connected). */
  bus(): Bus | undefined;
  pipeline: RequestPipeline;
  /** The serving certificate source, when a TLS listener runs. */
  tls?: TlsSource;
  /** Applies a reloaded config: what can change live does; the rest is logged as needing a restart. */
  reconfigure(next: Config): void;
  /** Renews the generated certificate if it is due (also runs on a timer). */
  renewCertificates(): Promise<void>;
  /** Not ready at once, then stop accepting and let in-flight requests finish (force-closed after the timeout). */
  shutdown(): Promise<void>;
};

const CERT_RENEWAL_CHECK_MS = 60 * 60 * 1000;

/**
 * Starts everything the configured roles need.
 * @example const server = await startServer(defaultConfig(), { log, baseDir: process.cwd() })
 */
export async function startServer(initial: Config, options: StartOptions): Promise<RunningServer> {
  const { log } = options;
  let config = initial;
  const registry = options.registry ?? createMetrics().registry;
  const readiness = new Readiness();
  const pipeline = createRequestPipeline(log, registry, {
    bodyLimit: () => config.http.bodyLimit,
    requestTimeoutMs: () => config.http.requestTimeout,
  });
  const roles = new Set(config.roles);
  const listeners: Partial<Record<ListenerName, Listener>> = {};
  const closers: Array<() => void | Promise<void>> = [];
  const abort = new AbortController();
  // The runtime's own body cap, a backstop behind the pipeline's 413; fixed per listener, so a reload may raise
  // http.bodyLimit up to it without a restart.
  const bodyCeiling = Math.max(config.http.bodyLimit + 64 * 1024, 16 * 1024 * 1024);
  const serveOn = async (name: ListenerName, fetch: Fetch, tls?: TlsPair): Promise<Listener> => {
    const addr = config.listen[name];
    const l = await listen({
      name,
      host: addr.host,
      port: addr.port,
      fetch: pipeline.wrap(name, fetch),
      ...(tls === undefined ? {} : { tls }),
      maxRequestBodySize: bodyCeiling,
      idleTimeoutMs: 65_000,
    });
    listeners[name] = l;
    log.info({ listener: name, url: l.url, tls: l.secure }, "listening");
    return l;
  };

  // The cluster, when there is one to use: Flux Receivers, FluxgatePolicies and the worker's inventory come from
  // it, or from a folder of manifests standing in for it. Read before any listener, so bad manifests end the start.
  const cluster = await clusterAccess(config.kube, options.env ?? process.env);
  const manifests = await manifestsToUse(options, cluster !== undefined, log);
  const withManifests = manifests === undefined ? (p: Config["policy"]) => p : staticPolicy(manifests, config.policy);

  // Health and metrics first, so a probe sees "not ready" (and why) while the rest starts.
  const deliveries = deliveryLog(100);
  // The status page reads the policy lazily: it is set up further down (file, then cluster FluxgatePolicies).
  let policyOf: () => Config["policy"] = () => config.policy;
  let held: () => HeldTrigger[] = () => [];
  await serveOn("health", healthApp(readiness, log).use(statusApp({ log, readiness, roles: [...roles], policy: () => policyOf(), deliveries: () => deliveries.list(), held: () => held(), ...(options.now === undefined ? {} : { now: options.now }) })).fetch);
  await serveOn("metrics", metricsApp(registry, log).fetch);

  // Serving certificate: given files, or a self-signed pair generated (and renewed) under tls.dir.
  const tlsListeners: ListenerName[] = [];
  if (roles.has("admission")) tlsListeners.push("admission");
  if (roles.has("receiver") && config.tls.receiver) tlsListeners.push("receiver");
  let tls: TlsSource | undefined;
  let renewCertificates = async () => {};
  if (tlsListeners.length > 0) {
    readiness.register("tls", "no serving certificate loaded yet");
    let certFile = config.tls.certFile;
    let keyFile = config.tls.keyFile;
    if (certFile === undefined || keyFile === undefined) {
      const dir = isAbsolute(config.tls.dir) ? config.tls.dir : join(options.baseDir, config.tls.dir);
      // The issuing code (and @peculiar/x509 with it) is loaded only here: mounted certificates never need it.
      const { ensureCerts } = await import("../../certs/store.ts");
      const ensure = async () => {
        const r = await ensureCerts(dir, {
          service: config.tls.service,
          namespace: config.tls.namespace,
          extraDnsNames: config.tls.dnsNames,
          extraIps: config.tls.ipAddresses,
        });
        if (r.issued !== "none") log.info({ dir, issued: r.issued, notAfter: r.notAfter.toISOString() }, "issued self-signed serving certificate");
        return r;
      };
      const r = await ensure();
      certFile = r.certFile;
      keyFile = r.keyFile;
      renewCertificates = async () => {
        await ensure();
        await tls?.check();
      };
      const timer = setInterval(() => void renewCertificates().catch((e) => log.error({ err: e }, "certificate renewal failed")), CERT_RENEWAL_CHECK_MS);
      timer.unref?.();
      closers.push(() => clearInterval(timer));
    }
    tls = await openTlsSource({
      certFile,
      keyFile,
      intervalMs: config.tls.reloadInterval,
      log,
      registry,
      onChange: async (pair) => {
        await Promise.all(tlsListeners.map((n) => listeners[n]?.setTls(pair)));
      },
    });
    closers.push(() => tls?.close());
  }

  // Bus: NATS JetStream when configured, else the in-process bus of the embedded mode, which is always there.
  let bus: Bus | undefined;
  if (roles.has("receiver") || roles.has("worker")) {
    const url = config.bus.url;
    if (url === undefined) {
      bus = createMemoryBus();
      readiness.set("bus", true, "in-process bus");
    } else {
      readiness.register("bus", "connecting to NATS");
      // Loaded only when NATS is configured: the embedded mode never pays for the client. Connecting runs in the
      // background: the listeners start at once, /readyz says "bus" and the receiver answers 503 until NATS answers.
      const { connectBus } = await import("../events/nats-connection.ts");
      const { createJetStreamBus, ensureStreams } = await import("../events/jetstream-bus.ts");
      let connection: BusConnection | undefined;
      let streamsReady = false;
      const connecting = connectBus({
        servers: url,
        name: config.bus.name,
        signal: abort.signal,
        onStatus: (connected, reason) => {
          readiness.set("bus", connected && streamsReady, connected && !streamsReady ? "connected; creating streams" : reason);
          if (connected) log.info({ reason }, "bus connected");
          else log.warn({ reason }, "bus not connected");
        },
      }).then(
        async (c) => {
          connection = c;
          await ensureStreams(c.nc);
          streamsReady = true;
          bus = createJetStreamBus(c.nc, { connected: () => c.connected() });
          readiness.set("bus", c.connected(), "connected; streams ready");
        },
        (e: unknown) => {
          if (abort.signal.aborted) return;
          readiness.set("bus", false, (e as Error).message);
          log.error({ err: e }, "cannot connect to NATS; not ready until restarted with a working bus configuration");
        },
      ).catch((e: unknown) => {
        readiness.set("bus", false, `JetStream streams could not be created: ${(e as Error).message}`);
        log.error({ err: e }, "JetStream streams could not be created (is JetStream enabled on the server?)");
      });
      closers.push(async () => {
        await connecting;
        await connection?.close();
      });
    }
  }

  const kube = cluster === undefined || manifests !== undefined ? undefined : (await import("../kube/client.ts")).createKubeClient({ kubeConfig: cluster.kubeConfig, log, registry });
  if (kube !== undefined) log.info({ cluster: cluster?.description }, "using the cluster");
  else if (manifests !== undefined) {
    log.info({ dir: manifests.dir, objects: manifests.inventory.length, receivers: manifests.receivers.map((r) => ({ receiver: `${r.namespace}/${r.name}`, path: r.path })), policies: manifests.policies.map((p) => p.name), ignored: manifests.ignored }, "using manifests instead of a cluster; the worker only logs the reconciles it would request");
  }

  // Policy: the file's, merged with the cluster's FluxgatePolicy objects when there is a cluster (src/policy).
  let clusterPolicies: ClusterPolicies | undefined;
  if (kube !== undefined && (roles.has("admission") || roles.has("worker"))) {
    readiness.register("policies", "reading the cluster's FluxgatePolicies");
    const { watchClusterPolicies } = await import("../policy/cluster-policies.ts");
    const watching = watchClusterPolicies({
      client: kube,
      log,
      base: config.policy,
      reportStatus: roles.has("admission"), // only the gate writes status.conditions
      onChange: () => {
        if (clusterPolicies?.synced() === true) readiness.set("policies", true, clusterPolicies.describe());
      },
    });
    clusterPolicies = watching;
    watching.whenSynced.then(
      () => readiness.set("policies", true, watching.describe()),
      (e: unknown) => readiness.set("policies", false, String((e as Error).message)),
    );
    closers.push(() => watching.stop());
  }
  const currentPolicy = () => clusterPolicies?.policy() ?? withManifests(config.policy);
  policyOf = currentPolicy;
  // Tenants may own namespaces by label, which a review does not carry: the namespaces are watched (or read from
  // the manifests), and a namespace the watch has not delivered yet is read before its request is judged.
  let namespaces: NamespaceLabelSource | undefined;
  if (manifests !== undefined) namespaces = staticNamespaceLabels(manifests.namespaces);
  else if (kube !== undefined && (roles.has("admission") || roles.has("worker"))) {
    readiness.register("namespaces", "listing namespaces (tenants may own them by label)");
    const watching = watchNamespaceLabels({ client: kube, log });
    namespaces = watching;
    watching.whenSynced.then(
      () => readiness.set("namespaces", true, "namespaces listed"),
      (e: unknown) => readiness.set("namespaces", false, String((e as Error).message)),
    );
    closers.push(() => watching.stop());
  }
  const namespaceLabels = namespaces?.labels;
  const tenantOf = (ns: string) => findTenant(currentPolicy(), ns, namespaceLabels)?.tenant.name;
  const windows = windowMetrics(registry);
  windows.observe({ policy: currentPolicy });

  // Freeze: suspend what a closed window with `freeze: true` covers, resume it after; one replica at a time (Lease).
  if (kube !== undefined && roles.has("worker")) {
    const { startFreezeController } = await import("../apply/freeze.ts");
    const freeze = startFreezeController({
      client: kube,
      log,
      registry,
      policy: currentPolicy,
      tenantOf,
      leaseNamespace: (options.env ?? process.env).POD_NAMESPACE ?? config.tls.namespace,
      identity: (options.env ?? process.env).POD_NAME ?? hostname(),
    });
    closers.push(() => freeze.stop());
  }

  // Receivers: from the configuration file, merged with the cluster's Flux Receiver objects.
  let configReceivers: ReceiverIndex = { byPath: new Map(), all: [] };
  let receivers: ReceiverIndex = configReceivers;
  let clusterReceivers: ClusterReceivers | undefined;
  const mergeReceivers = () => {
    receivers = mergeReceiverIndexes(configReceivers, clusterReceivers?.all() ?? manifests?.receivers ?? [], (path, kept, dropped) =>
      log.warn({ path, kept: `${kept.namespace}/${kept.name}`, dropped: `${dropped.namespace}/${dropped.name}` }, "a cluster Receiver has the path of a configured receiver; the configured one is served"),
    );
  };
  const buildReceivers = (c: Config) => buildReceiverIndex(c.receivers, { file: options.configFile ?? "(embedded defaults)", env: options.env ?? process.env, baseDir: options.baseDir });
  if (roles.has("receiver")) {
    configReceivers = await buildReceivers(config);
    mergeReceivers();
    if (kube !== undefined) {
      readiness.register("receivers", "reading the cluster's Flux Receivers");
      const watching = watchClusterReceivers({ client: kube, log, onChange: mergeReceivers });
      clusterReceivers = watching;
      watching.whenSynced.then(
        () => readiness.set("receivers", true, `${watching.all().length} cluster receiver(s)`),
        (e: unknown) => readiness.set("receivers", false, String((e as Error).message)),
      );
      closers.push(() => watching.stop());
    }
  }
  // The apply worker: the cluster's inventory, then the router and applier on the bus (src/apply/worker.ts).
  if (roles.has("worker")) {
    const w = config.worker;
    const settings = {
      bus: () => bus,
      log,
      registry,
      router: { concurrency: w.routeBatch },
      applier: { concurrency: w.applyConcurrency, maxHoldMs: w.maxHold, pendingTimeoutMs: w.pendingTimeout },
      holdUntil: windowHold(currentPolicy, tenantOf),
      onRouted: deliveries.routed,
      onOutcome: deliveries.outcome,
      ...(options.now === undefined ? {} : { now: options.now }),
    };
    const worker =
      kube !== undefined
        ? startWorker({ ...settings, kube, inventory: { resyncMs: w.resync } })
        : manifests !== undefined
          ? startWorker({ ...settings, kube: "dry-run", inventory: staticInventory(manifests.inventory, manifests.dir) })
          : undefined;
    if (worker === undefined) log.info("worker idle: no cluster, and no --manifests folder to stand in for one");
    else {
      readiness.register("inventory", kube === undefined ? "reading manifests" : "listing the cluster's Flux objects");
      worker.inventory.whenSynced().then(() => readiness.set("inventory", true, worker.inventory.describe()), () => {});
      held = () => worker.held();
      closers.push(() => worker.stop());
    }
  }

  const receiverRoutes = () =>
    options.routes?.receiver?.fetch ??
    receiverApp({ log, registry, bus: () => bus, receivers: () => receivers, bodyLimit: () => config.http.bodyLimit, record: (d) => deliveries.record(d), ...(options.now === undefined ? {} : { now: options.now }) }).use(identityRoute("receiver")).fetch;

  // The policy is read on every review, so a reload or a FluxgatePolicy change applies at once.
  const judge = async (input: AdmissionInput, phase: Phase) => {
    const policy = currentPolicy();
    if (namespaces !== undefined && policy.tenants.some((t) => t.namespaceSelector !== undefined)) await namespaces.ensure(input.namespace);
    const decision = evaluate(input, policy, phase, namespaceLabels === undefined ? {} : { namespaceLabels });
    if (decision.breakGlass !== undefined) recordBreakGlassUse(decision.breakGlass, { log, metrics: windows });
    return decision;
  };
  const admissionRoutes = () =>
    admissionApp({ log, registry, evaluate: judge, bodyLimit: () => config.http.bodyLimit, ...(options.now === undefined ? {} : { now: options.now }) }).use(identityRoute("admission")).fetch;

  const startTlsListeners = async () => {
    if (tls === undefined) return;
    const pair = await tls.ready(abort.signal);
    for (const name of tlsListeners) {
      const fetch = name === "receiver" ? receiverRoutes() : (options.routes?.admission?.fetch ?? admissionRoutes());
      await serveOn(name, fetch, pair);
    }
    readiness.set("tls", true, "serving certificate loaded");
  };
  // The admission listener waits for a valid certificate (a Secret volume can be mounted after start).
  const tlsStarted = startTlsListeners().catch((e) => {
    if (!abort.signal.aborted) {
      readiness.set("tls", false, String((e as Error).message ?? e));
      log.error({ err: e }, "TLS listeners could not start");
    }
  });
  if (tls?.current() !== undefined) await tlsStarted;

  if (roles.has("receiver") && !tlsListeners.includes("receiver")) {
    await serveOn("receiver", receiverRoutes());
  }

  const reconfigure = (next: Config) => {
    const restartNeeded: string[] = [];
    for (const key of ["roles", "listen", "tls", "bus", "kube", "worker"] as const) {
      if (JSON.stringify(next[key]) !== JSON.stringify(config[key])) restartNeeded.push(key);
    }
    if (next.http.bodyLimit > bodyCeiling) restartNeeded.push(`http.bodyLimit (above the listeners' cap of ${bodyCeiling} bytes)`);
    if (next.log.level !== config.log.level) log.level = next.log.level;
    clusterPolicies?.setBase(next.policy);
    if (roles.has("receiver") && JSON.stringify(next.receivers) !== JSON.stringify(config.receivers)) {
      buildReceivers(next).then(
        (index) => {
          configReceivers = index;
          mergeReceivers();
          log.info({ receivers: index.all.map((r) => `${r.namespace}/${r.name}`) }, "receivers reloaded");
        },
        (e: unknown) => log.error({ err: e }, "receivers not reloaded; keeping the previous ones"),
      );
    }
    config = next;
    if (restartNeeded.length > 0) log.warn({ keys: restartNeeded }, "configuration reloaded; these settings apply after a restart");
    else log.info("configuration reloaded");
  };

  let shuttingDown: Promise<void> | undefined;
  const shutdown = () => {
    shuttingDown ??= (async () => {
      readiness.shutdown();
      abort.abort(new Error("shutting down"));
      log.info({ inFlight: pipeline.inFlight(), timeoutMs: config.http.shutdownTimeout, delayMs: config.http.shutdownDelay }, "shutting down");
      // Keep serving while load balancers and the apiserver notice we are not ready any more.
      if (config.http.shutdownDelay > 0) await new Promise((r) => setTimeout(r, config.http.shutdownDelay));
      const all = Object.values(listeners);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), config.http.shutdownTimeout);
      });
      const drained = Promise.all(all.map((l) => l.close(false))).then(() => "drained" as const);
      const result = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      if (result === "timeout") {
        log.warn({ inFlight: pipeline.inFlight() }, "shutdown timeout: closing open connections");
        await Promise.all(all.map((l) => l.close(true)));
      }
      await tlsStarted;
      for (const c of closers.reverse()) await c();
      log.info("stopped");
    })();
    return shuttingDown;
  };

  return {
    listeners,
    readiness,
    registry,
    pipeline,
    ...(tls === undefined ? {} : { tls }),
    reconfigure,
    renewCertificates: () => renewCertificates(),
    bus: () => bus,
    shutdown,
  };
}

/** The folder of manifests standing in for the cluster, read, when one applies (see `StartOptions.manifests`). */
async function manifestsToUse(options: StartOptions, haveCluster: boolean, log: Logger): Promise<StaticCluster | undefined> {
  const m = options.manifests;
  if (m === undefined) return undefined;
  if (m.when === "no-cluster") {
    if (haveCluster) return undefined;
    try {
      await stat(m.dir);
    } catch {
      log.info({ dir: m.dir }, "no cluster, and no example manifests to stand in for one");
      return undefined;
    }
  } else if (haveCluster) log.warn({ dir: m.dir }, "a cluster is reachable, but --manifests was given: using the manifests, not the cluster");
  return loadStaticCluster(m.dir, options.baseDir);
}
