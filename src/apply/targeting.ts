/**
 * Which Flux objects an event concerns: a pure function of the event and the inventory.
 *
 * - A delivery on a Flux `Receiver`'s path concerns that Receiver's `spec.resources` (names, `*` with
 *   `matchLabels`), as notification-controller has it. With `fluxgate.io/smart-filtering: "true"` on the Receiver,
 *   only those the change concerns remain: sources whose URL and ref match, objects whose source matches; objects
 *   we cannot judge (a Bucket, a missing source) stay, as Flux would keep them.
 * - Any other delivery (a receiver from the configuration file) concerns the sources whose normalised URL and ref
 *   match the change, in every namespace: GitRepositories for a push; OCIRepositories, ImageRepositories,
 *   HelmRepositories (HTTP) and the HelmCharts of OCI HelmRepositories for an image or chart. Flux reconciles what
 *   uses a source once the source's artifact changes, so sources are enough.
 *
 * Suspended objects are returned with `suspended: true`: the router skips and counts them.
 */
import type { ChangeEvent, GitChange, ImageChange } from "../events/change-event.ts";
import { findFluxKind } from "../flux/kinds.ts";
import type { FluxKindName } from "../flux/kinds.ts";
import { repoKey } from "../flux/repo-url.ts";
import type { InventorySnapshot } from "./inventory-index.ts";
import { objectRefKey } from "./inventory-object.ts";
import type { InventoryObject, ObjectRef, ReceiverResource, SourceUse } from "./inventory-object.ts";
import { chartVersionMatches, gitRefMatches, ociRefMatches, tagScanned } from "./ref-match.ts";

/** One object an event concerns. */
export type Target = {
  kind: FluxKindName;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** `source`: its URL and ref match; `receiver`: the Receiver the delivery came through lists it. */
  via: "source" | "receiver";
  suspended: boolean;
};

/**
 * The objects `event` concerns, each once, in a stable order (kind, namespace, name).
 * @example targets(pushToMain, inventory) // [{ kind: "GitRepository", namespace: "apps", name: "podinfo", via: "source", … }]
 */
