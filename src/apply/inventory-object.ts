/**
 * What the worker keeps of each Flux object: identity, labels, suspension, the state of its reconcile requests, and
 * the spec fields targeting reads (`../shared/specs/flux-policy.md` §2.3: where each kind keeps its URL and ref).
 * Parsed once when the informer hands the object over, so targeting works on plain typed values.
 */
import { z } from "zod";
import { findFluxKind } from "../flux/kinds.ts";
import type { FluxKindName } from "../flux/kinds.ts";
import { imageKey, repoKey } from "../flux/repo-url.ts";
import type { KubeObject } from "../kube/object.ts";
import { REQUESTED_AT } from "../kube/reconcile-request.ts";
import { parseRequestedFor, REQUESTED_FOR } from "./reconcile-state.ts";
import type { ReconcileState } from "./reconcile-state.ts";

/**
 * The Receiver annotation that narrows its resources to those the delivered change concerns (their URL and ref
 * match, or the source they use does), instead of Flux's "every listed resource on every delivery".
 */
export const SMART_FILTERING = "fluxgate.io/smart-filtering";

export type ObjectRef = { kind: string; namespace: string; name: string };

/**
 * `Kind/namespace/name`: how the worker, its logs and the status page name an object, so the router's and the
 * applier's reports about one object meet.
 * @example objectRefKey({ kind: "GitRepository", namespace: "apps", name: "web" }) // "GitRepository/apps/web"
 */
