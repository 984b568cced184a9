/**
 * Where each Flux kind keeps what a tenancy policy limits: references that can name another namespace, the service
 * accounts it runs as, remote clusters, source locations, plain-HTTP switches, target namespaces, version
 * constraints and `suspend`. One table, read by the admission rules; `test/flux/field-paths.test.ts` checks every path
 * against the Flux CRD schemas. Paths are dotted, `[]` marking a list whose items are each read.
 *
 * Not listed because the types make them same-namespace (no `namespace` field): every `secretRef`,
 * `certSecretRef`, `proxySecretRef`, `verify.secretRef`, `decryption.secretRef`, `kubeConfig.secretRef`/
 * `configMapRef`, `postBuild.substituteFrom[]`, `valuesFrom[]`, HelmChart `spec.sourceRef`, GitRepository
 * `spec.include[].repository` and Alert `spec.providerRef`.
 */
import { memo } from "../memo.ts";
import { fluxKind } from "./kinds.ts";
import type { FluxKindName } from "./kinds.ts";

/** A reference whose `namespace` field can point into another namespace. */
export type NamespacedRef = {
  /** The reference object, or a list of them (`spec.dependsOn[]`). */
  readonly path: string;
  /** The referent's kind when the reference names none, or names none by default. */
  readonly defaultKind?: string;
  /** Whether Flux's `--no-cross-namespace-refs` blocks it at reconcile time; the others only Fluxgate stops. */
  readonly blockedByFlag: boolean;
};

/** Where a source fetches from, and how the text there is written. */
export type SourceLocation = {
  readonly path: string;
  /**
   * `url`: a URL whose scheme says the protocol (Git, Helm, OCI). `image`: an OCI image name without scheme.
   * `bucket`: an S3-style endpoint `host[:port]` without scheme, joined with `bucketNamePath` into `host/bucket`.
   */
  readonly form: "url" | "image" | "bucket";
  readonly bucketNamePath?: string;
};

/** A version constraint Flux resolves, and what it selects a version of. */
export type VersionField = {
  readonly path: string;
  readonly subject: "chart" | "flux";
  /** Where the chart's name is: a field, or the last path segment of a URL field. */
  readonly chartName?: { readonly path: string } | { readonly lastSegmentOf: string };
  /** What Flux uses when the field is empty; without one, an empty field means another selector (tag, digest) is used. */
  readonly default?: string;
  /** Flux ignores the version when the chart comes from these source kinds (the chart is then a path in the source). */
  readonly ignoredForSources?: { readonly path: string; readonly kinds: readonly string[] };
};

/** What Fluxgate knows about one kind's fields. */
export type KindFieldPaths = {
  readonly kind: string;
  readonly group: string;
  readonly crossNamespaceRefs: readonly NamespacedRef[];
  /** The service account kustomize-/helm-controller impersonate; empty means the controller's default (or its own). */
  readonly impersonatedServiceAccount?: string;
  /** Service accounts used for workload identity or image pull secrets; empty means the controller's default. */
  readonly otherServiceAccounts: readonly string[];
  /** A reference to a kubeconfig: applying to a remote cluster. */
  readonly kubeConfig?: string;
  readonly sources: readonly SourceLocation[];
  /** Booleans that switch a source to plain HTTP. */
  readonly insecure: readonly string[];
  /** Namespaces the object writes into besides its own. */
  readonly targetNamespaces: readonly string[];
  /** A boolean that makes the controller create the target namespace. */
  readonly createNamespace?: string;
  readonly versions: readonly VersionField[];
  readonly suspend?: string;
};

const NONE = {
  crossNamespaceRefs: [],
  otherServiceAccounts: [],
  sources: [],
  insecure: [],
  targetNamespaces: [],
  versions: [],
} as const;

type Fields = Omit<Partial<KindFieldPaths>, "kind" | "group">;

