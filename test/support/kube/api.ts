/**
 * The state one emulator serves (resources, objects, admission, field manager, clock) and what every handler
 * needs on top of it: the scope of a request, version conversion (None strategy: only `apiVersion` changes) and
 * keeping served resources in step with stored CustomResourceDefinitions.
 */
import type { AdmissionHandler, KubeObject, UserInfo } from "./admission-types.ts";
import { crdResources } from "./crds.ts";
import type { ResourceDef, ResourceRegistry } from "./resources.ts";
import { precompile } from "./schema.ts";
import type { ObjectStore } from "./store.ts";

/** Everything the handlers work on. */
export type Api = {
  registry: ResourceRegistry;
  store: ObjectStore;
  admission: AdmissionHandler | undefined;
  now: () => Date;
};

/** Where a resource request points. */
export type Scope = {
  def: ResourceDef;
  /** From the URL; undefined for cluster-scoped resources and all-namespace lists/watches. */
  namespace?: string;
  name?: string;
  subresource?: "status";
  user: UserInfo;
  query: URLSearchParams;
  userAgent: string;
};

/** `group/version` or `version` for core. */
export function apiVersionOf(group: string, version: string): string {
  return group === "" ? version : `${group}/${version}`;
}

/** A copy of a stored object as served at `def`'s version. */
export function atVersion(obj: KubeObject, def: ResourceDef): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = structuredClone(obj);
  return { apiVersion: apiVersionOf(def.group, def.version), kind: def.kind, ...rest };
}

/** A copy of an object at its storage version. */
export function atStorageVersion(obj: KubeObject, def: ResourceDef): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = structuredClone(obj);
  return { apiVersion: apiVersionOf(def.group, def.storageVersion), kind: def.kind, ...rest };
}

/** `metadata` of an object (created if missing). */
export function metaOf(obj: KubeObject): KubeObject {
  if (obj.metadata === null || typeof obj.metadata !== "object" || Array.isArray(obj.metadata)) obj.metadata = {};
  return obj.metadata as KubeObject;
}

/** Registers (or re-registers) the resources a stored CRD serves; unregisters on delete. */
export function syncCrd(api: Api, crd: KubeObject, deleted: boolean): void {
  const name = String(metaOf(crd).name);
  api.registry.removeCrd(name);
  if (deleted) return;
  for (const def of crdResources(crd)) {
    if (def.schema !== undefined) precompile(def.schema);
    api.registry.add(def);
  }
}

/** The resource every namespaced object of a namespace is stored under: all namespaced resources, once each. */
export function namespacedResources(api: Api): Array<{ group: string; resource: string }> {
  const seen = new Map<string, { group: string; resource: string }>();
  for (const g of ["", ...api.registry.groups()]) {
    for (const v of api.registry.versions(g)) {
      for (const d of api.registry.inGroupVersion(g, v)) if (d.namespaced) seen.set(`${d.group}/${d.resource}`, { group: d.group, resource: d.resource });
    }
  }
  return [...seen.values()];
}
