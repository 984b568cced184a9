/**
 * The inventory's lookups: objects by kind and name, sources by normalised URL key (`repoKey`/`imageKey`), HelmCharts
 * by the HelmRepository they use. Kept up to date one object at a time, so an informer event costs O(1) however
 * large the cluster; targeting reads it through `InventorySnapshot`.
 */
import type { FluxKindName } from "../flux/kinds.ts";
import type { InventoryObject } from "./inventory-object.ts";

/** Kinds indexed by URL key. */
export type KeyedKind = "GitRepository" | "OCIRepository" | "HelmRepository" | "ImageRepository";

/** What targeting may ask of the inventory. Read it synchronously: it is the live index, not a copy. */
export type InventorySnapshot = {
  get(kind: FluxKindName, namespace: string, name: string): InventoryObject | undefined;
  /** Objects of a kind in a namespace. */
  list(kind: FluxKindName, namespace: string): Iterable<InventoryObject>;
  /** Sources of a kind whose URL normalises to `key`. */
  byKey(kind: KeyedKind, key: string): Iterable<InventoryObject>;
  /** HelmCharts whose `spec.sourceRef` is this HelmRepository. */
  chartsOf(namespace: string, helmRepository: string): Iterable<InventoryObject>;
};

type ByName = Map<string, InventoryObject>;

const id = (namespace: string, name: string) => `${namespace}/${name}`;
const KEYED = new Set<string>(["GitRepository", "OCIRepository", "HelmRepository", "ImageRepository"]);

const keyOf = (o: InventoryObject): string | undefined => {
  const s = o.spec;
  return KEYED.has(o.kind) && (s.type === "git" || s.type === "oci" || s.type === "helm-repository" || s.type === "image-repository") ? s.key : undefined;
};

const chartSourceOf = (o: InventoryObject): string | undefined =>
  o.spec.type === "helm-chart" && o.spec.source.kind === "HelmRepository" ? id(o.spec.source.namespace, o.spec.source.name) : undefined;

/** A mutable index with the snapshot's lookups. */
export class InventoryIndex implements InventorySnapshot {
  readonly #objects = new Map<string, Map<string, ByName>>();
  readonly #keys = new Map<string, Map<string, ByName>>();
  readonly #charts = new Map<string, ByName>();

  /** Adds or replaces an object. */
  put(o: InventoryObject): void {
    this.remove(o.kind, o.namespace, o.name);
    nested(nested(this.#objects, o.kind), o.namespace).set(o.name, o);
    const key = keyOf(o);
    if (key !== undefined) nested(nested(this.#keys, o.kind), key).set(id(o.namespace, o.name), o);
    const source = chartSourceOf(o);
    if (source !== undefined) nested(this.#charts, source).set(id(o.namespace, o.name), o);
  }

  remove(kind: FluxKindName, namespace: string, name: string): void {
    const old = this.get(kind, namespace, name);
    if (old === undefined) return;
    drop(this.#objects.get(kind), namespace, name);
    const key = keyOf(old);
    if (key !== undefined) drop(this.#keys.get(kind), key, id(namespace, name));
    const source = chartSourceOf(old);
    if (source !== undefined) drop(this.#charts, source, id(namespace, name));
  }

  /** Objects held, by kind. */
  counts(): Map<FluxKindName, number> {
    const out = new Map<FluxKindName, number>();
    for (const [kind, byNs] of this.#objects) {
      let n = 0;
      for (const m of byNs.values()) n += m.size;
      out.set(kind as FluxKindName, n);
    }
    return out;
  }

  get(kind: FluxKindName, namespace: string, name: string): InventoryObject | undefined {
    return this.#objects.get(kind)?.get(namespace)?.get(name);
  }

  list(kind: FluxKindName, namespace: string): Iterable<InventoryObject> {
    return this.#objects.get(kind)?.get(namespace)?.values() ?? [];
  }

  byKey(kind: KeyedKind, key: string): Iterable<InventoryObject> {
    return this.#keys.get(kind)?.get(key)?.values() ?? [];
  }

  chartsOf(namespace: string, helmRepository: string): Iterable<InventoryObject> {
    return this.#charts.get(id(namespace, helmRepository))?.values() ?? [];
  }
}

/**
 * An index holding `objects`: what tests and the dry run hand to `targets`.
 * @example targets(event, inventoryOf([gitRepository, receiver]))
 */
export function inventoryOf(objects: Iterable<InventoryObject>): InventoryIndex {
  const index = new InventoryIndex();
  for (const o of objects) index.put(o);
  return index;
}

function nested<V>(m: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = m.get(key);
  if (inner === undefined) {
    inner = new Map();
    m.set(key, inner);
  }
  return inner;
}

function drop<V>(m: Map<string, Map<string, V>> | undefined, key: string, inner: string): void {
  const set = m?.get(key);
  set?.delete(inner);
  if (set?.size === 0) m?.delete(key);
}
