/**
 * A local, always-current copy of one resource type (the Flux objects Fluxgate targets), as client-go's informers
 * keep one: list, then watch from the list's resourceVersion with bookmarks; when the server ends a watch, resume
 * from the last version seen; on 410 Gone (an ERROR event or an HTTP 410) list again and report the difference;
 * on other failures resume after back-off. Handlers hear add/update/delete; a periodic resync replays the cache
 * to them as updates (no API call), so a missed side effect gets another chance.
 */
import type { z } from "zod";
import { isKubeApiError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { KubeClient, WatchEvent } from "./client.ts";
import { kubeObjectSchema, objectKey } from "./object.ts";
import type { KubeObject } from "./object.ts";
import { resourceName } from "./resource.ts";
import type { ResourceType } from "./resource.ts";
import { backoffDelay, systemClock } from "./retry-policy.ts";
import type { BackoffOptions, RetryClock } from "./retry-policy.ts";

/** What an informer tells its handlers. Objects are the cache's own: read them, do not change them. */
export type InformerHandlers<T> = {
  add?(object: T): void;
  update?(previous: T, current: T): void;
  /** The last state seen (from the DELETED event, or the cache when a relist found it gone). */
  delete?(object: T): void;
};

export type InformerOptions<T extends KubeObject> = {
  client: KubeClient;
  type: ResourceType;
  /** Omit to watch every namespace. */
  namespace?: string;
  labelSelector?: string;
  /** Narrows objects to the caller's type; objects that do not parse are logged and left out of the cache. */
  schema?: z.ZodType<T>;
  /** Replay the cache to handlers as updates this often; 0 (default) never. */
  resyncMs?: number;
  /** `timeoutSeconds` asked of each watch. Default: at random in [300, 600), as client-go, so watches do not end together. */
  watchTimeoutSeconds?: number;
  /** Back-off after failed lists and watches. Default 800 ms doubling to 30 s, as client-go's reflector. */
  backoff?: BackoffOptions;
  /** Default: the real clock. */
  clock?: RetryClock;
};

/** A running informer; see `createInformer`. */
export type Informer<T extends KubeObject> = {
  /** `plural.group`, as in metrics and logs. */
  readonly resource: string;
  /** Resolves after the first complete list; rejects if stopped before. */
  readonly whenSynced: Promise<void>;
  /** Starts listing and watching; returns the informer. */
  start(): Informer<T>;
  /** Stops watching and waits for the loop to end. */
  stop(): Promise<void>;
  /** Adds handlers (after a sync they first hear an `add` for every cached object); returns a function removing them. */
  on(handlers: InformerHandlers<T>): () => void;
  /** True once the first list is in the cache. */
  synced(): boolean;
  get(namespace: string | undefined, name: string): T | undefined;
  /** Cached objects, of one namespace or all; in no particular order. */
  list(namespace?: string): T[];
  /** The last resourceVersion seen (list, event or bookmark). */
  resourceVersion(): string | undefined;
};

const DEFAULT_BACKOFF: BackoffOptions = { baseDelayMs: 800, maxDelayMs: 30_000, jitter: 0.5 };

/** A watch that ends this fast without an event is treated like a failure, so a misbehaving server is not hammered. */
const SHORT_WATCH_MS = 1000;

type RestartReason = "closed" | "timeout" | "error" | "expired";

/**
 * Creates an informer; call `start()`.
 * @example
 * const ks = createInformer({ client: kube, type: fluxKind("Kustomization") }).start();
 * ks.on({ update: (old, cur) => log.info({ name: cur.metadata.name }, "changed") });
 * await ks.whenSynced;
 */
export function createInformer<T extends KubeObject = KubeObject>(options: InformerOptions<T>): Informer<T> {
  const { client, type } = options;
  const resource = resourceName(type);
  const log: Logger = client.log.child({ informer: resource, namespace: options.namespace });
  const clock = options.clock ?? systemClock;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const schema = (options.schema ?? kubeObjectSchema) as z.ZodType<T>;
  const handlers = new Set<InformerHandlers<T>>();
  let cache = new Map<string, T>();
  let rv: string | undefined;
  let isSynced = false;
  let stopped = false;
  let running: Promise<void> | undefined;
  let resyncTimer: ReturnType<typeof setInterval> | undefined;
  const abort = new AbortController();

  let resolveSynced: () => void = () => {};
  let rejectSynced: (e: Error) => void = () => {};
  const whenSynced = new Promise<void>((resolve, reject) => {
    resolveSynced = resolve;
    rejectSynced = reject;
  });
  whenSynced.catch(() => {}); // only callers who wait care; no unhandled rejection otherwise

  function emit(call: (h: InformerHandlers<T>) => void, what: string, object: T): void {
    for (const h of handlers) {
      try {
        call(h);
      } catch (e) {
        log.error({ err: e, event: what, name: object.metadata.name, objectNamespace: object.metadata.namespace }, "informer handler failed");
      }
    }
  }
  const emitAdd = (o: T) => emit((h) => h.add?.(o), "add", o);
  const emitUpdate = (p: T, c: T) => emit((h) => h.update?.(p, c), "update", c);
  const emitDelete = (o: T) => emit((h) => h.delete?.(o), "delete", o);

  function narrow(object: KubeObject): T | undefined {
    const r = schema.safeParse(object);
    if (r.success) return r.data;
    log.warn({ name: object.metadata.name, objectNamespace: object.metadata.namespace, issues: r.error.issues.slice(0, 5) }, "object does not match the informer's schema; left out");
    return undefined;
  }

  const keyOf = (o: KubeObject) => objectKey(o.metadata.namespace, o.metadata.name);

  /** Swaps in a fresh list and tells handlers what changed since the cache was last current. */
  function replace(items: KubeObject[]): void {
    const next = new Map<string, T>();
    for (const item of items) {
      const o = narrow(item);
      if (o !== undefined) next.set(keyOf(o), o);
    }
    const previous = cache;
    cache = next;
    for (const [key, o] of next) {
      const old = previous.get(key);
      if (old === undefined) emitAdd(o);
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) emitUpdate(old, o);
    }
    for (const [key, old] of previous) if (!next.has(key)) emitDelete(old);
  }

  function apply(event: WatchEvent): void {
    if (event.type === "BOOKMARK") {
      rv = event.resourceVersion;
      return;
    }
    if (event.type === "ERROR") return;
    rv = event.object.metadata.resourceVersion ?? rv;
    const key = keyOf(event.object);
    const old = cache.get(key);
    if (event.type === "DELETED") {
      cache.delete(key);
      const gone = narrow(event.object) ?? old;
      if (gone !== undefined) emitDelete(gone);
      return;
    }
    const o = narrow(event.object);
    if (o === undefined) {
      if (old !== undefined) {
        cache.delete(key);
        emitDelete(old);
      }
      return;
    }
    if (old !== undefined && old.metadata.resourceVersion === o.metadata.resourceVersion) return;
    cache.set(key, o);
    if (old === undefined) emitAdd(o);
    else emitUpdate(old, o);
  }

  async function pause(failures: number): Promise<void> {
    try {
      await clock.sleep(backoffDelay(failures, backoff, clock.random()), abort.signal);
    } catch {
      // stopped while waiting
    }
  }

  /** Watches from `rv`, resuming as needed; returns when a relist is due or the informer stops. */
  async function watchUntilExpired(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      const started = clock.now();
      let events = 0;
      let reason: RestartReason = "closed";
      let detail: unknown;
      try {
        const timeoutSeconds = options.watchTimeoutSeconds ?? Math.floor(300 * (1 + clock.random()));
        for await (const event of client.watch(type, {
          namespace: options.namespace,
          labelSelector: options.labelSelector,
          resourceVersion: rv,
          allowWatchBookmarks: true,
          timeoutSeconds,
          signal: abort.signal,
        })) {
          events++;
          if (event.type === "ERROR") {
            reason = event.status?.code === 410 ? "expired" : "error";
            detail = event.status?.message ?? "ERROR event without a Status";
            break;
          }
          apply(event);
        }
      } catch (e) {
        if (stopped) return;
        detail = e instanceof Error ? e.message : String(e);
        reason = isKubeApiError(e) && e.status === 410 ? "expired" : isKubeApiError(e) && e.status === 0 && e.reason === "Timeout" ? "timeout" : "error";
      }
      if (stopped) return;
      client.metrics.watchRestarts.inc({ resource, reason });
      if (reason === "expired") {
        log.info({ resourceVersion: rv, detail }, "watch expired (410 Gone); listing again");
        return;
      }
      const short = reason === "closed" && events === 0 && clock.now() - started < SHORT_WATCH_MS;
      if (reason === "error" || short) {
        failures++;
        log.warn({ resourceVersion: rv, detail, failures }, "watch failed; resuming after back-off");
        await pause(failures);
      } else {
        failures = 0;
        log.debug({ resourceVersion: rv, reason }, "watch ended; resuming");
      }
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      let listed;
      try {
        listed = await client.list(type, { namespace: options.namespace, labelSelector: options.labelSelector, signal: abort.signal });
      } catch (e) {
        if (stopped) return;
        failures++;
        // A kind the cluster does not serve (a CRD not installed yet) is said once; the retries go on quietly.
        const notServed = isKubeApiError(e) && e.status === 404;
        if (notServed && failures > 1) log.debug({ failures, status: 404 }, "list failed; trying again after back-off");
        else log.warn({ err: e, failures }, notServed ? "list failed: the cluster does not serve this kind; trying again after back-off" : "list failed; trying again after back-off");
        await pause(failures);
        continue;
      }
      if (stopped) return;
      failures = 0;
      rv = listed.resourceVersion;
      replace(listed.items);
      if (!isSynced) {
        isSynced = true;
        log.info({ objects: cache.size, resourceVersion: rv }, "informer synced");
        resolveSynced();
      }
      await watchUntilExpired();
    }
  }

  const informer: Informer<T> = {
    resource,
    whenSynced,
    start() {
      if (running !== undefined || stopped) return informer;
      running = run().catch((e: unknown) => log.error({ err: e }, "informer loop crashed"));
      if (options.resyncMs !== undefined && options.resyncMs > 0) {
        resyncTimer = setInterval(() => {
          if (isSynced) for (const o of cache.values()) emitUpdate(o, o);
        }, options.resyncMs);
        resyncTimer.unref?.();
      }
      return informer;
    },
    async stop() {
      stopped = true;
      abort.abort(new Error("informer stopped"));
      if (resyncTimer !== undefined) clearInterval(resyncTimer);
      if (!isSynced) rejectSynced(new Error(`informer for ${resource} stopped before its first list`));
      await running;
    },
    on(h) {
      if (isSynced) for (const o of cache.values()) {
        try {
          h.add?.(o);
        } catch (e) {
          log.error({ err: e, event: "add", name: o.metadata.name }, "informer handler failed");
        }
      }
      handlers.add(h);
      return () => handlers.delete(h);
    },
    synced: () => isSynced,
    get: (namespace, name) => cache.get(objectKey(namespace, name)),
    list: (namespace) => [...cache.values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace),
    resourceVersion: () => rv,
  };
  return informer;
}
