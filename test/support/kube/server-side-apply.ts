/**
 * Server-side apply and `metadata.managedFields` bookkeeping as kube-apiserver does them (structured-merge-diff v4
 * `merge/update.go`, apimachinery `util/managedfields/internal`), for JSON objects without a schema:
 *
 * - Maps are granular (each key is its own field), every list is atomic (`"f:args":{}`, one owner for the whole
 *   list), except the two lists ObjectMeta's schema makes associative: `metadata.finalizers` (a set, items
 *   `v:"<finalizer>"`) and `metadata.ownerReferences` (a map keyed by `uid`, items `k:{"uid":"…"}`). That is what a
 *   CRD without `x-kubernetes-list-type` markers gets, which covers the Flux CRDs (one list in them has a marker).
 * - Fields of `x-kubernetes-preserve-unknown-fields` regions (HelmRelease `spec.values`) are treated like struct
 *   fields, so Apply entries carry no `"."` for their nested maps where the real server writes one.
 * - Never owned (the stripMetaManager set): `apiVersion`, `kind`, `metadata` itself, `metadata.name`, `namespace`,
 *   `uid`, `resourceVersion`, `generation`, `creationTimestamp`, `selfLink`, `clusterName`, `managedFields`.
 * - `resetFields` (top-level names) are what the resource strategy resets: pass `["status"]` for the main resource
 *   of a kind with a status subresource and `["spec"]` for `/status`. They are taken out of the applied
 *   configuration and ignored when comparing, as the real `IgnoredFields`.
 * - `null` in an applied configuration is dropped (the CRD handler prunes nulls of non-nullable fields anyway).
 * - Not done: the cap of 10 Update entries (`ancient-changes`), conversion of entries recorded at another
 *   apiVersion (each entry is compared as if it were at the request's version), `last-applied-configuration`
 *   interplay with client-side apply.
 */
import { isDeepStrictEqual } from "node:util";

/** One entry of `metadata.managedFields` (keys in kube-apiserver's order). */
export type ManagedFieldsEntry = {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: Record<string, unknown>;
  subresource?: string;
};

/** A field another manager owns and the apply would change. `field` is structured-merge-diff's path string. */
export type ApplyConflict = {
  manager: string;
  field: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  subresource?: string;
  /** The manager as kube-apiserver prints it: `"kubectl-patch" using kustomize.toolkit.fluxcd.io/v1` for Update entries. */
  description: string;
};

/** The applied configuration carries something apply refuses (kube-apiserver answers 400 BadRequest with the message). */
export class ApplyBadRequestError extends Error {
  override name = "ApplyBadRequestError";
}

export type ServerSideApplyInput = {
  /** The stored object (with its managedFields); undefined when the apply creates it. */
  live: Record<string, unknown> | undefined;
  /** The request body (already parsed from YAML/JSON). */
  applied: Record<string, unknown>;
  manager: string;
  force: boolean;
  now: Date;
  /** apiVersion of the request (`kustomize.toolkit.fluxcd.io/v1`), recorded on the entry. */
  apiVersion: string;
  /** `"status"` for applies to the status subresource. */
  subresource?: string;
  /** Top-level fields the strategy resets on this endpoint, e.g. `["status"]` on the main resource. */
  resetFields?: string[];
};

/**
 * Server-side apply (`PATCH` with `application/apply-patch+yaml`): merges `applied` into `live`, removes fields this
 * manager applied last time and no longer applies (unless another manager owns them), and records ownership.
 * Conflicts (a changed field owned by another manager) fail unless `force`, which moves the field to the applier.
 * Throws `ApplyBadRequestError` when `applied.metadata.managedFields` is set.
 * @example
 * const r = serverSideApply({ live: undefined, applied: ks, manager: "kubectl", force: false, now, apiVersion: "kustomize.toolkit.fluxcd.io/v1" })
 * if (!r.ok) return applyConflict(r.conflicts) // 409
 */
