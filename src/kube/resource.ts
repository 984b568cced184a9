/**
 * Which REST resource a call is about, and its URL paths: `/apis/{group}/{version}[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]`
 * (`/api/v1/…` for the core group). Flux kinds from `src/flux/kinds.ts` are resource types as they are.
 */

/** A served resource: what discovery's APIResourceList says about it. */
export type ResourceType = {
  /** Empty for the core group (`v1` Namespaces, Secrets …). */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
};

/** A subresource Fluxgate writes. */
export type Subresource = "status";

/** `apiVersion` of objects of this type. @example apiVersionOf({ group: "", version: "v1", … }) // "v1" */
export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/**
 * The resource as RBAC and error messages name it: `plural.group`, plus `/status` for the subresource.
 * @example resourceName(fluxKind("Kustomization")) // "kustomizations.kustomize.toolkit.fluxcd.io"
 */
export function resourceName(type: ResourceType, subresource?: Subresource): string {
  const base = type.group === "" ? type.plural : `${type.plural}.${type.group}`;
  return subresource === undefined ? base : `${base}/${subresource}`;
}

/**
 * The URL path (no query) of a collection, an object or its subresource. Without `namespace` a namespaced type's
 * collection spans all namespaces (list and watch only).
 * @example resourcePath(fluxKind("Kustomization"), "dev", "apps") // "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/dev/kustomizations/apps"
 */
export function resourcePath(type: ResourceType, namespace?: string, name?: string, subresource?: Subresource): string {
  const root = type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const ns = type.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const item = name === undefined ? "" : `/${encodeURIComponent(name)}${subresource === undefined ? "" : `/${subresource}`}`;
  return `${root}${ns}/${type.plural}${item}`;
}
