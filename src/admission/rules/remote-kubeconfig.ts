/**
 * Remote clusters: `spec.kubeConfig` makes a Kustomization or HelmRelease apply to another cluster, as whatever
 * identity that kubeconfig carries; no Flux switch turns it off, so tenants may use it only when allowed.
 */
import { valueAt } from "../../flux/field-paths.ts";
import { show } from "./admission-rule.ts";
import type { AdmissionRule } from "./admission-rule.ts";

const name = "remote-kubeconfig";

export const remoteKubeConfig: AdmissionRule = {
  name,
  summary: "Kustomizations and HelmReleases apply to this cluster only, unless the tenant has allowKubeConfig.",
  check({ object, paths, tenant }) {
    const path = paths.kubeConfig;
    if (path === undefined || tenant.allowKubeConfig) return [];
    const value = valueAt(object, path);
    if (value === undefined) return [];
    return [{ rule: name, path, value, message: `${path}: ${show(value)} applies to a remote cluster; tenant "${tenant.name}" may apply only to this cluster` }];
  },
};