export function serverSideApply(
  input: ServerSideApplyInput,
): { ok: true; object: Record<string, unknown> } | { ok: false; conflicts: ApplyConflict[] } {
  const appliedMeta = input.applied["metadata"];
  if (isObject(appliedMeta) && appliedMeta["managedFields"] !== undefined && appliedMeta["managedFields"] !== null) {
    throw new ApplyBadRequestError("metadata.managedFields must be nil");
  }
  const reset = resetPaths(input.resetFields);
  const applied = withoutNulls(withoutTopLevel(input.applied, input.resetFields ?? [])) as Record<string, unknown>;
  if (isObject(applied["metadata"])) delete applied["metadata"]["managedFields"];
  const live = input.live === undefined ? undefined : withoutManagedFields(input.live);
  const managers = input.live === undefined ? new Map<string, Owner>() : decodeManagers(input.live);
  const stamp = kubeTime(input.now);

  if (live !== undefined && managers.size === 0) {
    // Objects written before anyone tracked fields: kube-apiserver first records everything as an Update by
    // "before-first-apply", so applying a different value to an existing field conflicts.
    const cmp = compare({}, live).withoutRecursive(reset);
    const set = cmp.added.union(cmp.modified).minus(STRIP);
    if (set.size > 0) setOwner(managers, { manager: "before-first-apply", operation: "Update", apiVersion: input.apiVersion, time: stamp, set });
  }

  const base = live ?? {};
  let merged = merge(base, applied, []) as Record<string, unknown>;
  const applier = ownerKey({ manager: input.manager, operation: "Apply", apiVersion: input.apiVersion, subresource: input.subresource });
  const previous = managers.get(applier);
  const appliedSet = appliedFieldSet(applied).withoutRecursive(reset);
  managers.set(applier, {
    manager: input.manager,
    operation: "Apply",
    apiVersion: input.apiVersion,
    ...(input.subresource ? { subresource: input.subresource } : {}),
    ...(previous?.time === undefined ? {} : { time: previous.time }),
    set: appliedSet,
  });
  if (previous !== undefined) merged = prune(merged, previous.set, managers);

  const cmp = compare(base, merged).withoutRecursive(reset);
  const changed = cmp.modified.union(cmp.added);
  const conflicts: ApplyConflict[] = [];
  const taken = new Map<string, FieldSet>();
  for (const [key, owner] of managers) {
    if (key === applier) continue;
    const clash = owner.set.intersect(changed);
    if (clash.size === 0) continue;
    taken.set(key, clash);
    for (const path of clash.paths()) conflicts.push(conflictOf(owner, path));
  }
  if (conflicts.length > 0 && !input.force) {
    conflicts.sort((a, b) => cmpStr(a.description, b.description) || cmpStr(a.field, b.field));
    return { ok: false, conflicts };
  }
  for (const [key, owner] of managers) {
    if (key === applier) continue;
    owner.set = owner.set.minus(taken.get(key) ?? EMPTY).minus(cmp.removed);
  }
  const mine = managers.get(applier)!;
  mine.set = mine.set.minus(STRIP);
  // A no-op apply keeps the entry's time (kube-apiserver only stamps when the object changed); a new entry gets one.
  if (!isDeepStrictEqual(base, merged) || mine.time === undefined) mine.time = stamp;
  for (const [key, owner] of managers) if (owner.set.size === 0) managers.delete(key);

  return { ok: true, object: withManagedFields(merged, managers) };
}

export type RecordUpdateInput = {
  /** The stored object; undefined on create. */
  before: Record<string, unknown> | undefined;
  /** The object about to be stored (after the patch/PUT body and the strategy). */
  after: Record<string, unknown>;
  /** `fieldManager`, else kube-apiserver's default from the User-Agent (`kubectl-patch`, `kubectl-create`, "unknown"). */
  manager: string;
  operation: "Update";
  now: Date;
  apiVersion: string;
  subresource?: string;
  /** As for `serverSideApply`. */
  resetFields?: string[];
};

