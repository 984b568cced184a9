/**
 * The cluster's Flux sources and Receivers, from list+watch (the informers resume after 410 Gone by relisting, and
 * resync periodically), indexed for targeting. The kinds a Receiver's resources name (Kustomization, HelmRelease,
 * …) are watched from the moment a Receiver names them. A kind the cluster does not serve (image automation not
 * installed) counts as synced and empty, and is looked for again every minute.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { findFluxKind, fluxKind } from "../flux/kinds.ts";
import type { FluxKindName } from "../flux/kinds.ts";
import type { KubeClient } from "../kube/client.ts";
import { createInformer } from "../kube/informer.ts";
import type { Informer } from "../kube/informer.ts";
import type { KubeObject } from "../kube/object.ts";
import { isKubeApiError } from "../errors.ts";
import { InventoryIndex, inventoryOf } from "./inventory-index.ts";
import type { InventorySnapshot } from "./inventory-index.ts";
import { inventoryObject } from "./inventory-object.ts";
import type { InventoryObject } from "./inventory-object.ts";
import { workerMetrics } from "./metrics.ts";

/** Watched whatever the Receivers say: what URL targeting and smart filtering look up. */
export const BASE_KINDS: readonly FluxKindName[] = ["GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "ImageRepository", "Receiver"];

export type InventoryOptions = {
  client: KubeClient;
  log: Logger;
  registry: Registry;
  /** Replay the caches this often (informer resync); default 10 min. */
  resyncMs?: number;
  /** How often a kind the cluster did not serve is looked for again; default 60 s. */
  absentRetryMs?: number;
};

/** Told about every change: the object now (undefined once deleted) and before (undefined when new). */
export type InventoryListener = (current: InventoryObject | undefined, previous: InventoryObject | undefined) => void;

export type Inventory = {
  /** The live index; read it synchronously. */
  readonly snapshot: InventorySnapshot;
  /** Every watched kind has been listed. */
  synced(): boolean;
  /** Resolves once `synced()` (rejects when stopped first). */
  whenSynced(): Promise<void>;
  /** What `/readyz` says while not synced, and after. */
  describe(): string;
  /** Adds a listener; returns a function removing it. */
  onChange(listener: InventoryListener): () => void;
  /**
   * A copy of an object fresher than the watch may have delivered yet (the answer to our own patch): taken when its
   * resourceVersion is newer than the one held.
   */
  observe(object: KubeObject): void;
  stop(): Promise<void>;
};

type Watched = { informer: Informer<KubeObject> | undefined; absent: boolean };

/**
 * Starts watching.
 * @example const inventory = startInventory({ client: kube, log, registry }); await inventory.whenSynced();
 */
export function startInventory(options: InventoryOptions): Inventory {
  const { client, log } = options;
  const index = new InventoryIndex();
  const metrics = workerMetrics(options.registry);
  const listeners = new Set<InventoryListener>();
  const watched = new Map<FluxKindName, Watched>();
  const reported = new Map<string, string>();
  const syncWaiters = new Set<{ resolve: () => void; reject: (e: Error) => void }>();
  let stopped = false;

  const synced = () => [...watched.values()].every((w) => w.absent || w.informer?.synced() === true);
  const checkSynced = () => {
    if (!synced()) return;
    for (const w of syncWaiters) w.resolve();
    syncWaiters.clear();
  };
  const emit = (current: InventoryObject | undefined, previous: InventoryObject | undefined) => {
    for (const l of listeners) {
      try {
        l(current, previous);
      } catch (e) {
        log.error({ err: e }, "inventory listener failed");
      }
    }
  };
  const updateGauge = () => {
    for (const [kind, n] of index.counts()) metrics.inventoryObjects.set({ kind }, n);
  };

  const put = (raw: KubeObject) => {
    const kind = findFluxKind(raw.kind)?.kind;
    const previous = kind === undefined || raw.metadata.namespace === undefined ? undefined : index.get(kind, raw.metadata.namespace, raw.metadata.name);
    const o = inventoryObject(raw, previous);
    if (o === undefined) return;
    index.put(o);
    if (o.spec.type === "receiver") receiverChanged(o);
    emit(o, previous);
  };
  const remove = (raw: KubeObject) => {
    const o = inventoryObject(raw);
    if (o === undefined) return;
    const previous = index.get(o.kind, o.namespace, o.name);
    index.remove(o.kind, o.namespace, o.name);
    if (previous !== undefined) emit(undefined, previous);
  };

  const receiverChanged = (o: InventoryObject) => {
    if (o.spec.type !== "receiver") return;
    const id = `${o.namespace}/${o.name}`;
    const problems = [...o.spec.problems, ...o.spec.caveats].join("; ");
    if (problems !== "" && reported.get(id) !== problems) log.warn({ receiver: id, problems }, "Flux Receiver resources Fluxgate cannot target");
    reported.set(id, problems);
    for (const r of o.spec.resources) watch(r.kind);
  };

  /** Starts an informer for `kind` once the cluster is known to serve it. */
  const watch = (kind: FluxKindName) => {
    if (watched.has(kind) || stopped) return;
    const entry: Watched = { informer: undefined, absent: false };
    watched.set(kind, entry);
    void probe(kind, entry);
  };
  const probe = async (kind: FluxKindName, entry: Watched): Promise<void> => {
    const type = fluxKind(kind);
    while (!stopped) {
      try {
        // An empty list answers "served"; 404 "not served". A selector that matches nothing keeps it cheap.
        await client.list(type, { labelSelector: "fluxgate.io/probe=none", pageSize: 1 });
      } catch (e) {
        if (isKubeApiError(e) && e.status === 404) {
          if (!entry.absent) log.warn({ kind }, "the cluster does not serve this Flux kind; treating it as empty");
          entry.absent = true;
          checkSynced();
          await sleep(options.absentRetryMs ?? 60_000);
          continue;
        }
        // Anything else (RBAC, connection): the informer reports and retries it; readiness says not synced.
      }
      if (stopped) return;
      entry.absent = false;
      const informer = createInformer<KubeObject>({ client, type, resyncMs: options.resyncMs ?? 600_000 });
      entry.informer = informer;
      informer.on({ add: put, update: (_, o) => put(o), delete: remove });
      informer.start();
      informer.whenSynced.then(
        () => {
          updateGauge();
          checkSynced();
        },
        () => {},
      );
      return;
    }
  };

  let timers: Array<ReturnType<typeof setTimeout>> = [];
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers = timers.filter((x) => x !== t);
        resolve();
      }, ms);
      t.unref?.();
      timers.push(t);
    });
  const gaugeTimer = setInterval(updateGauge, 15_000);
  gaugeTimer.unref?.();

  for (const kind of BASE_KINDS) watch(kind);

  return {
    snapshot: index,
    synced,
    whenSynced() {
      if (synced()) return Promise.resolve();
      if (stopped) return Promise.reject(new Error("inventory stopped"));
      return new Promise((resolve, reject) => syncWaiters.add({ resolve, reject }));
    },
    describe() {
      const waiting = [...watched].filter(([, w]) => !w.absent && w.informer?.synced() !== true).map(([k]) => k);
      if (waiting.length > 0) return `listing ${waiting.join(", ")}`;
      const counts = index.counts();
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      return `${total} Flux object(s) in ${watched.size} kind(s)`;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    observe(raw) {
      const o = inventoryObject(raw);
      if (o === undefined) return;
      const held = index.get(o.kind, o.namespace, o.name);
      if (held !== undefined && !newer(o.resourceVersion, held.resourceVersion)) return;
      put(raw);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(gaugeTimer);
      for (const t of timers) clearTimeout(t);
      for (const w of syncWaiters) w.reject(new Error("inventory stopped"));
      syncWaiters.clear();
      await Promise.all([...watched.values()].map((w) => w.informer?.stop()));
    },
  };
}

/**
 * Whether resourceVersion `a` is newer than `b`. They are opaque to clients, but every API server hands out etcd
 * revisions, which are integers; anything else is taken as newer, and a stale guess only costs a 409 later.
 */
function newer(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return true;
  return BigInt(a) > BigInt(b);
}

/**
 * An inventory that never changes: the objects of `serve --manifests`, synced from the start. Our own (dry-run)
 * requests are not written back, so each event is decided on the objects as the manifests give them.
 * @example const inventory = staticInventory(cluster.inventory, `examples/trial`)
 */
export function staticInventory(objects: Iterable<InventoryObject>, from: string): Inventory {
  const index = inventoryOf(objects);
  const total = [...index.counts().values()].reduce((a, b) => a + b, 0);
  return {
    snapshot: index,
    synced: () => true,
    whenSynced: () => Promise.resolve(),
    describe: () => `${total} Flux object(s) from ${from}`,
    onChange: () => () => {},
    observe: () => {},
    stop: () => Promise.resolve(),
  };
}