export function objectRefKey(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

/** `GitRepository.spec.ref`; Flux's precedence is commit > name > semver > tag > branch. */
export type GitRef = { branch?: string; tag?: string; semver?: string; name?: string; commit?: string };

/** `OCIRepository.spec.ref`; precedence digest > semver > tag. */
export type OciRef = { tag?: string; semver?: string; semverFilter?: string; digest?: string };

/** A source an object reconciles from: a named object, or a chart of a HelmRepository (HelmRelease `spec.chart`). */
export type SourceUse = { ref: ObjectRef } | { chart: string; version: string; source: ObjectRef };

/** One entry of a Receiver's `spec.resources`, defaults applied. */
export type ReceiverResource = { kind: FluxKindName; namespace: string; name: string; matchLabels?: Record<string, string> };

/** The part of the spec targeting reads, by what the kind is to it. */
export type SourceSpec =
  | { type: "git"; key: string | undefined; ref: GitRef }
  | { type: "oci"; key: string | undefined; ref: OciRef }
  | { type: "helm-repository"; key: string | undefined; oci: boolean }
  | { type: "helm-chart"; chart: string; version: string; source: ObjectRef }
  | { type: "image-repository"; key: string | undefined; exclusionList: string[] }
  /** `problems`: resources that cannot be targeted; `caveats`: what Fluxgate does differently from Flux (no CEL). */
  | { type: "receiver"; resources: ReceiverResource[]; smartFiltering: boolean; problems: string[]; caveats: string[] }
  | { type: "dependent"; uses: SourceUse[] }
  | { type: "other" };

export type InventoryObject = {
  kind: FluxKindName;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  suspended: boolean;
  resourceVersion: string | undefined;
  reconcile: ReconcileState;
  spec: SourceSpec;
  /** What `spec` was read from (uid, generation, smart-filtering annotation), when the object says: see `inventoryObject`. */
  specOf?: string;
};

const str = z.string().optional().catch(undefined);
const ref = z.looseObject({ kind: z.string().optional(), name: z.string(), namespace: z.string().optional() });
const common = z.looseObject({
  spec: z.looseObject({ suspend: z.boolean().optional().catch(undefined) }).optional().catch(undefined),
  status: z.looseObject({ lastHandledReconcileAt: str }).optional().catch(undefined),
});
const gitSpec = z.looseObject({
  url: str,
  ref: z.object({ branch: str, tag: str, semver: str, name: str, commit: str }).optional().catch(undefined),
});
const ociSpec = z.looseObject({
  url: str,
  ref: z.object({ tag: str, semver: str, semverFilter: str, digest: str }).optional().catch(undefined),
});
const helmRepoSpec = z.looseObject({ url: str, type: str });
const helmChartSpec = z.looseObject({ chart: z.string(), version: str, sourceRef: ref });
const imageRepoSpec = z.looseObject({ image: str, exclusionList: z.array(z.string()).optional().catch(undefined) });
const receiverSpec = z.looseObject({
  resources: z
    .array(z.looseObject({ apiVersion: str, kind: z.string(), name: z.string(), namespace: str, matchLabels: z.record(z.string(), z.string()).optional(), resourceFilter: str }))
    .optional(),
  resourceFilter: str,
});
const withSourceRef = z.looseObject({ sourceRef: ref.optional().catch(undefined) });
const helmReleaseSpec = z.looseObject({
  chartRef: ref.optional().catch(undefined),
  chart: z.looseObject({ spec: z.looseObject({ chart: z.string(), version: str, sourceRef: ref }) }).optional().catch(undefined),
});
const imagePolicySpec = z.looseObject({ imageRepositoryRef: ref.optional().catch(undefined) });

/** ImageRepository's default `exclusionList`: cosign signature tags. */
const DEFAULT_EXCLUSIONS = ["^.*\\.sig$"];

/**
 * The inventory's view of a Flux object, or undefined for an object of a kind Fluxgate does not know.
 *
 * `previous`, the view of the same object before this change: its `spec` is kept when the object's uid and
 * `metadata.generation` (which the API server bumps on every spec change) and the smart-filtering annotation are
 * the same, so the status updates and reconcile requests that make most watch events do not parse the spec again.
 * @example inventoryObject(gitRepository) // { kind: "GitRepository", spec: { type: "git", key: "github.com/org/app", ref: { branch: "main" } }, … }
 */
export function inventoryObject(o: KubeObject, previous?: InventoryObject): InventoryObject | undefined {
  const kind = findFluxKind(o.kind)?.kind;
  const namespace = o.metadata.namespace;
  if (kind === undefined || namespace === undefined) return undefined;
  const base = common.parse(o);
  const spec = (o as { spec?: unknown }).spec;
  const annotations = o.metadata.annotations ?? {};
  const { uid, generation } = o.metadata as { uid?: unknown; generation?: unknown };
  const specOf = typeof uid === "string" && typeof generation === "number" ? `${uid}/${generation}/${annotations[SMART_FILTERING] ?? ""}` : undefined;
  const same = specOf !== undefined && previous?.specOf === specOf && previous.kind === kind;
  return {
    kind,
    namespace,
    name: o.metadata.name,
    labels: o.metadata.labels ?? {},
    suspended: base.spec?.suspend === true,
    resourceVersion: o.metadata.resourceVersion,
    reconcile: {
      requestedAt: annotations[REQUESTED_AT],
      lastHandledAt: base.status?.lastHandledReconcileAt,
      ours: parseRequestedFor(annotations[REQUESTED_FOR]),
    },
    spec: same ? previous.spec : sourceSpec(kind, namespace, spec, annotations),
    ...(specOf === undefined ? {} : { specOf }),
  };
}

const local = (r: z.output<typeof ref>, namespace: string, kind?: string): ObjectRef => ({
  kind: r.kind ?? kind ?? "",
  namespace: r.namespace ?? namespace,
  name: r.name,
});

function sourceSpec(kind: FluxKindName, namespace: string, spec: unknown, annotations: Record<string, string>): SourceSpec {
  switch (kind) {
    case "GitRepository": {
      const s = gitSpec.safeParse(spec);
      if (!s.success) return { type: "git", key: undefined, ref: {} };
      return { type: "git", key: s.data.url === undefined ? undefined : repoKey(s.data.url), ref: definedOnly(s.data.ref ?? {}) };
    }
    case "OCIRepository": {
      const s = ociSpec.safeParse(spec);
      if (!s.success) return { type: "oci", key: undefined, ref: {} };
      return { type: "oci", key: s.data.url === undefined ? undefined : imageKey(s.data.url), ref: definedOnly(s.data.ref ?? {}) };
    }
    case "HelmRepository": {
      const s = helmRepoSpec.safeParse(spec);
      if (!s.success || s.data.url === undefined) return { type: "helm-repository", key: undefined, oci: false };
      const oci = s.data.type === "oci" || /^oci:\/\//i.test(s.data.url);
      return { type: "helm-repository", key: oci ? imageKey(s.data.url) : httpKey(s.data.url), oci };
    }
    case "HelmChart": {
      const s = helmChartSpec.safeParse(spec);
      if (!s.success) return { type: "other" };
      return { type: "helm-chart", chart: s.data.chart, version: s.data.version ?? "*", source: local(s.data.sourceRef, namespace) };
    }
    case "ImageRepository": {
      const s = imageRepoSpec.safeParse(spec);
      if (!s.success || s.data.image === undefined) return { type: "image-repository", key: undefined, exclusionList: [] };
      return { type: "image-repository", key: imageKey(s.data.image), exclusionList: s.data.exclusionList ?? DEFAULT_EXCLUSIONS };
    }
    case "Receiver":
      return receiver(namespace, spec, annotations);
    case "Kustomization":
    case "ImageUpdateAutomation": {
      const s = withSourceRef.safeParse(spec);
      const r = s.success ? s.data.sourceRef : undefined;
      return { type: "dependent", uses: r === undefined ? [] : [{ ref: local(r, namespace, "GitRepository") }] };
    }
    case "HelmRelease": {
      const s = helmReleaseSpec.safeParse(spec);
      if (!s.success) return { type: "dependent", uses: [] };
      const uses: SourceUse[] = [];
      if (s.data.chartRef !== undefined) uses.push({ ref: local(s.data.chartRef, namespace) });
      const chart = s.data.chart?.spec;
      if (chart !== undefined) uses.push({ chart: chart.chart, version: chart.version ?? "*", source: local(chart.sourceRef, namespace) });
      return { type: "dependent", uses };
    }
    case "ImagePolicy": {
      const s = imagePolicySpec.safeParse(spec);
      const r = s.success ? s.data.imageRepositoryRef : undefined;
      return { type: "dependent", uses: r === undefined ? [] : [{ ref: local(r, namespace, "ImageRepository") }] };
    }
    default:
      return { type: "other" };
  }
}

function receiver(namespace: string, spec: unknown, annotations: Record<string, string>): SourceSpec {
  const smartFiltering = annotations[SMART_FILTERING]?.trim().toLowerCase() === "true";
  const s = receiverSpec.safeParse(spec);
  if (!s.success) return { type: "receiver", resources: [], smartFiltering, problems: ["spec.resources does not parse"], caveats: [] };
  const resources: ReceiverResource[] = [];
  const problems: string[] = [];
  const caveats: string[] = [];
  // notification-controller evaluates these CEL expressions per resource; Fluxgate does not, so it reconciles every
  // listed resource (more than Flux would, never fewer) and says so.
  const filters = [s.data.resourceFilter === undefined ? [] : ["spec.resourceFilter"], (s.data.resources ?? []).flatMap((r, i) => (r.resourceFilter === undefined ? [] : [`spec.resources[${i}].resourceFilter`]))].flat();
  if (filters.length > 0) caveats.push(`${filters.join(", ")}: CEL filters are not evaluated by Fluxgate; every listed resource is reconciled (fluxgate.io/smart-filtering narrows by ref)`);
  for (const [i, r] of (s.data.resources ?? []).entries()) {
    const k = findFluxKind(r.kind, r.apiVersion);
    if (k === undefined) {
      problems.push(`spec.resources[${i}]: ${r.apiVersion === undefined ? "" : `${r.apiVersion} `}${r.kind} is not a Flux kind Fluxgate serves`);
      continue;
    }
    if (r.name === "*" && r.matchLabels === undefined) {
      problems.push(`spec.resources[${i}]: name "*" needs matchLabels`);
      continue;
    }
    resources.push({ kind: k.kind, namespace: r.namespace ?? namespace, name: r.name, ...(r.matchLabels === undefined ? {} : { matchLabels: r.matchLabels }) });
  }
  return { type: "receiver", resources, smartFiltering, problems, caveats };
}

/**
 * An HTTP Helm repository's location as image keys write it: host and path, lowercased, no scheme or trailing `/`,
 * so `https://charts.example.com/stable/` and a chart pushed as `charts.example.com/stable/podinfo` line up.
 */
function httpKey(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`.replace(/\/+$/, "").toLowerCase();
  } catch {
    return undefined;
  }
}

/** Drops keys whose value is undefined or empty, so `{ branch: "" }` reads as no branch. */
function definedOnly<T extends { [K in keyof T]?: string | undefined }>(o: T): { [K in keyof T]?: string } {
  const out: { [K in keyof T]?: string } = {};
  for (const [k, v] of Object.entries(o) as Array<[keyof T, string | undefined]>) if (v !== undefined && v !== "") out[k] = v;
  return out;
}