/**
 * Records a non-apply write (POST, PUT, merge/JSON patch): fields added or changed between `before` and `after`
 * become owned by the manager's Update entry and are taken from every other entry (an Update never conflicts);
 * removed fields leave every entry. Returns `after` with `metadata.managedFields` set. A request body with
 * `managedFields: []` resets tracking; on a subresource the stored entries are kept whatever the body says.
 */
export function recordUpdate(input: RecordUpdateInput): Record<string, unknown> {
  const after = withoutManagedFields(input.after);
  const before = input.before === undefined ? {} : withoutManagedFields(input.before);
  const sent = isObject(input.after["metadata"]) ? input.after["metadata"]["managedFields"] : undefined;
  let managers: Map<string, Owner>;
  if (input.subresource) managers = input.before === undefined ? new Map() : decodeManagers(input.before);
  else if (Array.isArray(sent) && sent.length === 0) managers = new Map();
  else {
    const fromBody = Array.isArray(sent) ? decodeEntries(sent) : undefined;
    managers = fromBody !== undefined && fromBody.size > 0 ? fromBody : input.before === undefined ? new Map() : decodeManagers(input.before);
  }

  const cmp = compare(before, after).withoutRecursive(resetPaths(input.resetFields));
  const changed = cmp.modified.union(cmp.added);
  for (const owner of managers.values()) owner.set = owner.set.minus(changed).minus(cmp.removed);
  const current = changed.minus(cmp.removed).minus(STRIP);
  if (current.size > 0) {
    const key = ownerKey({ manager: input.manager, operation: "Update", apiVersion: input.apiVersion, subresource: input.subresource });
    const previous = managers.get(key);
    managers.set(key, {
      manager: input.manager,
      operation: "Update",
      apiVersion: input.apiVersion,
      ...(input.subresource ? { subresource: input.subresource } : {}),
      time: kubeTime(input.now),
      set: previous === undefined ? current : previous.set.union(current),
    });
  }
  for (const [key, owner] of managers) if (owner.set.size === 0) managers.delete(key);
  return withManagedFields(after, managers);
}

