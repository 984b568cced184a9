/**
 * Where objects land: `targetNamespace` and `storageNamespace` are otherwise limited only by the impersonated
 * account's RBAC, and only when applying; `install.createNamespace` creates namespaces outright.
 */
import { valueAt } from "../../flux/field-paths.ts";
import type { Violation } from "../rule.ts";
import { anyOf, show } from "./admission-rule.ts";
import type { AdmissionRule } from "./admission-rule.ts";

const name = "target-namespace";

export const targetNamespace: AdmissionRule = {
  name,
  summary: "Target and storage namespaces are the tenant's own or listed in its targetNamespaces; HelmReleases create namespaces only with allowCreateNamespace.",
  check({ object, paths, tenant, ownsNamespace, ownNamespaces }) {
    const violations: Violation[] = [];
    // Only a violation's message needs the list; most requests have none.
    const allowed = () => anyOf([...ownNamespaces(), ...tenant.targetNamespaces.filter((ns) => !ownsNamespace(ns)).map((ns) => show(ns))]);
    for (const path of paths.targetNamespaces) {
      const value = valueAt(object, path);
      if (value === undefined || value === "") continue;
      if (typeof value === "string" && (ownsNamespace(value) || tenant.targetNamespaces.includes(value))) continue;
      violations.push({ rule: name, path, value, message: `${path}: ${show(value)} is not a namespace of the tenant; tenant "${tenant.name}" may target only ${allowed()}` });
    }
    const create = paths.createNamespace;
    if (create !== undefined && !tenant.allowCreateNamespace && valueAt(object, create) === true) {
      violations.push({ rule: name, path: create, value: true, message: `${create}: true creates namespaces; tenant "${tenant.name}" may not create namespaces` });
    }
    return violations;
  },
};