const entry = (kind: string, group: string, paths: Fields): KindFieldPaths => Object.freeze({ ...NONE, ...paths, kind, group });

/** A Flux 2.9 kind: group from `kinds.ts`; every one has `spec.suspend` but ExternalArtifact. */
const flux = (kind: FluxKindName, paths: Fields): KindFieldPaths => entry(kind, fluxKind(kind).group, { suspend: "spec.suspend", ...paths });

const GIT_OR_BUCKET = ["GitRepository", "Bucket"] as const;

/** Every kind Fluxgate judges: the Flux 2.9 kinds, source-watcher's ArtifactGenerator, Flux Operator's FluxInstance. */
export const FIELD_PATHS: readonly KindFieldPaths[] = Object.freeze([
  flux("GitRepository", {
    otherServiceAccounts: ["spec.serviceAccountName"],
    sources: [{ path: "spec.url", form: "url" }],
  }),
  flux("OCIRepository", {
    otherServiceAccounts: ["spec.serviceAccountName"],
    sources: [{ path: "spec.url", form: "url" }],
    insecure: ["spec.insecure"],
    versions: [{ path: "spec.ref.semver", subject: "chart", chartName: { lastSegmentOf: "spec.url" } }],
  }),
  flux("HelmRepository", {
    sources: [{ path: "spec.url", form: "url" }],
    insecure: ["spec.insecure"],
  }),
  flux("HelmChart", {
    versions: [
      {
        path: "spec.version",
        subject: "chart",
        chartName: { path: "spec.chart" },
        default: "*",
        ignoredForSources: { path: "spec.sourceRef.kind", kinds: GIT_OR_BUCKET },
      },
    ],
  }),
  flux("Bucket", {
    otherServiceAccounts: ["spec.serviceAccountName"],
    sources: [{ path: "spec.endpoint", form: "bucket", bucketNamePath: "spec.bucketName" }],
    insecure: ["spec.insecure"],
  }),
  // The sourceRef is a back-pointer to the generator that wrote the artifact.
  flux("ExternalArtifact", { crossNamespaceRefs: [{ path: "spec.sourceRef", blockedByFlag: false }], suspend: undefined }),
  flux("Kustomization", {
    crossNamespaceRefs: [
      { path: "spec.sourceRef", blockedByFlag: true },
      // kustomize-controller reads dependencies and health-check targets in any namespace, flag or not.
      { path: "spec.dependsOn[]", defaultKind: "Kustomization", blockedByFlag: false },
      { path: "spec.healthChecks[]", blockedByFlag: false },
    ],
    impersonatedServiceAccount: "spec.serviceAccountName",
    otherServiceAccounts: ["spec.decryption.serviceAccountName"],
    kubeConfig: "spec.kubeConfig",
    targetNamespaces: ["spec.targetNamespace"],
  }),
  flux("HelmRelease", {
    crossNamespaceRefs: [
      { path: "spec.chart.spec.sourceRef", blockedByFlag: true },
      { path: "spec.chartRef", blockedByFlag: true },
      { path: "spec.dependsOn[]", defaultKind: "HelmRelease", blockedByFlag: false },
    ],
    impersonatedServiceAccount: "spec.serviceAccountName",
    kubeConfig: "spec.kubeConfig",
    targetNamespaces: ["spec.targetNamespace", "spec.storageNamespace"],
    createNamespace: "spec.install.createNamespace",
    versions: [
      {
        path: "spec.chart.spec.version",
        subject: "chart",
        chartName: { path: "spec.chart.spec.chart" },
        default: "*",
        ignoredForSources: { path: "spec.chart.spec.sourceRef.kind", kinds: GIT_OR_BUCKET },
      },
    ],
  }),
  flux("ImageRepository", {
    otherServiceAccounts: ["spec.serviceAccountName"],
    sources: [{ path: "spec.image", form: "image" }],
    insecure: ["spec.insecure"],
  }),
  flux("ImagePolicy", { crossNamespaceRefs: [{ path: "spec.imageRepositoryRef", defaultKind: "ImageRepository", blockedByFlag: true }] }),
  flux("ImageUpdateAutomation", { crossNamespaceRefs: [{ path: "spec.sourceRef", defaultKind: "GitRepository", blockedByFlag: true }] }),
  flux("Receiver", { crossNamespaceRefs: [{ path: "spec.resources[]", blockedByFlag: true }] }),
  flux("Alert", { crossNamespaceRefs: [{ path: "spec.eventSources[]", blockedByFlag: true }] }),
  flux("Provider", { otherServiceAccounts: ["spec.serviceAccountName"] }),
  entry("ArtifactGenerator", "source.extensions.fluxcd.io", { crossNamespaceRefs: [{ path: "spec.sources[]", blockedByFlag: true }] }),
  // Flux Operator: the Flux version to install is a semver range, e.g. "2.x".
  entry("FluxInstance", "fluxcd.controlplane.io", { versions: [{ path: "spec.distribution.version", subject: "flux" }] }),
]);

