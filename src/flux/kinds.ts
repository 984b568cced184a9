/**
 * The Flux kinds Fluxgate reads and patches, with the API group, served version and REST plural of each, as the
 * Flux 2.9 CRDs declare them (`test/flux/kinds.test.ts` keeps this table equal to `../shared/fixtures/flux/crds`).
 */

/** The kind names, as in `kind:` of a manifest. */
export const FLUX_KIND_NAMES = [
  "GitRepository",
  "OCIRepository",
  "HelmRepository",
  "HelmChart",
  "Bucket",
  "ExternalArtifact",
  "Kustomization",
  "HelmRelease",
  "ImageRepository",
  "ImagePolicy",
  "ImageUpdateAutomation",
  "Receiver",
  "Alert",
  "Provider",
] as const;

export type FluxKindName = (typeof FLUX_KIND_NAMES)[number];

/** One Flux kind as the API server serves it; structurally a `ResourceType` of `src/kube`. */
export type FluxKind = {
  readonly kind: FluxKindName;
  readonly group: string;
  /** The one version Flux 2.9 serves (and stores). */
  readonly version: string;
  /** `group/version`, as in `apiVersion:`. */
  readonly apiVersion: string;
  /** The REST resource name: `/apis/{group}/{version}/namespaces/{ns}/{plural}`. */
  readonly plural: string;
  readonly namespaced: boolean;
  /**
   * Whether `status` lives in the `/status` subresource. Alert and Provider have none: they are static objects
   * without a reconcile loop, and a `status` written through the main endpoint bumps their generation.
   */
  readonly statusSubresource: boolean;
};

const kind = (name: FluxKindName, group: string, version: string, plural: string, statusSubresource = true): FluxKind =>
  Object.freeze({ kind: name, group, version, apiVersion: `${group}/${version}`, plural, namespaced: true, statusSubresource });

const SOURCE = "source.toolkit.fluxcd.io";
const IMAGE = "image.toolkit.fluxcd.io";
const NOTIFICATION = "notification.toolkit.fluxcd.io";

/** Every Flux kind, in the order of `FLUX_KIND_NAMES`. */
export const FLUX_KINDS: readonly FluxKind[] = Object.freeze([
  kind("GitRepository", SOURCE, "v1", "gitrepositories"),
  kind("OCIRepository", SOURCE, "v1", "ocirepositories"),
  kind("HelmRepository", SOURCE, "v1", "helmrepositories"),
  kind("HelmChart", SOURCE, "v1", "helmcharts"),
  kind("Bucket", SOURCE, "v1", "buckets"),
  kind("ExternalArtifact", SOURCE, "v1", "externalartifacts"),
  kind("Kustomization", "kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
  kind("HelmRelease", "helm.toolkit.fluxcd.io", "v2", "helmreleases"),
  kind("ImageRepository", IMAGE, "v1", "imagerepositories"),
  kind("ImagePolicy", IMAGE, "v1", "imagepolicies"),
  kind("ImageUpdateAutomation", IMAGE, "v1", "imageupdateautomations"),
  kind("Receiver", NOTIFICATION, "v1", "receivers"),
  kind("Alert", NOTIFICATION, "v1beta3", "alerts", false),
  kind("Provider", NOTIFICATION, "v1beta3", "providers", false),
]);

const BY_NAME = new Map<string, FluxKind>(FLUX_KINDS.map((k) => [k.kind, k]));

/**
 * The registry entry of a kind known at compile time.
 * @example fluxKind("Kustomization").plural // "kustomizations"
 */
export function fluxKind(name: FluxKindName): FluxKind {
  const k = BY_NAME.get(name);
  if (k === undefined) throw new Error(`unreachable: ${name} is missing from FLUX_KINDS`);
  return k;
}

/**
 * The entry for a kind named in input (an event, a reference in a manifest), or undefined when it is not a Flux kind.
 * With `apiVersion`, only that exact group/version matches: an object at a version Flux 2.9 no longer serves is not
 * one we can patch.
 * @example findFluxKind("HelmRelease", "helm.toolkit.fluxcd.io/v2beta2") // undefined
 */
export function findFluxKind(kindName: string, apiVersion?: string): FluxKind | undefined {
  const k = BY_NAME.get(kindName);
  if (k === undefined || (apiVersion !== undefined && apiVersion !== k.apiVersion)) return undefined;
  return k;
}
