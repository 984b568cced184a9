/**
 * What the worker tests share: the API emulator with the Flux CRDs, a namespace per test, workers on either bus
 * (the in-process one, or JetStream on a nats-server of the test's own), events published as the receiver does,
 * and the patches the emulator saw.
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { startWorker } from "../../src/apply/worker.ts";
import type { Worker, WorkerSettings } from "../../src/apply/worker.ts";
import type { Bus } from "../../src/events/bus.ts";
import type { ChangeEvent } from "../../src/events/change-event.ts";
import { createJetStreamBus, ensureStreams } from "../../src/events/jetstream-bus.ts";
import { createMemoryBus } from "../../src/events/memory-bus.ts";
import { eventSubject } from "../../src/events/streams.ts";
import { findFluxKind, fluxKind } from "../../src/flux/kinds.ts";
import type { FluxKindName } from "../../src/flux/kinds.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { loadKubeConfig } from "../../src/kube/kube-config.ts";
import type { KubeObject } from "../../src/kube/object.ts";
import type { ResourceType } from "../../src/kube/resource.ts";
import { FLUX_CRDS_DIR, startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";
import { startNats } from "../support/nats.ts";
import type { NatsServer } from "../support/nats.ts";
import { quietLogger } from "../support/quiet-logger.ts";

const NAMESPACE: ResourceType = { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false };

export type BusKind = "in-process" | "jetstream";

/** One bus for a test: every `bus()` is a new connection to it (a new process, as far as NATS can tell). */
export type TestBus = { kind: BusKind; bus(): Promise<Bus>; nats?: NatsServer; close(): Promise<void> };

export async function testBus(kind: BusKind): Promise<TestBus> {
  if (kind === "in-process") {
    const shared = createMemoryBus();
    return { kind, bus: async () => shared, close: () => shared.close() };
  }
  const nats = await startNats();
  const connections: NatsConnection[] = [];
  return {
    kind,
    nats,
    async bus() {
      const nc = await connect({ servers: nats.url });
      connections.push(nc);
      await ensureStreams(nc);
      return createJetStreamBus(nc);
    },
    async close() {
      for (const nc of connections) await nc.close().catch(() => {});
      await nats.stop();
    },
  };
}

export type Cluster = {
  emulator: KubeEmulator;
  kubeconfig: string;
  /** A client of its own (own metrics registry). */
  client(registry?: Registry): KubeClient;
  /** A fresh namespace, so tests never see each other's objects. */
  namespace(): Promise<string>;
  create(...objects: KubeObject[]): Promise<void>;
  /** Successful reconcile requests (merge patches by Fluxgate) on objects of a namespace, oldest first. */
  patches(namespace: string): Array<{ kind: string; name: string; index: number }>;
  stop(): Promise<void>;
};

const KIND_OF_RESOURCE = new Map<string, FluxKindName>(
  (["GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "ImageRepository", "Kustomization", "HelmRelease", "Bucket", "Receiver"] as const).map((k) => [fluxKind(k).plural, k]),
);

export async function startCluster(): Promise<Cluster> {
  const emulator = await startKubeEmulator({ crds: [FLUX_CRDS_DIR] });
  const kubeconfig = await emulator.kubeconfigPath();
  const client = (registry = new Registry()) => createKubeClient({ kubeConfig: loadKubeConfig({ from: "kubeconfig", path: kubeconfig }).kubeConfig, log: quietLogger(), registry });
  const admin = client();
  let n = 0;
  return {
    emulator,
    kubeconfig,
    client,
    async namespace() {
      const name = `w${++n}-${Date.now().toString(36)}`;
      await admin.create(NAMESPACE, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
      return name;
    },
    async create(...objects) {
      for (const o of objects) {
        const kind = findFluxKind(o.kind);
        if (kind === undefined) throw new Error(`no Flux kind ${o.kind}`);
        await admin.create(kind, o);
      }
    },
    patches(namespace) {
      const out: Array<{ kind: string; name: string; index: number }> = [];
      emulator.requests.forEach((r, index) => {
        if (r.verb === "patch" && r.status === 200 && r.namespace === namespace && r.subresource === undefined && r.query.fieldManager === "fluxgate") {
          out.push({ kind: KIND_OF_RESOURCE.get(r.resource ?? "") ?? r.resource ?? "", name: r.name ?? "", index });
        }
      });
      return out;
    },
    stop: () => emulator.stop(),
  };
}

/** A worker on `bus` with quick settings; its own client and registry. */
export function worker(cluster: Cluster, bus: Bus, extra: Partial<WorkerSettings> & { inventory?: { resyncMs?: number; absentRetryMs?: number } } = {}): Worker & { registry: Registry } {
  const registry = new Registry();
  const w = startWorker({ bus, kube: cluster.client(registry), log: quietLogger(), registry, ...extra });
  return Object.assign(w, { registry });
}

const encoder = new TextEncoder();

/** Publishes an event as the receiver does (subject by provider, message id = event id). */
export async function publishEvent(bus: Bus, event: ChangeEvent): Promise<void> {
  await bus.publish(eventSubject(event.provider), encoder.encode(JSON.stringify(event)), event.id);
}

/** The value of a counter or gauge with these labels (0 when never set). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const data = await m.get();
  // Histograms: the observation count.
  const named = data.values as Array<{ value: number; labels: object; metricName?: string }>;
  const values = named.some((v) => v.metricName !== undefined) ? named.filter((v) => v.metricName === `${name}_count`) : named;
  const matching = values.filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want));
  return matching.reduce((sum, v) => sum + v.value, 0);
}