const BY_GROUP_KIND = new Map(FIELD_PATHS.map((p) => [`${p.kind}.${p.group}`, p]));

/**
 * The field table of a kind, or undefined when Fluxgate does not judge it. Any version of the group matches: an
 * object written at an older served version keeps these fields.
 * @example fieldPathsFor("kustomize.toolkit.fluxcd.io", "Kustomization")?.kubeConfig // "spec.kubeConfig"
 */
export function fieldPathsFor(group: string, kind: string): KindFieldPaths | undefined {
  return BY_GROUP_KIND.get(`${kind}.${group}`);
}

/** A value found in an object, with its concrete path (`spec.dependsOn[1]`). */
export type FoundValue = { path: string; value: unknown };

/**
 * The values at a table path, each with its concrete path; `[]` expands a list. Missing fields give nothing, so
 * rules need not tell absent from null.
 * @example valuesAt({ spec: { dependsOn: [{ name: "a" }] } }, "spec.dependsOn[]") // [{ path: "spec.dependsOn[0]", value: { name: "a" } }]
 */
export function valuesAt(object: unknown, path: string): FoundValue[] {
  let found: FoundValue[] = [{ path: "", value: object }];
  for (const { key, list } of segmentsOf(path)) {
    const next: FoundValue[] = [];
    for (const { path: at, value } of found) {
      if (!isRecord(value) || !Object.hasOwn(value, key)) continue;
      const child = value[key];
      const childPath = at === "" ? key : `${at}.${key}`;
      if (child === undefined || child === null) continue;
      if (!list) next.push({ path: childPath, value: child });
      else if (Array.isArray(child)) child.forEach((item: unknown, i) => next.push({ path: `${childPath}[${i}]`, value: item }));
    }
    found = next;
  }
  return found;
}

/** A table path's segments, split once (the paths come from the field table: a fixed, small set). */
const segmentsOf = memo((path: string) =>
  path.split(".").map((segment) => {
    const list = segment.endsWith("[]");
    return { key: list ? segment.slice(0, -2) : segment, list };
  }),
);

/** The one value at a path without lists, or undefined. */
export function valueAt(object: unknown, path: string): unknown {
  let value = object;
  for (const { key, list } of segmentsOf(path)) {
    if (list) return valuesAt(object, path)[0]?.value;
    if (!isRecord(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
    if (value === undefined || value === null) return undefined;
  }
  return value;
}

/**
 * The JSON Pointer (RFC 6901) of a dotted path without lists, for patches.
 * @example jsonPointer("spec.serviceAccountName") // "/spec/serviceAccountName"
 */
export function jsonPointer(path: string): string {
  return path
    .split(".")
    .map((s) => `/${s.replace(/~/g, "~0").replace(/\//g, "~1")}`)
    .join("");
}

/** A JSON object (not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
