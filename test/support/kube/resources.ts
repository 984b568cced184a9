/**
 * The resources the emulator serves: built-in kinds Fluxgate and its tests touch, plus whatever CRDs are loaded.
 * One `ResourceDef` per group/version/resource; versions of one group/resource share storage (None conversion).
 */
import type { KubeObject } from "./admission-types.ts";

/** How the server treats one group/version/resource. */
export type ResourceDef = {
  group: string;
  version: string;
  /** Plural, lower case: `kustomizations`. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Serves `<resource>/status` (and ignores `status` on the main endpoint). */
  statusSubresource: boolean;
  /** Keeps `metadata.generation` (CRDs, webhook configurations, CRDs themselves); core types like Secret do not. */
  generation: boolean;
  /** PUT without `metadata.resourceVersion` allowed (core types); CRs require it. */
  unconditionalUpdate: boolean;
  /** Built-in types accept strategic merge patch; CRs answer 415. */
  strategicMerge: boolean;
  /** Name rule for `metadata.name`. */
  nameRule: "subdomain" | "label" | "path-segment";
  /** The version objects are stored at. */
  storageVersion: string;
  /** `openAPIV3Schema` of this version (CRDs only). */
  schema?: KubeObject;
  /** Extra field selector labels → JSON path in the object (beyond metadata.name/namespace). */
  selectableFields: Record<string, string[]>;
  /** Name of the CRD that defines it; undefined for built-ins. */
  crd?: string;
  /** Fills server-set fields on create/update (Namespace phase, Secret stringData …). */
  normalize?: (obj: KubeObject) => void;
};

/** The verbs discovery advertises for every resource here. */
export const RESOURCE_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

type BuiltinSpec = Partial<ResourceDef> & Pick<ResourceDef, "group" | "version" | "resource" | "kind" | "namespaced">;

function builtin(spec: BuiltinSpec): ResourceDef {
  return {
    singular: spec.kind.toLowerCase(),
    listKind: `${spec.kind}List`,
    shortNames: [],
    categories: [],
    statusSubresource: false,
    generation: false,
    unconditionalUpdate: true,
    strategicMerge: true,
    nameRule: "subdomain",
    storageVersion: spec.version,
    selectableFields: {},
    ...spec,
  };
}

const normalizeNamespace = (obj: KubeObject): void => {
  const meta = obj.metadata as KubeObject;
  const labels = (meta.labels ?? {}) as Record<string, string>;
  meta.labels = { ...labels, "kubernetes.io/metadata.name": String(meta.name) };
  const spec = (obj.spec ?? {}) as KubeObject;
  if (spec.finalizers === undefined) spec.finalizers = ["kubernetes"];
  obj.spec = spec;
  const status = (obj.status ?? {}) as KubeObject;
  if (status.phase === undefined) status.phase = "Active";
  obj.status = status;
};

const normalizeSecret = (obj: KubeObject): void => {
  // The real server folds stringData into data (base64) and never stores stringData.
  const stringData = obj.stringData as Record<string, string> | undefined;
  if (stringData !== undefined && stringData !== null) {
    const data = { ...((obj.data ?? {}) as Record<string, string>) };
    for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v), "utf8").toString("base64");
    obj.data = data;
    delete obj.stringData;
  }
  if (obj.type === undefined || obj.type === "") obj.type = "Opaque";
};