export function targets(event: ChangeEvent, inventory: InventorySnapshot): Target[] {
  const receiver = inventory.get("Receiver", event.receiver.namespace, event.receiver.name);
  const found = receiver?.spec.type === "receiver" ? receiverTargets(event, receiver.spec.resources, receiver.spec.smartFiltering, inventory) : sourceTargets(event, inventory);
  const unique = new Map<string, Target>();
  for (const t of found) unique.set(objectRefKey(t), t);
  return [...unique.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

const target = (o: InventoryObject, via: Target["via"]): Target => ({ kind: o.kind, namespace: o.namespace, name: o.name, labels: o.labels, via, suspended: o.suspended });

function sourceTargets(event: ChangeEvent, inventory: InventorySnapshot): Target[] {
  const out: Target[] = [];
  if (event.git !== undefined) {
    for (const key of gitKeys(event.git)) {
      for (const o of inventory.byKey("GitRepository", key)) if (gitMatches(event.git, o)) out.push(target(o, "source"));
    }
  }
  const image = event.image;
  if (image !== undefined) {
    for (const o of inventory.byKey("OCIRepository", image.key)) if (o.spec.type === "oci" && ociRefMatches(o.spec.ref, image)) out.push(target(o, "source"));
    for (const o of inventory.byKey("ImageRepository", image.key)) if (o.spec.type === "image-repository" && tagScanned(o.spec.exclusionList, image.tag)) out.push(target(o, "source"));
    for (const key of [image.key, parentKey(image.key)]) {
      for (const repo of inventory.byKey("HelmRepository", key)) {
        if (repo.spec.type !== "helm-repository") continue;
        // An HTTP repository serves an index: reconciling it lets its HelmCharts see the new version. An OCI one is
        // static; its HelmCharts pull the chart themselves.
        if (!repo.spec.oci) out.push(target(repo, "source"));
        else for (const chart of inventory.chartsOf(repo.namespace, repo.name)) if (chartMatches(image, chart, repo)) out.push(target(chart, "source"));
      }
    }
  }
  return out;
}

function receiverTargets(event: ChangeEvent, resources: readonly ReceiverResource[], smart: boolean, inventory: InventorySnapshot): Target[] {
  const out: Target[] = [];
  for (const o of expand(resources, inventory)) {
    if (smart && event.kind !== "generic" && relevance(event, o, inventory, 0) === "no") continue;
    out.push(target(o, "receiver"));
  }
  return out;
}

/** The objects a Receiver's resources name; `*` lists the namespace's objects of the kind by `matchLabels`. */
function* expand(resources: readonly ReceiverResource[], inventory: InventorySnapshot): Generator<InventoryObject> {
  for (const r of resources) {
    if (r.name !== "*") {
      const o = inventory.get(r.kind, r.namespace, r.name);
      if (o !== undefined) yield o;
      continue;
    }
    const want = Object.entries(r.matchLabels ?? {});
    for (const o of inventory.list(r.kind, r.namespace)) if (want.every(([k, v]) => o.labels[k] === v)) yield o;
  }
}

type Relevance = "yes" | "no" | "unknown";

/** Whether the change concerns `o`, as far as its spec and the sources it uses tell. */
function relevance(event: ChangeEvent, o: InventoryObject, inventory: InventorySnapshot, depth: number): Relevance {
  const s = o.spec;
  const image = event.image;
  switch (s.type) {
    case "git":
      return event.git !== undefined && gitMatches(event.git, o) ? "yes" : "no";
    case "oci":
      return image !== undefined && s.key === image.key && ociRefMatches(s.ref, image) ? "yes" : "no";
    case "image-repository":
      return image !== undefined && s.key === image.key && tagScanned(s.exclusionList, image.tag) ? "yes" : "no";
    case "helm-repository":
      return image !== undefined && s.key !== undefined && (s.key === image.key || s.key === parentKey(image.key)) ? "yes" : "no";
    case "helm-chart":
      return usesRelevance(event, [{ chart: s.chart, version: s.version, source: s.source }], inventory, depth);
    case "dependent":
      return usesRelevance(event, s.uses, inventory, depth);
    default:
      return "unknown";
  }
}

/** Any source used matches: yes; all known not to: no; otherwise unknown. */
function usesRelevance(event: ChangeEvent, uses: readonly SourceUse[], inventory: InventorySnapshot, depth: number): Relevance {
  if (uses.length === 0 || depth > 2) return "unknown";
  let unknown = false;
  for (const use of uses) {
    const r = "ref" in use ? refRelevance(event, use.ref, inventory, depth) : chartUseRelevance(event, use, inventory, depth);
    if (r === "yes") return "yes";
    if (r === "unknown") unknown = true;
  }
  return unknown ? "unknown" : "no";
}

function refRelevance(event: ChangeEvent, ref: ObjectRef, inventory: InventorySnapshot, depth: number): Relevance {
  const kind = findFluxKind(ref.kind)?.kind;
  const source = kind === undefined ? undefined : inventory.get(kind, ref.namespace, ref.name);
  return source === undefined ? "unknown" : relevance(event, source, inventory, depth + 1);
}

/** A chart from a source: of a HelmRepository, by the chart's location and version; of Git or a Bucket, by that source. */
function chartUseRelevance(event: ChangeEvent, use: { chart: string; version: string; source: ObjectRef }, inventory: InventorySnapshot, depth: number): Relevance {
  if (use.source.kind !== "HelmRepository") return refRelevance(event, use.source, inventory, depth);
  const repo = inventory.get("HelmRepository", use.source.namespace, use.source.name);
  if (repo?.spec.type !== "helm-repository" || repo.spec.key === undefined) return "unknown";
  if (event.image === undefined) return "no";
  return chartLocated(event.image, use.chart, repo.spec.key) && chartVersionMatches(use.version, event.image.tag) ? "yes" : "no";
}

function chartMatches(image: ImageChange, chart: InventoryObject, repo: InventoryObject): boolean {
  return chart.spec.type === "helm-chart" && repo.spec.type === "helm-repository" && repo.spec.key !== undefined && chartLocated(image, chart.spec.chart, repo.spec.key) && chartVersionMatches(chart.spec.version, image.tag);
}

/** An OCI chart lives at `<repository URL>/<chart name>`. */
const chartLocated = (image: ImageChange, chart: string, repoKeyValue: string): boolean => `${repoKeyValue}/${chart.toLowerCase()}` === image.key;

function gitMatches(change: GitChange, o: InventoryObject): boolean {
  return o.spec.type === "git" && o.spec.key !== undefined && gitKeys(change).includes(o.spec.key) && gitRefMatches(o.spec.ref, change);
}

/** Every key the push's URLs normalise to (providers send https and ssh forms, sometimes differing in case). */
function gitKeys(change: GitChange): string[] {
  const keys = new Set([change.key]);
  for (const url of change.urls) {
    const k = repoKey(url);
    if (k !== undefined) keys.add(k);
  }
  return [...keys];
}

/** `ghcr.io/org/charts/podinfo` → `ghcr.io/org/charts`. */
function parentKey(key: string): string {
  const slash = key.lastIndexOf("/");
  return slash <= 0 ? key : key.slice(0, slash);
}
