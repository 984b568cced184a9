/**
 * The emulator's etcd: objects keyed by group/resource/namespace/name, one global revision counter bumped on every
 * real write, and a bounded history of changes that serves watches from a resourceVersion and lists at an older
 * revision (continue tokens). Objects go in and out as deep copies.
 */
import type { KubeObject } from "./admission-types.ts";

/** One change, as etcd's watch reports it. `prev` is the state before (MODIFIED, DELETED). */
export type StoreEvent = {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  group: string;
  resource: string;
  namespace: string;
  name: string;
  object: KubeObject;
  prev?: KubeObject;
};

/** Thrown when a revision is older than the history kept. */
export class RevisionCompactedError extends Error {
  override name = "RevisionCompactedError";
  readonly oldest: number;
  constructor(rv: number, oldest: number) {
    super(`too old resource version: ${rv} (${oldest})`);
    this.oldest = oldest;
  }
}

const meta = (o: KubeObject): KubeObject => (o.metadata ?? {}) as KubeObject;

const TOP_ORDER = ["apiVersion", "kind", "metadata", "spec"];
const META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields"];

function ordered(o: KubeObject, order: string[]): KubeObject {
  const out: KubeObject = {};
  for (const k of order) if (o[k] !== undefined) out[k] = o[k];
  for (const k of Object.keys(o)) if (!order.includes(k) && k !== "status") out[k] = o[k];
  if (o.status !== undefined && !order.includes("status")) out.status = o.status;
  return out;
}

/** Key order of Go's structs (ObjectMeta fields, then apiVersion/kind/metadata/spec/…/status), for readable output. */
function canonicalOrder(o: KubeObject): KubeObject {
  const out = ordered(o, TOP_ORDER);
  if (out.metadata !== null && typeof out.metadata === "object") out.metadata = ordered(out.metadata as KubeObject, META_ORDER);
  return out;
}
const grKey = (group: string, resource: string): string => `${group}/${resource}`;
/** etcd key order within one resource: namespace, then name. */
export const itemKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** Objects + revision + change history. */
export class ObjectStore {
  #rv = 1;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #history: StoreEvent[] = [];
  readonly #historySize: number;
  /** Every change with rv > this is in the history. */
  #historyStart = 0;
  readonly #listeners = new Set<(e: StoreEvent) => void>();

  constructor(historySize = 1000) {
    this.#historySize = historySize;
  }

  /** The current revision (the resourceVersion of the last write). */
  get revision(): number {
    return this.#rv;
  }

  /** The oldest revision a watch or an exact list can start from. */
  get oldestRevision(): number {
    return this.#historyStart;
  }

  get(group: string, resource: string, namespace: string, name: string): KubeObject | undefined {
    const o = this.#objects.get(grKey(group, resource))?.get(itemKey(namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Current objects of a resource (optionally one namespace) in key order. */
  list(group: string, resource: string, namespace?: string): KubeObject[] {
    const m = this.#objects.get(grKey(group, resource));
    if (m === undefined) return [];
    const keys = [...m.keys()].filter((k) => namespace === undefined || k.startsWith(`${namespace}/`)).sort();
    return keys.map((k) => structuredClone(m.get(k)!));
  }

  /**
   * Objects of a resource as they were at revision `rv`, rebuilt from the history (like an etcd read at a past
   * revision); throws `RevisionCompactedError` when the history no longer reaches back that far.
   */
  listAt(group: string, resource: string, rv: number, namespace?: string): KubeObject[] {
    if (rv >= this.#rv) return this.list(group, resource, namespace);
    if (rv < this.#historyStart) throw new RevisionCompactedError(rv, this.#historyStart);
    const state = new Map<string, KubeObject>();
    for (const o of this.list(group, resource)) state.set(itemKey(String(meta(o).namespace ?? ""), String(meta(o).name)), o);
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const e = this.#history[i]!;
      if (e.rv <= rv) break;
      if (e.group !== group || e.resource !== resource) continue;
      const k = itemKey(e.namespace, e.name);
      if (e.type === "ADDED") state.delete(k);
      else state.set(k, structuredClone(e.prev!));
    }
    return [...state.keys()]
      .filter((k) => namespace === undefined || k.startsWith(`${namespace}/`))
      .sort()
      .map((k) => state.get(k)!);
  }

  /** Stores a new object at the next revision; returns it with `metadata.resourceVersion` set. */
  create(group: string, resource: string, obj: KubeObject): KubeObject {
    const stored = this.#commit("ADDED", group, resource, obj, undefined);
    return stored;
  }

  /** Replaces an existing object at the next revision. */
  update(group: string, resource: string, obj: KubeObject): KubeObject {
    const m = meta(obj);
    const prev = this.#objects.get(grKey(group, resource))?.get(itemKey(String(m.namespace ?? ""), String(m.name)));
    return this.#commit("MODIFIED", group, resource, obj, prev);
  }

  /** Removes an object; the DELETED event carries its last state with the deletion's revision. */
  delete(group: string, resource: string, namespace: string, name: string): KubeObject | undefined {
    const prev = this.#objects.get(grKey(group, resource))?.get(itemKey(namespace, name));
    if (prev === undefined) return undefined;
    return this.#commit("DELETED", group, resource, prev, prev);
  }

  #commit(type: StoreEvent["type"], group: string, resource: string, obj: KubeObject, prev: KubeObject | undefined): KubeObject {
    this.#rv++;
    const m: KubeObject = { ...meta(obj), resourceVersion: String(this.#rv) };
    const copy = structuredClone(canonicalOrder({ ...obj, metadata: m }));
    const namespace = String(m.namespace ?? "");
    const name = String(m.name);
    let bucket = this.#objects.get(grKey(group, resource));
    if (bucket === undefined) {
      bucket = new Map();
      this.#objects.set(grKey(group, resource), bucket);
    }
    if (type === "DELETED") bucket.delete(itemKey(namespace, name));
    else bucket.set(itemKey(namespace, name), copy);
    const event: StoreEvent = { rv: this.#rv, type, group, resource, namespace, name, object: copy };
    if (prev !== undefined) event.prev = prev;
    this.#history.push(event);
    while (this.#history.length > this.#historySize) this.#historyStart = this.#history.shift()!.rv;
    for (const l of this.#listeners) l(event);
    return structuredClone(copy);
  }

  /** Changes after `rv` (exclusive), oldest first; throws `RevisionCompactedError` if some are gone. */
  since(rv: number): StoreEvent[] {
    if (rv < this.#historyStart) throw new RevisionCompactedError(rv, this.#historyStart);
    return this.#history.filter((e) => e.rv > rv);
  }

  /** Calls `fn` synchronously for every later change; returns the unsubscribe function. */
  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Forgets all history (like an etcd compaction at the current revision): older watches and continues get 410. */
  compact(): void {
    this.#history.length = 0;
    this.#historyStart = this.#rv;
  }
}