/** The built-in resources: core v1, admissionregistration, apiextensions, coordination, rbac. */
export function builtinResources(): ResourceDef[] {
  return [
    builtin({
      group: "",
      version: "v1",
      resource: "namespaces",
      kind: "Namespace",
      namespaced: false,
      shortNames: ["ns"],
      statusSubresource: true,
      nameRule: "label",
      normalize: normalizeNamespace,
      selectableFields: { "status.phase": ["status", "phase"] },
    }),
    builtin({ group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true, shortNames: ["cm"] }),
    builtin({
      group: "",
      version: "v1",
      resource: "secrets",
      kind: "Secret",
      namespaced: true,
      normalize: normalizeSecret,
      selectableFields: { type: ["type"] },
    }),
    builtin({ group: "", version: "v1", resource: "serviceaccounts", kind: "ServiceAccount", namespaced: true, shortNames: ["sa"] }),
    builtin({
      group: "admissionregistration.k8s.io",
      version: "v1",
      resource: "validatingwebhookconfigurations",
      kind: "ValidatingWebhookConfiguration",
      namespaced: false,
      categories: ["api-extensions"],
      generation: true,
    }),
    builtin({
      group: "admissionregistration.k8s.io",
      version: "v1",
      resource: "mutatingwebhookconfigurations",
      kind: "MutatingWebhookConfiguration",
      namespaced: false,
      categories: ["api-extensions"],
      generation: true,
    }),
    builtin({
      group: "apiextensions.k8s.io",
      version: "v1",
      resource: "customresourcedefinitions",
      kind: "CustomResourceDefinition",
      namespaced: false,
      shortNames: ["crd", "crds"],
      categories: ["api-extensions"],
      statusSubresource: true,
      generation: true,
    }),
    builtin({ group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true }),
    builtin({ group: "rbac.authorization.k8s.io", version: "v1", resource: "roles", kind: "Role", namespaced: true, nameRule: "path-segment" }),
    builtin({ group: "rbac.authorization.k8s.io", version: "v1", resource: "rolebindings", kind: "RoleBinding", namespaced: true, nameRule: "path-segment" }),
    builtin({ group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterroles", kind: "ClusterRole", namespaced: false, nameRule: "path-segment" }),
    builtin({
      group: "rbac.authorization.k8s.io",
      version: "v1",
      resource: "clusterrolebindings",
      kind: "ClusterRoleBinding",
      namespaced: false,
      nameRule: "path-segment",
    }),
  ];
}

/**
 * Kubernetes version priority (`v2` > `v1` > `v1beta2` > `v1beta1` > `v1alpha1` > anything else by name), used to
 * order versions in discovery and pick the preferred one.
 */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (m === null) return undefined;
    const stability = m[2] === undefined ? 2 : m[2] === "beta" ? 1 : 0;
    return [stability, Number(m[1]), Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa === undefined && pb === undefined) return a < b ? -1 : a > b ? 1 : 0;
  if (pa === undefined) return 1;
  if (pb === undefined) return -1;
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pb[i]! - pa[i]!;
  return 0;
}

/** All served resources, looked up by group/version/resource or by group/kind. */
export class ResourceRegistry {
  readonly #defs = new Map<string, ResourceDef>();
  /** Groups in the order they were first registered (built-ins first, like kube-apiserver's discovery). */
  readonly #groupOrder: string[] = [];

  constructor(defs: ResourceDef[] = builtinResources()) {
    for (const d of defs) this.add(d);
  }

  /** Adds or replaces one group/version/resource. */
  add(def: ResourceDef): void {
    this.#defs.set(`${def.group}/${def.version}/${def.resource}`, def);
    if (!this.#groupOrder.includes(def.group)) this.#groupOrder.push(def.group);
  }

  /** Removes every version a CRD defined. */
  removeCrd(crdName: string): void {
    for (const [k, d] of this.#defs) if (d.crd === crdName) this.#defs.delete(k);
  }

  get(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.#defs.get(`${group}/${version}/${resource}`);
  }

  /** The def for a group/kind at a version, if served. */
  byKind(group: string, version: string, kind: string): ResourceDef | undefined {
    for (const d of this.#defs.values()) if (d.group === group && d.version === version && d.kind === kind) return d;
    return undefined;
  }

  /** Every def of one group/resource (all its versions). */
  versionsOf(group: string, resource: string): ResourceDef[] {
    return [...this.#defs.values()].filter((d) => d.group === group && d.resource === resource);
  }

  /** Resources served at group/version. */
  inGroupVersion(group: string, version: string): ResourceDef[] {
    return [...this.#defs.values()].filter((d) => d.group === group && d.version === version);
  }

  /** Versions served for a group, most preferred first. */
  versions(group: string): string[] {
    const vs = new Set<string>();
    for (const d of this.#defs.values()) if (d.group === group) vs.add(d.version);
    return [...vs].sort(compareVersions);
  }

  /** Non-core groups with at least one served version, in registration order. */
  groups(): string[] {
    return this.#groupOrder.filter((g) => g !== "" && this.versions(g).length > 0);
  }
}