/** The `metav1.Status` message of a failed apply, as `internal.NewConflictError` words it. */
export function applyConflictMessage(conflicts: ApplyConflict[]): string {
  if (conflicts.length === 1) return `Apply failed with 1 conflict: conflict with ${conflicts[0]!.description}: ${conflicts[0]!.field}`;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) byManager.set(c.description, [...(byManager.get(c.description) ?? []), c.field]);
  const lines: string[] = [];
  for (const manager of [...byManager.keys()].sort()) {
    lines.push(`conflicts with ${manager}:`);
    for (const field of byManager.get(manager)!) lines.push(`- ${field}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
}

// --- field sets ----------------------------------------------------------------------------------------------

/** A path is a list of structured-merge-diff path elements: `f:<field>`, `k:<json key>`, `v:<json value>`, `i:<n>`. */
type Path = string[];

/** A set of paths; `paths()` are members (owned fields), their prefixes are only structure. */
class FieldSet {
  private readonly members = new Map<string, Path>();
  constructor(paths: Iterable<Path> = []) {
    for (const p of paths) this.add(p);
  }
  get size(): number {
    return this.members.size;
  }
  add(p: Path): void {
    this.members.set(JSON.stringify(p), p);
  }
  has(p: Path): boolean {
    return this.members.has(JSON.stringify(p));
  }
  paths(): Path[] {
    return [...this.members.values()];
  }
  union(o: FieldSet): FieldSet {
    return new FieldSet([...this.paths(), ...o.paths()]);
  }
  minus(o: FieldSet): FieldSet {
    return new FieldSet(this.paths().filter((p) => !o.has(p)));
  }
  intersect(o: FieldSet): FieldSet {
    return new FieldSet(this.paths().filter((p) => o.has(p)));
  }
  /** Drops the paths equal to or below any of `prefixes` (structured-merge-diff's `RecursiveDifference`). */
  withoutRecursive(prefixes: Path[]): FieldSet {
    return new FieldSet(this.paths().filter((p) => !prefixes.some((q) => q.length <= p.length && q.every((e, i) => p[i] === e))));
  }
  /** Adds every prefix of every member (`EnsureNamedFieldsAreMembers`, so pruning can remove whole sub-trees). */
  withAncestors(): FieldSet {
    const out = new FieldSet();
    for (const p of this.paths()) for (let n = 1; n <= p.length; n++) out.add(p.slice(0, n));
    return out;
  }
}

const EMPTY = new FieldSet();
const STRIP = new FieldSet([
  ["f:apiVersion"],
  ["f:kind"],
  ["f:metadata"],
  ...["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields", "resourceVersion"].map((f) => ["f:metadata", `f:${f}`]),
]);

function resetPaths(fields: string[] | undefined): Path[] {
  return (fields ?? []).map((f) => [`f:${f}`]);
}

type ListType = { type: "atomic" } | { type: "set" } | { type: "map"; keys: string[] };

/** ObjectMeta's associative lists; everything else is atomic (see the file comment). */
function listType(path: Path, items: unknown[]): ListType {
  if (path.length !== 2 || path[0] !== "f:metadata") return { type: "atomic" };
  if (path[1] === "f:finalizers" && items.every((i) => typeof i === "string")) return { type: "set" };
  if (path[1] === "f:ownerReferences" && items.every((i) => isObject(i) && typeof i["uid"] === "string")) return { type: "map", keys: ["uid"] };
  return { type: "atomic" };
}

function itemElement(lt: ListType, item: unknown): string {
  if (lt.type === "map") {
    const key: Record<string, unknown> = {};
    for (const k of [...lt.keys].sort()) key[k] = (item as Record<string, unknown>)[k];
    return `k:${JSON.stringify(key)}`;
  }
  return `v:${JSON.stringify(item)}`;
}

/** The fields an applied configuration sets (`TypedValue.ToFieldSet`): leaves, empty maps, list items. */
function appliedFieldSet(root: Record<string, unknown>): FieldSet {
  const out = new FieldSet();
  const walkMap = (m: Record<string, unknown>, path: Path): void => {
    for (const [k, v] of Object.entries(m)) {
      const p = [...path, `f:${k}`];
      if (isObject(v) && Object.keys(v).length > 0) walkMap(v, p);
      else if (Array.isArray(v)) walkList(v, p);
      else out.add(p);
    }
  };
  const walkList = (items: unknown[], path: Path): void => {
    const lt = listType(path, items);
    if (lt.type === "atomic") return out.add(path);
    for (const item of items) {
      const p = [...path, itemElement(lt, item)];
      out.add(p);
      if (lt.type === "map" && isObject(item)) walkMap(item, p);
    }
  };
  walkMap(root, []);
  return out;
}

class Comparison {
  added = new FieldSet();
  modified = new FieldSet();
  removed = new FieldSet();
  withoutRecursive(prefixes: Path[]): Comparison {
    if (prefixes.length === 0) return this;
    const c = new Comparison();
    c.added = this.added.withoutRecursive(prefixes);
    c.modified = this.modified.withoutRecursive(prefixes);
    c.removed = this.removed.withoutRecursive(prefixes);
    return c;
  }
}

/**
 * `TypedValue.Compare`: leaves that changed are modified; nodes (leaf or not) present on one side only are added or
 * removed, with everything below them. That is why an Update entry created by POST shows `".": {}` on maps.
 */
function compare(lhs: unknown, rhs: unknown): Comparison {
  const out = new Comparison();
  const walk = (l: unknown, r: unknown, path: Path): void => {
    const lo = isObject(l);
    const ro = isObject(r);
    if ((lo || l === undefined) && (ro || r === undefined) && (lo || ro)) {
      if (path.length > 0) {
        if (l === undefined) out.added.add(path);
        else if (r === undefined) out.removed.add(path);
      }
      const lm = (l ?? {}) as Record<string, unknown>;
      const rm = (r ?? {}) as Record<string, unknown>;
      for (const k of new Set([...Object.keys(lm), ...Object.keys(rm)])) walk(lm[k], rm[k], [...path, `f:${k}`]);
      return;
    }
    const la = Array.isArray(l);
    const ra = Array.isArray(r);
    if ((la || l === undefined) && (ra || r === undefined) && (la || ra)) {
      const li = (l ?? []) as unknown[];
      const ri = (r ?? []) as unknown[];
      const lt = listType(path, [...li, ...ri]);
      if (lt.type !== "atomic") {
        if (l === undefined) out.added.add(path);
        else if (r === undefined) out.removed.add(path);
        const lmap = new Map(li.map((i) => [itemElement(lt, i), i] as const));
        const rmap = new Map(ri.map((i) => [itemElement(lt, i), i] as const));
        for (const e of new Set([...lmap.keys(), ...rmap.keys()])) walk(lmap.get(e), rmap.get(e), [...path, e]);
        return;
      }
    }
    if (l === undefined && r === undefined) return;
    if (l === undefined) out.added.add(path);
    else if (r === undefined) out.removed.add(path);
    else if (!isDeepStrictEqual(l, r)) out.modified.add(path);
  };
  walk(lhs, rhs, []);
  return out;
}

/** `live.Merge(config)`: maps merged key by key, atomic lists and leaves replaced, set/map lists merged by item. */
function merge(l: unknown, r: unknown, path: Path): unknown {
  if (r === undefined) return structuredClone(l);
  if (isObject(l) && isObject(r)) {
    const out = structuredClone(l);
    for (const [k, v] of Object.entries(r)) out[k] = merge(l[k], v, [...path, `f:${k}`]);
    return out;
  }
  if (Array.isArray(l) && Array.isArray(r)) {
    const lt = listType(path, [...l, ...r]);
    if (lt.type !== "atomic") {
      const fromConfig = new Map(r.map((i) => [itemElement(lt, i), i] as const));
      const out = l.map((i) => {
        const e = itemElement(lt, i);
        return fromConfig.has(e) ? merge(i, fromConfig.get(e), [...path, e]) : structuredClone(i);
      });
      const inLive = new Set(l.map((i) => itemElement(lt, i)));
      for (const i of r) if (!inLive.has(itemElement(lt, i))) out.push(structuredClone(i));
      return out;
    }
  }
  return structuredClone(r);
}

/**
 * Removes what this manager applied last time and no longer applies, unless another manager (or its own new
 * configuration) still owns it or something below it (`Updater.prune` with its add-back passes).
 */
function prune(merged: Record<string, unknown>, last: FieldSet, managers: Map<string, Owner>): Record<string, unknown> {
  let owned = new FieldSet();
  for (const o of managers.values()) owned = owned.union(o.set);
  owned = owned.withAncestors();
  const doomed = last
    .withAncestors()
    .paths()
    .filter((p) => !owned.has(p) && !STRIP.has(p));
  const out = structuredClone(merged);
  for (const p of doomed) removePath(out, p);
  return out;
}

function child(container: unknown, element: string): unknown {
  const [kind, rest] = [element.slice(0, 2), element.slice(2)];
  if (kind === "f:") return isObject(container) ? container[rest] : undefined;
  if (!Array.isArray(container)) return undefined;
  return container[indexOf(container, element)];
}

function indexOf(list: unknown[], element: string): number {
  const [kind, rest] = [element.slice(0, 2), element.slice(2)];
  if (kind === "i:") return Number(rest);
  if (kind === "v:") return list.findIndex((i) => `v:${JSON.stringify(i)}` === element);
  const key = JSON.parse(rest) as Record<string, unknown>;
  return list.findIndex((i) => isObject(i) && Object.entries(key).every(([k, v]) => isDeepStrictEqual(i[k], v)));
}

function removePath(root: Record<string, unknown>, path: Path): void {
  let parent: unknown = root;
  for (const e of path.slice(0, -1)) parent = child(parent, e);
  const last = path[path.length - 1]!;
  if (last.startsWith("f:")) {
    if (isObject(parent)) delete parent[last.slice(2)];
  } else if (Array.isArray(parent)) {
    const i = indexOf(parent, last);
    if (i >= 0) parent.splice(i, 1);
  }
}

// --- managedFields encoding ----------------------------------------------------------------------------------

type Owner = { manager: string; operation: "Apply" | "Update"; apiVersion: string; subresource?: string; time?: string; set: FieldSet };

/** kube-apiserver's manager identifier (`BuildManagerIdentifier`): Apply entries do not include the apiVersion. */
function ownerKey(o: { manager: string; operation: string; apiVersion: string; subresource?: string | undefined }): string {
  return JSON.stringify([o.manager, o.operation, o.operation === "Apply" ? "" : o.apiVersion, o.subresource ?? ""]);
}

function setOwner(managers: Map<string, Owner>, owner: Owner): void {
  managers.set(ownerKey(owner), owner);
}

/** `printManager` in apimachinery's `internal/conflict.go`. */
function describeOwner(o: Owner): string {
  let s = JSON.stringify(o.manager);
  if (o.subresource) s += ` with subresource ${JSON.stringify(o.subresource)}`;
  return o.operation === "Update" ? `${s} using ${o.apiVersion}` : s;
}

function conflictOf(o: Owner, path: Path): ApplyConflict {
  return {
    manager: o.manager,
    field: pathString(path),
    operation: o.operation,
    apiVersion: o.apiVersion,
    ...(o.subresource ? { subresource: o.subresource } : {}),
    description: describeOwner(o),
  };
}

/** `fieldpath.Path.String()`: `.spec.interval`, `.metadata.finalizers[="x"]`, `.metadata.ownerReferences[uid="…"]`. */
function pathString(path: Path): string {
  return path
    .map((e) => {
      const rest = e.slice(2);
      if (e.startsWith("f:")) return `.${rest}`;
      if (e.startsWith("v:")) return `[=${rest}]`;
      if (e.startsWith("i:")) return `[${rest}]`;
      const key = JSON.parse(rest) as Record<string, unknown>;
      return `[${Object.entries(key)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(",")}]`;
    })
    .join("");
}

function decodeManagers(obj: Record<string, unknown>): Map<string, Owner> {
  const meta = obj["metadata"];
  const entries = isObject(meta) ? meta["managedFields"] : undefined;
  return Array.isArray(entries) ? (decodeEntries(entries) ?? new Map()) : new Map();
}

/** Parses stored entries; like kube-apiserver, one malformed entry means tracking starts afresh (undefined). */
function decodeEntries(entries: unknown[]): Map<string, Owner> | undefined {
  const out = new Map<string, Owner>();
  for (const e of entries) {
    if (!isObject(e)) return undefined;
    const { manager, operation, apiVersion, time, fieldsV1, subresource } = e;
    if (typeof manager !== "string" || (operation !== "Apply" && operation !== "Update") || typeof apiVersion !== "string") return undefined;
    if (fieldsV1 !== undefined && !isObject(fieldsV1)) return undefined;
    const owner: Owner = {
      manager,
      operation,
      apiVersion,
      ...(typeof subresource === "string" && subresource !== "" ? { subresource } : {}),
      ...(typeof time === "string" ? { time } : {}),
      set: decodeFieldsV1(fieldsV1 ?? {}),
    };
    const key = ownerKey(owner);
    const same = out.get(key);
    out.set(key, same === undefined ? owner : { ...owner, set: same.set.union(owner.set) });
  }
  return out;
}

function canonicalElement(e: string): string {
  if (e.startsWith("v:")) return `v:${JSON.stringify(JSON.parse(e.slice(2)))}`;
  if (e.startsWith("k:")) {
    const key = JSON.parse(e.slice(2)) as Record<string, unknown>;
    return `k:${JSON.stringify(Object.fromEntries(Object.keys(key).sort().map((k) => [k, key[k]])))}`;
  }
  return e;
}

function decodeFieldsV1(tree: Record<string, unknown>): FieldSet {
  const out = new FieldSet();
  const walk = (node: Record<string, unknown>, path: Path): void => {
    for (const [k, v] of Object.entries(node)) {
      if (k === ".") {
        if (path.length > 0) out.add(path);
        continue;
      }
      const p = [...path, canonicalElement(k)];
      if (isObject(v) && Object.keys(v).length > 0) walk(v, p);
      else out.add(p);
    }
  };
  walk(tree, []);
  return out;
}

type Node = { member: boolean; children: Map<string, Node> };

/** FieldsV1 JSON: `"."` first when a node is itself owned and has children, then children in path-element order. */
function encodeFieldsV1(set: FieldSet): Record<string, unknown> {
  const root: Node = { member: false, children: new Map() };
  for (const p of set.paths()) {
    let n = root;
    for (const e of p) {
      let c = n.children.get(e);
      if (c === undefined) n.children.set(e, (c = { member: false, children: new Map() }));
      n = c;
    }
    n.member = true;
  }
  const emit = (n: Node): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (n.member && n.children.size > 0) out["."] = {};
    for (const k of [...n.children.keys()].sort(compareElements)) out[k] = emit(n.children.get(k)!);
    return out;
  };
  return emit(root);
}

/** `PathElement.Compare`: field names, then keys, then values, then indexes. */
function compareElements(a: string, b: string): number {
  const rank = (e: string): number => ["f:", "k:", "v:", "i:"].indexOf(e.slice(0, 2));
  const d = rank(a) - rank(b);
  if (d !== 0) return d;
  if (a.startsWith("i:")) return Number(a.slice(2)) - Number(b.slice(2));
  if (a.startsWith("v:")) {
    const [x, y] = [JSON.parse(a.slice(2)) as unknown, JSON.parse(b.slice(2)) as unknown];
    if (typeof x === "number" && typeof y === "number") return x - y;
    if (typeof x === "string" && typeof y === "string") return cmpStr(x, y);
  }
  return cmpStr(a, b);
}

/** managedFields sorted like `sortEncodedManagedFields`: operation, time (seconds), manager, apiVersion, subresource. */
function withManagedFields(obj: Record<string, unknown>, managers: Map<string, Owner>): Record<string, unknown> {
  const seconds = (t: string | undefined): number => (t === undefined ? 0 : Math.floor(Date.parse(t) / 1000));
  const owners = [...managers.values()].sort(
    (p, q) =>
      cmpStr(p.operation, q.operation) ||
      seconds(p.time) - seconds(q.time) ||
      cmpStr(p.manager, q.manager) ||
      cmpStr(p.apiVersion, q.apiVersion) ||
      cmpStr(p.subresource ?? "", q.subresource ?? ""),
  );
  const entries = owners.map((o) => {
    const e: Record<string, unknown> = { manager: o.manager, operation: o.operation, apiVersion: o.apiVersion };
    if (o.time !== undefined) e["time"] = o.time;
    e["fieldsType"] = "FieldsV1";
    e["fieldsV1"] = encodeFieldsV1(o.set);
    if (o.subresource) e["subresource"] = o.subresource;
    return e;
  });
  const out = structuredClone(obj);
  const meta = isObject(out["metadata"]) ? out["metadata"] : (out["metadata"] = {});
  if (entries.length > 0) (meta as Record<string, unknown>)["managedFields"] = entries;
  else delete (meta as Record<string, unknown>)["managedFields"];
  return out;
}

// --- small helpers -------------------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** RFC 3339 with second precision, as `metav1.Time` serialises. */
function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function withoutManagedFields(obj: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(obj);
  if (isObject(out["metadata"])) delete out["metadata"]["managedFields"];
  return out;
}

function withoutTopLevel(obj: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out = structuredClone(obj);
  for (const f of fields) delete out[f];
  return out;
}

function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = withoutNulls(x);
  return out;
}
