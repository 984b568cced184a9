/**
 * Legacy discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`) and `/version`. The
 * emulator always answers `application/json`, which makes clients that ask for aggregated discovery
 * (apidiscovery.k8s.io/v2) fall back to these (admission.md §5.1).
 */
import { RESOURCE_VERBS, type ResourceDef, type ResourceRegistry } from "./resources.ts";

/** `GET /version` of the emulated server. */
export const VERSION_INFO = {
  major: "1",
  minor: "36",
  gitVersion: "v1.36.0",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2026-01-01T00:00:00Z",
  goVersion: "go1.25.0",
  compiler: "gc",
  platform: "linux/amd64",
};

/** `GET /api`. */
export function apiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }] };
}

function groupDoc(registry: ResourceRegistry, group: string): Record<string, unknown> {
  const versions = registry.versions(group).map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions, preferredVersion: versions[0] };
}

/** `GET /apis`. */
export function apiGroupList(registry: ResourceRegistry): Record<string, unknown> {
  return { kind: "APIGroupList", apiVersion: "v1", groups: registry.groups().map((g) => groupDoc(registry, g)) };
}

/** `GET /apis/<group>`, or undefined when the group is not served. */
export function apiGroup(registry: ResourceRegistry, group: string): Record<string, unknown> | undefined {
  if (registry.versions(group).length === 0) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...groupDoc(registry, group) };
}

function resourceEntries(d: ResourceDef): Record<string, unknown>[] {
  const main: Record<string, unknown> = { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: RESOURCE_VERBS };
  if (d.shortNames.length > 0) main.shortNames = d.shortNames;
  if (d.categories.length > 0) main.categories = d.categories;
  const out = [main];
  if (d.statusSubresource) out.push({ name: `${d.resource}/status`, singularName: "", namespaced: d.namespaced, kind: d.kind, verbs: ["get", "patch", "update"] });
  return out;
}

/** `GET /api/v1` or `GET /apis/<group>/<version>`, or undefined when not served. */
export function apiResourceList(registry: ResourceRegistry, group: string, version: string): Record<string, unknown> | undefined {
  const defs = registry.inGroupVersion(group, version);
  if (defs.length === 0) return undefined;
  const groupVersion = group === "" ? version : `${group}/${version}`;
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion, resources: defs.flatMap(resourceEntries) };
}
